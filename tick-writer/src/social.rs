//! Cross-world social (issue 14): private messages, friends' presence and world-wide broadcasts
//! that reach players in other worlds.
//!
//! **Out.** After a tick COMMITs (never before: nothing uncommitted leaves the writer), its
//! `PlayerPresence` events, and its `PrivateMessageSent` events whose recipient is not in this
//! world, go out as [`SocialMessage`]s on the writer's social outbox
//! ([`crate::tick::TickWriter::with_social`]). The sender's world decided and journaled them:
//! rate limits and friendship rules are its own, and the event stays in its log.
//!
//! **In.** Messages from other worlds come back as [`crate::tick::Intake::Social`]. The
//! recipient's world delivers each one to its players' sockets as a `Social` (or `Broadcast`)
//! frame, at most once: a message is known by its id (the event id), and ids seen lately are
//! kept in a bounded set ([`Recent`]), so a message published or received twice is delivered
//! once. A message of this world's own is never delivered again (its `TickUpdate` did that).
//!
//! Who is shown what follows the same rules as in one world: a private message reaches its
//! recipient if they are online here, count the sender a friend and do not ignore them; a
//! presence reaches the players here who count that player a friend.
//!
//! **At login.** A player who comes online also asks the other worlds which of their friends are
//! online there ([`SocialMessage::Ask`], with the friend list as committed); each world answers
//! for its online players ([`SocialMessage::Here`]), and the asker's world shows each as a
//! `Social` presence. Answers are facts of committed state (the world between ticks).
//!
//! The transport (Redis pub/sub) lives in the gateway (`loh_gateway::social`); without it (the
//! embedded `loh up`, one world) the outbox is not set and nothing changes.

use loh_events::EventBody;
use std::collections::{HashSet, VecDeque};
use uuid::Uuid;

/// How many message ids a world remembers to refuse a repeat: far more than the messages one
/// Redis round trip can repeat.
pub const RECENT: usize = 16_384;

/// One message between worlds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SocialMessage {
    /// A committed event of `world`'s log: `PrivateMessageSent` or `PlayerPresence`.
    Event {
        world: String,
        event_id: Uuid,
        body: Box<EventBody>,
    },
    /// A world-wide system message (`loh broadcast`), for every player of every world.
    Broadcast { id: Uuid, text: String },
    /// `player_id` came online in `world` and lists `friends`: the worlds where some of them
    /// are online answer with [`SocialMessage::Here`], so the player learns where their friends
    /// are at login, not only at their next change.
    Ask {
        world: String,
        id: Uuid,
        player_id: Uuid,
        friends: Vec<Uuid>,
    },
    /// The answer to an [`SocialMessage::Ask`]: `friend` is online in `world`; for `to` only.
    Here {
        world: String,
        id: Uuid,
        to: Uuid,
        friend: Uuid,
    },
}

impl SocialMessage {
    /// The message's id: its event id, or the broadcast's own.
    pub fn id(&self) -> Uuid {
        match self {
            SocialMessage::Event { event_id, .. } => *event_id,
            SocialMessage::Broadcast { id, .. }
            | SocialMessage::Ask { id, .. }
            | SocialMessage::Here { id, .. } => *id,
        }
    }

    /// The world the message comes from (none: from the operators).
    pub fn world(&self) -> Option<&str> {
        match self {
            SocialMessage::Event { world, .. }
            | SocialMessage::Ask { world, .. }
            | SocialMessage::Here { world, .. } => Some(world),
            SocialMessage::Broadcast { .. } => None,
        }
    }

    /// The message as sent between worlds (MessagePack, maps with string keys).
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("social messages always encode")
    }

    /// A message read from another world; `None` for anything malformed (ignored).
    pub fn decode(bytes: &[u8]) -> Option<SocialMessage> {
        rmp_serde::from_slice(bytes).ok()
    }

    /// Whether a committed event of this world goes out to the other worlds: presence always
    /// (friends may be anywhere), a private message when `here` says its recipient is not in
    /// this world (one who is was shown it by the tick's own update).
    pub fn goes_out(body: &EventBody, here: impl Fn(Uuid) -> bool) -> bool {
        match body {
            EventBody::PlayerPresence { .. } => true,
            EventBody::PrivateMessageSent { to, .. } => !here(*to),
            _ => false,
        }
    }
}

/// The ids seen lately, at most `cap` of them (the oldest are forgotten first).
#[derive(Debug)]
pub struct Recent {
    cap: usize,
    order: VecDeque<Uuid>,
    seen: HashSet<Uuid>,
}

impl Recent {
    pub fn new(cap: usize) -> Recent {
        Recent {
            cap: cap.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// True the first time `id` is offered (and remembers it); false while it is remembered.
    pub fn first(&mut self, id: Uuid) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl Default for Recent {
    fn default() -> Recent {
        Recent::new(RECENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_first_once_while_it_is_remembered() {
        let mut r = Recent::new(2);
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        assert!(r.first(a));
        assert!(!r.first(a));
        assert!(r.first(b));
        assert!(!r.first(a));
        assert!(r.first(c), "a third id makes room by forgetting the oldest");
        assert_eq!(r.len(), 2);
        assert!(r.first(a), "the oldest was forgotten");
        assert!(!r.first(c));
    }

    #[test]
    fn a_message_survives_its_wire_form() {
        let m = SocialMessage::Event {
            world: "world2".into(),
            event_id: Uuid::from_u128(7),
            body: Box::new(EventBody::PrivateMessageSent {
                player_id: Uuid::from_u128(1),
                to: Uuid::from_u128(2),
                text: "hi".into(),
            }),
        };
        assert_eq!(SocialMessage::decode(&m.encode()), Some(m));
        assert_eq!(SocialMessage::decode(b"\xc1junk"), None);
    }

    #[test]
    fn only_presence_and_messages_to_players_elsewhere_go_out() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let pm = EventBody::PrivateMessageSent {
            player_id: a,
            to: b,
            text: "hi".into(),
        };
        assert!(SocialMessage::goes_out(&pm, |_| false));
        assert!(!SocialMessage::goes_out(&pm, |p| p == b));
        let presence = EventBody::PlayerPresence {
            player_id: a,
            online: true,
        };
        assert!(SocialMessage::goes_out(&presence, |_| true));
        let said = EventBody::PlayerSaid {
            player_id: a,
            text: "hi".into(),
        };
        assert!(!SocialMessage::goes_out(&said, |_| false));
    }
}
