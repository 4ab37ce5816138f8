//! The worlds a run loads: the `--url`s given, or the worlds `GET /v1/worlds` of a query API lists
//! online at a loopback address. The `hop` scenario needs each world's name (the shard its
//! `HopWorld` names): from `NAME=URL`, or from the world list by address.

use super::net::Target;
use anyhow::Context;

/// One world of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    /// Its shard, when known.
    pub name: Option<String>,
    pub target: Target,
}

/// Reads `--url` values (`URL` or `NAME=URL`).
pub fn parse_urls(urls: &[String]) -> anyhow::Result<Vec<World>> {
    urls.iter()
        .map(|u| {
            let (name, url) = match u.split_once('=') {
                Some((name, url)) if !name.contains('/') => (Some(name.to_owned()), url),
                _ => (None, u.as_str()),
            };
            Ok(World {
                name,
                target: Target::parse(url)?,
            })
        })
        .collect()
}

/// The worlds of `list` (a `GET /v1/worlds` body) that are online at a loopback address.
pub fn online(list: &serde_json::Value) -> Vec<World> {
    list["worlds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["status"] == "online")
        .filter_map(|w| {
            Some(World {
                name: Some(w["world"].as_str()?.to_owned()),
                target: Target::parse(w["address"].as_str()?).ok()?,
            })
        })
        .collect()
}

/// The run's worlds: `urls` named from the world list at `worlds_url` where they are not named
/// already, or (no `urls`) every world that list shows online on this machine.
pub async fn resolve(urls: &[String], worlds_url: Option<&str>) -> anyhow::Result<Vec<World>> {
    let mut worlds = parse_urls(urls)?;
    if let Some(query) = worlds_url {
        let query = Target::parse(query)?;
        let http = super::net::http_client(std::net::Ipv4Addr::LOCALHOST)?;
        let list: serde_json::Value = http
            .get(query.http("/v1/worlds"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .context("GET /v1/worlds")?
            .json()
            .await
            .context("GET /v1/worlds")?;
        let listed = online(&list);
        if worlds.is_empty() {
            worlds = listed;
        } else {
            for w in worlds.iter_mut().filter(|w| w.name.is_none()) {
                w.name = listed
                    .iter()
                    .find(|l| l.target == w.target)
                    .and_then(|l| l.name.clone());
            }
        }
    }
    anyhow::ensure!(
        !worlds.is_empty(),
        "no world to load (give --url or --worlds-url)"
    );
    Ok(worlds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_may_name_their_world() {
        let w = parse_urls(&[
            "a=http://127.0.0.1:7001".into(),
            "http://127.0.0.2:7002".into(),
        ])
        .unwrap();
        assert_eq!(w[0].name.as_deref(), Some("a"));
        assert_eq!(w[0].target, Target::parse("http://127.0.0.1:7001").unwrap());
        assert_eq!(w[1].name, None);
        assert!(parse_urls(&["a=http://10.0.0.1:7001".into()]).is_err());
    }

    #[test]
    fn the_world_list_gives_the_online_worlds_on_this_machine() {
        let list = json!({"worlds": [
            {"world": "w1", "address": "http://127.0.0.1:7001", "status": "online"},
            {"world": "w2", "address": "http://127.0.0.1:7002", "status": "closed"},
            {"world": "w3", "address": "wss://w3.example.com", "status": "online"},
            {"world": "w4", "address": "ws://127.0.0.1:7004", "status": "online"},
        ]});
        let names: Vec<_> = online(&list).into_iter().filter_map(|w| w.name).collect();
        assert_eq!(names, ["w1", "w4"]);
    }
}
