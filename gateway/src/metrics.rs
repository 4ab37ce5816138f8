//! The front door's own metrics: every connection the server closes, counted by reason.
//!
//! `loh_connections_closed_total{reason}`; the reasons are [`Close`]'s names. A close the client
//! made is counted too (`client_closed`), so the sum is every game connection that ended, and
//! connections refused at accept are counted under the limit that refused them.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Close {
    /// The client closed the socket or sent `Close`.
    client_closed,
    /// No frame (nor pong) within the idle timeout.
    idle,
    /// The client stopped reading: its queue of frames filled up.
    slow_reader,
    /// A write did not finish within the write timeout.
    write_timeout,
    /// A write failed (the socket broke).
    write_error,
    /// A newer login of the same player took the session over.
    taken_over,
    /// The session ended: logout, a re-used refresh token, or the session lock lost.
    session_ended,
    /// A frame above the size limit.
    frame_too_large,
    /// No valid `Hello` (timeout, wrong frame, bad token or protocol).
    hello_failed,
    /// The session lock store or the tick writer could not be reached.
    unavailable,
    /// The player's character lives in another world.
    other_world,
    /// The player's character hopped to another world (`HopWorld`); the client was sent `Hop`.
    hopped,
    /// Refused at accept: the server holds its maximum of connections.
    connection_limit,
    /// Refused at accept: the address holds its maximum of connections.
    address_limit,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    reason: Close,
}

/// Counters of closed connections, and the process's resident memory (read at each scrape).
#[derive(Clone, Debug, Default)]
pub struct ConnMetrics {
    closed: Family<CloseLabels, Counter>,
    limited: Counter,
    rss: Gauge,
}

impl ConnMetrics {
    /// Registers the counters and the resident-memory gauge (read at each scrape with
    /// [`ConnMetrics::observe_rss`]) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        self.register_http(registry);
        registry.register(
            "loh_process_resident_memory_bytes",
            "Resident memory of this process (Linux; 0 elsewhere), read at each scrape",
            self.rss.clone(),
        );
    }

    /// Registers the HTTP server's counters only (a server whose scrape does not read the
    /// resident memory, such as the query API's).
    pub fn register_http(&self, registry: &mut Registry) {
        registry.register(
            "loh_connections_closed",
            "Connections that ended (or were refused), by reason",
            self.closed.clone(),
        );
        registry.register(
            "loh_http_requests_limited",
            "Requests refused 429 by the per-address request limit",
            self.limited.clone(),
        );
    }

    /// Counts one request refused by the per-address request limit.
    pub fn request_limited(&self) {
        self.limited.inc();
    }

    /// Reads the process's resident memory into its gauge (called before each scrape).
    pub fn observe_rss(&self) {
        self.rss.set(resident_bytes().unwrap_or(0) as i64);
    }

    /// Counts one connection ended for `reason`, and logs the server's own closes.
    pub fn closed(&self, reason: Close) {
        self.closed.get_or_create(&CloseLabels { reason }).inc();
        if reason != Close::client_closed {
            tracing::info!(reason = ?reason, "closing a connection");
        }
    }

    /// How many connections ended for `reason` (tests and reports).
    pub fn count(&self, reason: Close) -> u64 {
        self.closed.get_or_create(&CloseLabels { reason }).get()
    }
}

/// The resident set of this process, from `/proc/self/statm` (pages × 4 KiB pages).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
