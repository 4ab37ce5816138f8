//! The value ledger: every mint with its source and every burn with its sink, per item, folded
//! from events. Invariant 7: at every position, minted − burned = Σ holdings.

use super::World;
use loh_events::EventBody;
use loh_events::value::{Flow, for_each_flow};
use std::collections::BTreeMap;

/// Mints and burns per item, and per (source or sink, item).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    pub minted: BTreeMap<String, u64>,
    pub burned: BTreeMap<String, u64>,
    pub sources: BTreeMap<(String, String), u64>,
    pub sinks: BTreeMap<(String, String), u64>,
}

impl Ledger {
    fn mint(&mut self, source: &str, item: &str, qty: u32) {
        *self.minted.entry(item.to_owned()).or_default() += u64::from(qty);
        *self
            .sources
            .entry((source.to_owned(), item.to_owned()))
            .or_default() += u64::from(qty);
    }

    fn burn(&mut self, sink: &str, item: &str, qty: u32) {
        *self.burned.entry(item.to_owned()).or_default() += u64::from(qty);
        *self
            .sinks
            .entry((sink.to_owned(), item.to_owned()))
            .or_default() += u64::from(qty);
    }

    /// Records the mints and burns an event carries (called by [`World::apply`]).
    pub fn record(&mut self, body: &EventBody) {
        for_each_flow(body, |flow, reason, item, qty| match flow {
            Flow::Minted => self.mint(reason, item, qty),
            Flow::Burned => self.burn(reason, item, qty),
        });
    }

    /// minted − burned per item (items never minted are absent).
    pub fn outstanding(&self) -> BTreeMap<String, i128> {
        let mut out: BTreeMap<String, i128> = BTreeMap::new();
        for (item, q) in &self.minted {
            *out.entry(item.clone()).or_default() += i128::from(*q);
        }
        for (item, q) in &self.burned {
            *out.entry(item.clone()).or_default() -= i128::from(*q);
        }
        out.retain(|_, q| *q != 0);
        out
    }
}

impl World {
    /// Σ holdings per item: inventories, banks, worn items and the ground.
    pub fn holdings(&self) -> BTreeMap<String, i128> {
        let mut out: BTreeMap<String, i128> = BTreeMap::new();
        let mut add = |item: &str, qty: u32| {
            *out.entry(item.to_owned()).or_default() += i128::from(qty);
        };
        for p in self.players.values() {
            for (_, s) in p.inventory.slots() {
                add(&s.item, s.qty);
            }
            for (item, qty) in &p.bank {
                add(item, *qty);
            }
            for item in p.equipment.iter().flatten() {
                add(item, 1);
            }
        }
        for g in self.ground.values() {
            add(&g.item, g.qty);
        }
        out.retain(|_, q| *q != 0);
        out
    }

    /// Checks invariant 7: minted − burned = Σ holdings, and no stack above the maximum.
    pub fn check_conservation(&self) -> Result<(), String> {
        let (ledger, held) = (self.ledger.outstanding(), self.holdings());
        if ledger != held {
            return Err(format!("minted − burned {ledger:?} ≠ holdings {held:?}"));
        }
        let max = u64::from(super::MAX_STACK);
        for (id, p) in &self.players {
            let too_big = p.inventory.slots().any(|(_, s)| u64::from(s.qty) > max)
                || p.bank.values().any(|q| u64::from(*q) > max);
            if too_big {
                return Err(format!("player {id} holds a stack above the maximum"));
            }
        }
        Ok(())
    }
}
