//! Progress of long-running commands (`replay` over millions of events, `projections rebuild`):
//! a live counter with its rate on a terminal (indicatif), nothing at all in scripts and logs,
//! where standard error is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A counter of `what` (e.g. "verified events"), drawn on standard error when it is a terminal
/// and cleared when dropped.
pub struct Counter {
    bar: ProgressBar,
}

impl Counter {
    pub fn new(what: &'static str) -> Counter {
        Counter::to(what, std::io::stderr().is_terminal())
    }

    fn to(what: &'static str, visible: bool) -> Counter {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}: {human_pos} ({per_sec}, {elapsed})")
                .expect("a valid template"),
        );
        bar.set_message(what);
        Counter { bar }
    }

    /// Sets the count so far.
    pub fn set(&self, n: u64) {
        self.bar.set_position(n);
    }

    /// The counter as the `progress` callback the replay tools take.
    pub fn callback(self) -> impl FnMut(u64) {
        move |n| self.set(n)
    }

    pub fn position(&self) -> u64 {
        self.bar.position()
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_counter_keeps_the_count_and_draws_nothing() {
        let counter = Counter::to("events", false);
        counter.set(42);
        assert_eq!(counter.position(), 42);
        assert!(counter.bar.is_hidden());
    }
}
