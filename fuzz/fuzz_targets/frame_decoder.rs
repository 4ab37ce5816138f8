//! Any bytes a client can send as a WebSocket frame: decoding never panics, never allocates what
//! a header claims, and a frame that decodes re-encodes to a frame that decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loh_commands::{decode_client, encode_client};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_client(data) {
        let again = encode_client(&frame);
        assert_eq!(decode_client(&again).expect("a re-encoded frame decodes"), frame);
    }
});
