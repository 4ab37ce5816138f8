//! The envelope around every event and the SHA-256 hash chain over it.

use crate::{EventBody, Result, codec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A 32-byte SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of the first event of a shard.
pub const GENESIS_HASH: Hash = [0; 32];

/// An event the tick writer wants appended; the store assigns its position and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Unique id; appending an event whose id is already stored is a no-op (idempotent append).
    pub event_id: Uuid,
    /// The stream (aggregate) this event belongs to, e.g. `player-<uuid>`.
    pub stream_id: String,
    /// 1-based version within the stream; `(stream_id, stream_version)` is unique.
    pub stream_version: u64,
    /// The tick that decided it.
    pub tick: u64,
    /// The command (or process) this event is part of.
    pub correlation_id: Uuid,
    /// The command or event that directly caused it.
    pub causation_id: Option<Uuid>,
    /// Wall-clock time of the tick, microseconds since the Unix epoch.
    pub occurred_at_us: i64,
    /// The fact itself.
    pub body: EventBody,
}

impl NewEvent {
    /// Encodes the body to its stored form (kind, schema version, payload bytes).
    pub fn encode(&self) -> Result<EncodedBody> {
        codec::encode(&self.body)
    }
}

/// A body in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBody {
    pub kind: String,
    pub schema_version: u16,
    pub payload: Vec<u8>,
}

/// An event as stored: the envelope, the payload bytes and the chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Gapless position in the shard's log, from 1, in commit order.
    pub position: u64,
    pub shard: String,
    pub stream_id: String,
    pub stream_version: u64,
    pub tick: u64,
    pub schema_version: u16,
    pub event_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub occurred_at_us: i64,
    pub kind: String,
    /// The canonical JSON bytes of the body, exactly as hashed.
    #[serde(with = "hex_bytes")]
    pub payload: Vec<u8>,
    #[serde(with = "hex_hash")]
    pub prev_hash: Hash,
    #[serde(with = "hex_hash")]
    pub hash: Hash,
}

impl StoredEvent {
    /// Builds the stored form of `event` at `position` after `prev_hash`.
    pub fn seal(
        shard: &str,
        position: u64,
        prev_hash: Hash,
        event: &NewEvent,
    ) -> Result<StoredEvent> {
        let body = event.encode()?;
        let mut stored = StoredEvent {
            position,
            shard: shard.to_owned(),
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            tick: event.tick,
            schema_version: body.schema_version,
            event_id: event.event_id,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            occurred_at_us: event.occurred_at_us,
            kind: body.kind,
            payload: body.payload,
            prev_hash,
            hash: [0; 32],
        };
        stored.hash = stored.compute_hash();
        Ok(stored)
    }

    /// Decodes (and upcasts) the body.
    pub fn body(&self) -> Result<EventBody> {
        codec::decode(&self.kind, self.schema_version, &self.payload)
    }

