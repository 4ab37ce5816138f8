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
