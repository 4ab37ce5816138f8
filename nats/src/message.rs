//! The wire format of a relayed event (see the crate docs): encode for the relay, decode for
//! consumers.

use crate::{Error, EventStreamDef, MSG_ID_HEADER, POSITION_HEADER, Result};
use async_nats::HeaderMap;
use async_nats::jetstream::message::StreamMessage;
use bytes::Bytes;
use loh_events::StoredEvent;

/// One event ready to publish: subject, headers (`Nats-Msg-Id`, `Loh-Position`) and payload.
#[derive(Debug, Clone)]
pub struct EncodedEvent {
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
}

/// Encodes `event` for the stream `def` in the documented message format.
pub fn encode_event(def: &EventStreamDef, event: &StoredEvent) -> Result<EncodedEvent> {
    let payload = serde_json::to_vec(event).map_err(|e| Error::Encode(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(MSG_ID_HEADER, event.event_id.to_string());
    headers.insert(POSITION_HEADER, event.position.to_string());
    Ok(EncodedEvent {
        subject: def.subject(&event.stream_id),
        headers,
        payload: Bytes::from(payload),
    })
}

/// Decodes a payload (`serde_json` of a [`StoredEvent`]) without looking at headers.
pub fn decode_event(payload: &[u8]) -> Result<StoredEvent> {
    serde_json::from_slice(payload).map_err(|e| Error::Decode(format!("payload: {e}")))
}

/// Decodes a payload and checks the headers, if given, against it: a [`POSITION_HEADER`] or
/// [`MSG_ID_HEADER`] that contradicts the payload is an [`Error::Decode`].
pub fn decode_parts(headers: Option<&HeaderMap>, payload: &[u8]) -> Result<StoredEvent> {
    let event = decode_event(payload)?;
    if let Some(position) = position_header(headers)?
        && position != event.position
    {
        return Err(Error::Decode(format!(
            "{POSITION_HEADER} {position} but the payload holds position {}",
            event.position
        )));
    }
    if let Some(id) = headers.and_then(|h| h.get(MSG_ID_HEADER))
        && id.as_str() != event.event_id.to_string()
    {
        return Err(Error::Decode(format!(
            "{MSG_ID_HEADER} {} but the payload holds event {}",
            id.as_str(),
            event.event_id
        )));
    }
    Ok(event)
}

/// Decodes a received message; a `jetstream::Message` (from a consumer) derefs to one, so
/// `decode_message(&msg)` works for both.
pub fn decode_message(message: &async_nats::Message) -> Result<StoredEvent> {
    decode_parts(message.headers.as_ref(), &message.payload)
}

/// Decodes a message read straight from the stream (direct or raw get).
pub fn decode_stream_message(message: &StreamMessage) -> Result<StoredEvent> {
    decode_parts(Some(&message.headers), &message.payload)
}

/// The [`POSITION_HEADER`] of `headers`: `None` when absent, an error when not a number.
pub fn position_header(headers: Option<&HeaderMap>) -> Result<Option<u64>> {
    match headers.and_then(|h| h.get(POSITION_HEADER)) {
        None => Ok(None),
        Some(v) => v.as_str().trim().parse().map(Some).map_err(|_| {
            Error::Decode(format!(
                "{POSITION_HEADER} {:?} is not a position",
                v.as_str()
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loh_events::{EventBody, GENESIS_HASH, NewEvent};
    use uuid::Uuid;

    fn event(position: u64) -> StoredEvent {
        let player_id = Uuid::new_v4();
        let new = NewEvent {
            event_id: Uuid::new_v4(),
            stream_id: loh_events::player_stream(player_id),
            stream_version: 1,
            tick: 7,
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            occurred_at_us: 1_700_000_000_000_000,
            body: EventBody::PlayerSaid {
                player_id,
                text: "hello".into(),
            },
        };
        StoredEvent::seal("w1", position, GENESIS_HASH, &new).expect("seal")
    }

    #[test]
    fn an_encoded_event_decodes_to_the_same_event() {
        let def = EventStreamDef::for_shard("w1");
        let event = event(42);
        let encoded = encode_event(&def, &event).expect("encode");
        assert_eq!(
            encoded.subject,
            format!("loh.events.w1.{}", event.stream_id)
        );
        assert_eq!(
            encoded.headers.get(MSG_ID_HEADER).map(|v| v.as_str()),
            Some(event.event_id.to_string().as_str())
        );
        assert_eq!(
            encoded.headers.get(POSITION_HEADER).map(|v| v.as_str()),
            Some("42")
        );
        assert_eq!(encoded.payload, serde_json::to_vec(&event).expect("json"));
        let decoded = decode_parts(Some(&encoded.headers), &encoded.payload).expect("decode");
        assert_eq!(decoded, event);
        assert_eq!(decode_event(&encoded.payload).expect("decode"), event);
    }

    #[test]
    fn headers_that_contradict_the_payload_are_refused() {
        let def = EventStreamDef::for_shard("w1");
        let event = event(3);
        let mut encoded = encode_event(&def, &event).expect("encode");
        encoded.headers.insert(POSITION_HEADER, "4");
        assert!(matches!(
            decode_parts(Some(&encoded.headers), &encoded.payload),
            Err(Error::Decode(_))
        ));
        let mut encoded = encode_event(&def, &event).expect("encode");
        encoded
            .headers
            .insert(MSG_ID_HEADER, Uuid::new_v4().to_string());
        assert!(matches!(
            decode_parts(Some(&encoded.headers), &encoded.payload),
            Err(Error::Decode(_))
        ));
        encoded.headers.insert(POSITION_HEADER, "three");
        assert!(matches!(
            position_header(Some(&encoded.headers)),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    fn a_payload_that_is_not_an_event_is_a_decode_error() {
        assert!(matches!(decode_event(b"{}"), Err(Error::Decode(_))));
        assert!(matches!(decode_event(b"\xff"), Err(Error::Decode(_))));
    }
}