    /// The canonical bytes covered by the hash: every envelope field and the payload, in a fixed
    /// length-prefixed big-endian layout, so a change of any byte changes the hash.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.payload.len());
        out.extend_from_slice(b"LOH1");
        put_bytes(&mut out, self.shard.as_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
        put_bytes(&mut out, self.stream_id.as_bytes());
        out.extend_from_slice(&self.stream_version.to_be_bytes());
        out.extend_from_slice(&self.tick.to_be_bytes());
        out.extend_from_slice(&self.schema_version.to_be_bytes());
        out.extend_from_slice(self.event_id.as_bytes());
        out.extend_from_slice(self.correlation_id.as_bytes());
        match self.causation_id {
            Some(id) => {
                out.push(1);
                out.extend_from_slice(id.as_bytes());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.occurred_at_us.to_be_bytes());
        put_bytes(&mut out, self.kind.as_bytes());
        put_bytes(&mut out, &self.payload);
        out
    }

    /// `SHA-256(prev_hash ‖ canonical bytes)`.
    pub fn compute_hash(&self) -> Hash {
        let mut h = Sha256::new();
        h.update(self.prev_hash);
        h.update(self.canonical_bytes());
        h.finalize().into()
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Where a hash chain walk found a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The event's stored hash is not `SHA-256(prev_hash ‖ canonical bytes)`.
    HashMismatch { position: u64 },
    /// The event's `prev_hash` is not the previous event's hash.
    BrokenLink { position: u64 },
    /// Positions are not consecutive.
    Gap { expected: u64, found: u64 },
}

/// Incremental verifier of a shard's chain, fed events in position order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_position: u64,
    prev_hash: Hash,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier starting at genesis (position 1).
    pub fn new() -> Self {
        Self::resume(1, GENESIS_HASH)
    }

    /// A verifier starting at `next_position`, trusting `prev_hash` (e.g. from a signed checkpoint).
    pub fn resume(next_position: u64, prev_hash: Hash) -> Self {
        ChainVerifier {
            next_position,
            prev_hash,
            checked: 0,
        }
    }

    /// Checks the next event.
    pub fn check(&mut self, event: &StoredEvent) -> std::result::Result<(), ChainBreak> {
        if event.position != self.next_position {
            return Err(ChainBreak::Gap {
                expected: self.next_position,
                found: event.position,
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(ChainBreak::BrokenLink {
                position: event.position,
            });
        }
        if event.compute_hash() != event.hash {
            return Err(ChainBreak::HashMismatch {
                position: event.position,
            });
        }
        self.prev_hash = event.hash;
        self.next_position += 1;
        self.checked += 1;
        Ok(())
    }

    /// How many events passed.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last event that passed (the head).
    pub fn head_hash(&self) -> Hash {
        self.prev_hash
    }
}

mod hex_hash {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(h, &mut buf).expect("64 hex digits for 32 bytes");
        s.serialize_str(std::str::from_utf8(&buf).expect("hex digits are ASCII"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        d.deserialize_str(super::HexVisitor(|s: &str| {
            let mut h = [0u8; 32];
            hex::decode_to_slice(s, &mut h)
                .map(|()| h)
                .map_err(|e| match e {
                    hex::FromHexError::InvalidStringLength => "a hash is 32 bytes".to_owned(),
                    e => e.to_string(),
                })
        }))
    }
}

mod hex_bytes {
    use serde::{Deserializer, Serializer};

    /// `hex::encode_to_slice` into one buffer: `hex::encode` builds its string a char at a time,
    /// which was most of the relay's encoding cost.
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut buf = vec![0u8; b.len() * 2];
        hex::encode_to_slice(b, &mut buf).expect("two hex digits per byte");
        s.serialize_str(std::str::from_utf8(&buf).expect("hex digits are ASCII"))
    }

    /// Into one buffer of the right size, from the borrowed text where the format allows:
    /// `hex::decode` collects a byte at a time, which showed in a projector's profile.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_str(super::HexVisitor(|s: &str| {
            let mut b = vec![0u8; s.len() / 2];
            hex::decode_to_slice(s, &mut b)
                .map(|()| b)
                .map_err(|e| e.to_string())
        }))
    }
}

/// A visitor that decodes a hex string, owned or borrowed, with its function.
struct HexVisitor<F>(F);

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> serde::de::Visitor<'de> for HexVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string of hex digits")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        (self.0)(s).map_err(E::custom)
    }
}

#[cfg(test)]
mod hex_tests {
    use super::*;

    #[test]
    fn hex_fields_decode_and_bad_hex_is_refused() {
        let good = r#"{"h":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","b":"00ff7f"}"#;
        #[derive(Deserialize, Debug)]
        struct Both {
            #[serde(with = "hex_hash")]
            h: Hash,
            #[serde(with = "hex_bytes")]
            b: Vec<u8>,
        }
        let both: Both = serde_json::from_str(good).expect("good hex");
        assert_eq!(both.h[31], 0x1f);
        assert_eq!(both.b, vec![0x00, 0xff, 0x7f]);
        // From an owned string too (a `serde_json::Value`).
        let value: serde_json::Value = serde_json::from_str(good).expect("value");
        let owned: Both = serde_json::from_value(value).expect("good hex from a value");
        assert_eq!(owned.b, both.b);
        for bad in [
            r#"{"h":"00","b":"00"}"#,
            r#"{"h":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1","b":"00"}"#,
            r#"{"h":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","b":"0"}"#,
            r#"{"h":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","b":"zz"}"#,
            r#"{"h":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","b":7}"#,
        ] {
            assert!(serde_json::from_str::<Both>(bad).is_err(), "{bad}");
        }
    }
}
