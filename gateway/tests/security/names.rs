//! Others see a player by the name it registered with (as typed), taken from the account when
//! its connection opens: the client cannot choose what others are shown.

use super::helpers::Server;
use loh_commands::ServerFrame;
use loh_testkit::client::*;
use std::time::Duration;

/// The `name` of every player in `frames`' `Snapshot` players and `PlayerAppeared` events.
fn names_seen(frame: &ServerFrame) -> Vec<(String, Option<String>)> {
    let seen = |p: &rmpv::Value| {
        let get = |k: &str| {
            p.as_map()
                .and_then(|m| m.iter().find(|(key, _)| key.as_str() == Some(k)))
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
        };
        (get("player_id").unwrap_or_default(), get("name"))
    };
    match frame {
        ServerFrame::Snapshot { players, .. } => players.iter().map(|p| seen(p)).collect(),
        ServerFrame::TickUpdate { events, .. } => events
            .iter()
            .filter_map(|e| {
                let (kind, body) = &e.as_map()?[0];
                (kind.as_str() == Some("PlayerAppeared")).then(|| seen(body))
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn others_see_a_player_by_its_registered_name() {
    let server = Server::start().await;
    let arjuna = register_and_login(server.addr, "Arjuna").await;
    let bhima = register_and_login(server.addr, "bhima_2").await;
    let (mut ws_a, _) = hello(server.addr, &arjuna.token).await;
    recv_until(&mut ws_a, Duration::from_secs(5), |f| {
        matches!(f, ServerFrame::Snapshot { .. })
    })
    .await
    .expect("a's snapshot");
    let (mut ws_b, _) = hello(server.addr, &bhima.token).await;
    let snapshot = recv_until(&mut ws_b, Duration::from_secs(5), |f| {
        matches!(f, ServerFrame::Snapshot { .. })
    })
    .await
    .expect("b's snapshot");
    assert_eq!(
        names_seen(&snapshot),
        [(arjuna.player_id.clone(), Some("Arjuna".to_owned()))],
        "b's snapshot shows a by the name as typed"
    );
    let appeared = recv_until(&mut ws_a, Duration::from_secs(5), |f| {
        !names_seen(f).is_empty()
    })
    .await
    .expect("a sees b appear");
    assert_eq!(
        names_seen(&appeared),
        [(bhima.player_id.clone(), Some("bhima_2".to_owned()))]
    );
}

/// A client meeting an id it has no name for (a friend out of view, a private message's sender)
/// asks `GET /v1/names`: names of accounts only, with a live token, at most a hundred ids.
#[tokio::test]
async fn names_of_players_out_of_view_are_one_lookup_away_for_a_logged_in_player() {
    let server = Server::start().await;
    let arjuna = register_and_login(server.addr, "Arjuna").await;
    let bhima = register_and_login(server.addr, "bhima_2").await;
    let nobody = uuid::Uuid::new_v4();
    let http = reqwest::Client::new();
    let url = server.url(&format!(
        "/v1/names?ids={},{nobody},{}",
        bhima.player_id, arjuna.player_id
    ));
    let res = http
        .get(&url)
        .bearer_auth(&arjuna.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"names": {
            bhima.player_id.as_str(): "bhima_2",
            arjuna.player_id.as_str(): "Arjuna",
        }})
    );

    // Without a live token, nothing.
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = http.get(&url).bearer_auth("x.y.z").send().await.unwrap();
    assert_eq!(res.status(), 401);

    // Ids are UUIDs, a hundred at most.
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for ids in ["not-a-uuid".to_owned(), many.join(",")] {
        let res = http
            .get(server.url(&format!("/v1/names?ids={ids}")))
            .bearer_auth(&arjuna.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{ids}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_ids", "{body}");
    }
}
