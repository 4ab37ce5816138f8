//! Encoding bodies to stored bytes and decoding (upcasting) them back.

use crate::{EncodedBody, Error, EventBody, Result};

/// Encodes a body as canonical JSON (struct fields in declaration order).
pub fn encode(body: &EventBody) -> Result<EncodedBody> {
    let value = serde_json::to_value(body).map_err(Error::codec)?;
    // Externally tagged: {"Kind": {...}}; the stored payload is the inner map.
    let inner = match value {
        serde_json::Value::Object(mut map) => map
            .remove(body.kind())
            .ok_or_else(|| Error::Codec("body is not externally tagged".into()))?,
        _ => return Err(Error::Codec("body is not a map".into())),
    };
    Ok(EncodedBody {
        kind: body.kind().to_owned(),
        schema_version: body.schema_version(),
        payload: serde_json::to_vec(&inner).map_err(Error::codec)?,
    })
}

/// Decodes a stored payload of `kind` written at `schema_version`, upcasting older versions.
pub fn decode(kind: &str, schema_version: u16, payload: &[u8]) -> Result<EventBody> {
    if schema_version == 1 && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        // The current shape: read `{"<kind>":<payload>}` straight into the body, without the
        // `serde_json::Value` tree the upcast needs (every projector decodes every event).
        let mut tagged = Vec::with_capacity(kind.len() + payload.len() + 5);
        tagged.extend_from_slice(b"{\"");
        tagged.extend_from_slice(kind.as_bytes());
        tagged.extend_from_slice(b"\":");
        tagged.extend_from_slice(payload);
        tagged.push(b'}');
        return serde_json::from_slice(&tagged).map_err(Error::codec);
    }
    decode_through_value(kind, schema_version, payload)
}

/// [`decode`] through a `serde_json::Value`, upcasting on the way: the path of every older
/// schema version.
fn decode_through_value(kind: &str, schema_version: u16, payload: &[u8]) -> Result<EventBody> {
    let inner: serde_json::Value = serde_json::from_slice(payload).map_err(Error::codec)?;
    let inner = upcast(kind, schema_version, inner)?;
    let mut map = serde_json::Map::with_capacity(1);
    map.insert(kind.to_owned(), inner);
    serde_json::from_value(serde_json::Value::Object(map)).map_err(Error::codec)
}

/// Brings an old payload shape up to the current one. Version 1 is current for every kind.
fn upcast(kind: &str, schema_version: u16, inner: serde_json::Value) -> Result<serde_json::Value> {
    match schema_version {
        1 => Ok(inner),
        v => Err(Error::Codec(format!("{kind}: unknown schema version {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn bodies() -> Vec<EventBody> {
        let player_id = Uuid::from_u128(7);
        vec![
            EventBody::PlayerMoved {
                player_id,
                from_x: -3,
                from_y: 3200,
                x: -2,
                y: 3201,
                running: true,
                path_to: None,
            },
            EventBody::PlayerSaid {
                player_id,
                text: "quote \" backslash \\ unicode \u{1F600} \u{0007}".into(),
            },
            EventBody::ItemsMinted {
                player_id,
                item: "bronze_arrow".into(),
                qty: u32::MAX,
                source: "drop".into(),
            },
        ]
    }

    #[test]
    fn the_direct_decode_equals_the_decode_through_a_value() {
        for body in bodies() {
            let encoded = encode(&body).expect("encode");
            let direct = decode(&encoded.kind, 1, &encoded.payload).expect("direct");
            let through =
                decode_through_value(&encoded.kind, 1, &encoded.payload).expect("through a value");
            assert_eq!(direct, body);
            assert_eq!(through, body);
        }
    }

    /// `path_to` (rules 5) is left out when absent, so every `PlayerMoved` stored before it
    /// existed keeps its bytes, and so its hash; one that carries it reads back whole.
    #[test]
    fn a_move_without_a_path_keeps_the_bytes_it_had_before_path_to_existed() {
        let encoded = encode(&bodies()[0]).expect("encode");
        assert_eq!(
            String::from_utf8(encoded.payload).unwrap(),
            r#"{"from_x":-3,"from_y":3200,"player_id":"00000000-0000-0000-0000-000000000007","running":true,"x":-2,"y":3201}"#
        );
        let walked = EventBody::PlayerMoved {
            player_id: Uuid::from_u128(7),
            from_x: 1,
            from_y: 2,
            x: 2,
            y: 3,
            running: false,
            path_to: Some(crate::Tile { x: 9, y: 10 }),
        };
        let encoded = encode(&walked).expect("encode");
        assert!(
            String::from_utf8_lossy(&encoded.payload).contains(r#","path_to":{"x":9,"y":10},"#)
        );
        assert_eq!(decode(&encoded.kind, 1, &encoded.payload).unwrap(), walked);
    }

    #[test]
    fn a_payload_that_is_not_one_json_value_is_refused() {
        let encoded = encode(&bodies()[0]).expect("encode");
        let mut payload = encoded.payload.clone();
        // Closing the map early and adding a second variant: two keys, or trailing bytes.
        payload.extend_from_slice(br#", "PlayerSaid": {"player_id": "x", "text": "y"}"#);
        assert!(decode(&encoded.kind, 1, &payload).is_err());
        assert!(decode(&encoded.kind, 1, b"").is_err());
        assert!(decode(&encoded.kind, 1, b"{} {}").is_err());
        assert!(decode("Player\"Moved", 1, &encoded.payload).is_err());
        assert!(decode(&encoded.kind, 2, &encoded.payload).is_err());
    }
}
