//! Any bytes posted to the auth routes: parsing the JSON bodies never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loh_commands::auth::{Credentials, RefreshBody};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Credentials>(data);
    let _ = serde_json::from_slice::<RefreshBody>(data);
    let _ = serde_json::from_slice::<serde_json::Value>(data);
});
