//! Social: friends and ignore lists, private messages, local chat that respects ignore, online
//! status; and who sees which event.

use super::{Decision, Player, World, chebyshev};
use loh_commands::RejectionCode as Code;
use loh_events::{EventBody, GroundItem};
use uuid::Uuid;

/// Most friends (and most ignored) a player may list.
pub const LIST_MAX: usize = 200;
/// Players see events within this many tiles.
pub const VIEW_DISTANCE: u32 = 15;

/// The first rules under which a private message may go to a friend in another world
/// ([`crate::RULES`]).
const CROSS_WORLD_RULES: u32 = 3;

impl World {
    pub(super) fn decide_friend(
        &self,
        player_id: Uuid,
        p: &Player,
        other: Uuid,
        add: bool,
    ) -> Decision {
        if !add {
            self.rule(
                p.friends.contains(&other),
                Code::NotFriend,
                "not on the friends list",
            )?;
            return Ok(vec![EventBody::FriendRemoved {
                player_id,
                friend: other,
            }]);
        }
        self.rule(
            other != player_id,
            Code::BadTarget,
            "you cannot befriend yourself",
        )?;
        self.rule(
            self.players.contains_key(&other),
            Code::NoSuchPlayer,
            "no such player",
        )?;
        self.rule(
            !p.friends.contains(&other),
            Code::AlreadyListed,
            "already a friend",
        )?;
        self.rule(
            p.friends.len() < LIST_MAX,
            Code::ListFull,
            format!("at most {LIST_MAX} friends"),
        )?;
        Ok(vec![EventBody::FriendAdded {
            player_id,
            friend: other,
        }])
    }

    pub(super) fn decide_ignore(
        &self,
        player_id: Uuid,
        p: &Player,
        other: Uuid,
        add: bool,
    ) -> Decision {
        if !add {
            self.rule(
                p.ignores.contains(&other),
                Code::NotIgnored,
                "not on the ignore list",
            )?;
            return Ok(vec![EventBody::IgnoreRemoved {
                player_id,
                ignored: other,
            }]);
        }
        self.rule(
            other != player_id,
            Code::BadTarget,
            "you cannot ignore yourself",
        )?;
        self.rule(
            self.players.contains_key(&other),
            Code::NoSuchPlayer,
            "no such player",
        )?;
        self.rule(
            !p.ignores.contains(&other),
            Code::AlreadyListed,
            "already ignored",
        )?;
        self.rule(
            p.ignores.len() < LIST_MAX,
            Code::ListFull,
            format!("at most {LIST_MAX} ignored"),
        )?;
        Ok(vec![EventBody::IgnoreAdded {
            player_id,
            ignored: other,
        }])
    }

    /// Whether `to`, a player of this world, takes private messages from `from`: online, counting
    /// `from` a friend and not ignoring them. Anyone else looks offline to `from` (so strangers
    /// cannot flood a player's updates); the same rule delivers a message from another world.
    pub fn takes_messages_from(&self, to: Uuid, from: Uuid) -> bool {
        self.players
            .get(&to)
            .is_some_and(|o| o.online && o.friends.contains(&from) && !o.ignores.contains(&from))
    }

    pub(super) fn decide_private_message(&self, player_id: Uuid, to: Uuid, text: &str) -> Decision {
        // Private messages go to players who count the sender a friend; anyone else, and
        // someone who ignores the sender, looks offline to them (so strangers cannot flood a
        // player's updates).
        // A recipient who is not in this world may be in another (issue 14): the message is
        // decided here as far as this world knows — the sender must list them as a friend — and
        // the recipient's world delivers it only if they are online there, count the sender a
        // friend and do not ignore them (`loh_tick_writer::social`).
        let reachable = match self.players.get(&to) {
            Some(_) => self.takes_messages_from(to, player_id),
            // Before rules 3 a player not in this world was offline.
            None => {
                self.rules >= CROSS_WORLD_RULES
                    && self
                        .players
                        .get(&player_id)
                        .is_some_and(|p| p.friends.contains(&to))
            }
        };
        self.rule(reachable, Code::Offline, "that player is offline")?;
        Ok(vec![EventBody::PrivateMessageSent {
            player_id,
            to,
            text: text.to_owned(),
        }])
    }

    /// The events of a session opening or closing: presence, and a cancelled trade.
    pub fn presence(&self, player_id: Uuid, online: bool) -> Vec<EventBody> {
        let Some(p) = self.players.get(&player_id) else {
            return Vec::new();
        };
        if p.online == online {
            return Vec::new();
        }
        let mut events = vec![EventBody::PlayerPresence { player_id, online }];
        if !online && let Some(t) = self.trades.get(&player_id) {
            events.push(EventBody::TradeCancelled {
                player_id,
                with: t.with,
                reason: "disconnected".into(),
            });
        }
        events
    }

    /// Whether `viewer` is shown `body`: their own events; private messages to them; friends'
    /// presence; the trades they are party to ([`crate::view::audience`]); anything else within
    /// [`VIEW_DISTANCE`] that is not someone's own business (inventory, bank, shop, social lists,
    /// payments), minus chat of players they ignore.
    pub fn sees(&self, viewer: Uuid, body: &EventBody) -> bool {
        self.players
            .get(&viewer)
            .is_some_and(|v| self.sees_from(viewer, v, body, self.event_tile(body)))
    }

    /// [`World::sees`] with the viewer's record and the event's tile already looked up.
    pub fn sees_from(
        &self,
        viewer: Uuid,
        v: &Player,
        body: &EventBody,
        tile: Option<(i32, i32)>,
    ) -> bool {
        if body.player_id() == Some(viewer) {
            return true;
        }
        match body {
            EventBody::PrivateMessageSent { to, .. } => *to == viewer,
            EventBody::PlayerPresence { player_id, .. } => v.friends.contains(player_id),
            EventBody::PlayerSaid { player_id, .. } if v.ignores.contains(player_id) => false,
            // A dropped item is the dropper's alone until it turns public (then
            // `ground_items_turning_public` reveals it to everyone around).
            EventBody::ItemDropped { ground, .. } if ground.owner.is_some_and(|o| o != viewer) => {
                false
            }
            EventBody::FriendAdded { .. }
            | EventBody::FriendRemoved { .. }
            | EventBody::IgnoreAdded { .. }
            | EventBody::IgnoreRemoved { .. } => false,
            // Inventory, bank and shop changes are their owner's; a trade is its parties'.
            _ if crate::view::has_audience(body) => crate::view::audience(self, body)
                .is_some_and(|(a, b)| a == viewer || b == Some(viewer)),
            _ if crate::view::is_payment(body) => false,
            _ => tile.is_some_and(|(x, y)| chebyshev(v.x, v.y, x, y) <= VIEW_DISTANCE),
        }
    }

    /// `body` as `viewer` may see it, when it differs: the loot of a death that is still private
    /// to someone else is left out (it shows up when it turns public: a grave is its owner's
    /// alone until then), and what another player kept on dying is theirs to know.
    pub fn redacted_for(&self, viewer: Uuid, body: &EventBody) -> Option<EventBody> {
        let private = |g: &GroundItem| g.owner.is_some_and(|o| o != viewer);
        match body {
            EventBody::NpcDied { loot, .. } if loot.iter().any(private) => {
                let mut body = body.clone();
                if let EventBody::NpcDied { loot, .. } = &mut body {
                    loot.retain(|g| !private(g));
                }
                Some(body)
            }
            EventBody::PlayerDied {
                player_id,
                dropped,
                kept,
                ..
            } if dropped.iter().any(private) || (*player_id != viewer && !kept.is_empty()) => {
                let mut body = body.clone();
                if let EventBody::PlayerDied { dropped, kept, .. } = &mut body {
                    dropped.retain(|g| !private(g));
                    if *player_id != viewer {
                        kept.clear();
                    }
                }
                Some(body)
            }
            _ => None,
        }
    }

    /// Ground items that were private to their owner and turn public at this tick: everyone
    /// else around learns of them now.
    pub fn ground_items_turning_public(&self) -> impl Iterator<Item = &GroundItem> {
        let tick = self.tick();
        self.ground_items()
            .filter(move |g| g.owner.is_some() && g.public_at == tick)
    }

    pub(super) fn apply_social(&mut self, body: &EventBody) {
        let Some(p) = body.player_id().and_then(|id| self.players.get_mut(&id)) else {
            return;
        };
        match body {
            EventBody::FriendAdded { friend, .. } => {
                p.friends.insert(*friend);
            }
            EventBody::FriendRemoved { friend, .. } => {
                p.friends.remove(friend);
            }
            EventBody::IgnoreAdded { ignored, .. } => {
                p.ignores.insert(*ignored);
            }
            EventBody::IgnoreRemoved { ignored, .. } => {
                p.ignores.remove(ignored);
            }
            EventBody::PlayerPresence { online, .. } => p.online = *online,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use loh_commands::Command;
    use loh_events::EventBody;

    #[test]
    fn a_dropped_item_is_seen_by_the_dropper_alone_until_it_turns_public() {
        let mut t = Given::new().player(A).player(B);
        let dropped = t.when(A, Command::DropItem { slot: 6 }).unwrap();
        let drop = dropped
            .iter()
            .find(|e| matches!(e, loh_events::EventBody::ItemDropped { .. }))
            .unwrap();
        let tile = t.world.event_tile(drop);
        let (a, b) = (t.world.player(A).unwrap(), t.world.player(B).unwrap());
        assert!(t.world.sees_from(A, a, drop, tile));
        assert!(!t.world.sees_from(B, b, drop, tile), "B saw a private drop");
        assert_eq!(t.world.ground_items_turning_public().count(), 0);

        t.run_ticks(crate::GROUND_PRIVATE_TICKS);
        let public: Vec<_> = t.world.ground_items_turning_public().collect();
        assert_eq!(
            public.len(),
            1,
            "the item turns public after the private period"
        );
        assert_eq!(public[0].owner, Some(A));
    }

    #[test]
    fn loot_private_to_the_killer_is_left_out_of_what_others_see_of_the_death() {
        let loot = |owner| loh_events::GroundItem {
            ground_id: 1,
            item: "bones".into(),
            qty: 1,
            x: 3200,
            y: 3200,
            owner,
            public_at: 100,
            despawn_at: 200,
        };
        let died = loh_events::EventBody::NpcDied {
            npc: 1,
            killer: Some(A),
            respawn_at: 50,
            loot: vec![loot(Some(A)), loot(None)],
        };
        let t = Given::new().player(A).player(B);
        assert_eq!(t.world.redacted_for(A, &died), None);
        let Some(loh_events::EventBody::NpcDied { loot: seen, .. }) =
            t.world.redacted_for(B, &died)
        else {
            panic!("B should get a redacted death");
        };
        assert_eq!(seen, vec![loot(None)]);
    }

    #[test]
    fn a_private_message_reaches_an_online_friend_and_only_them() {
        let mut t = Given::new().player(A).player(B).player(C).online(B);
        t.when(B, Command::AddFriend { player_id: A }).unwrap();
        let events = t
            .when(
                A,
                Command::PrivateMessage {
                    to: B,
                    text: "hi".into(),
                },
            )
            .unwrap();
        assert!(t.world.sees(B, &events[0]));
        assert!(!t.world.sees(C, &events[0]));
        assert_eq!(
            t.rejects(
                B,
                Command::PrivateMessage {
                    to: A,
                    text: "hi".into()
                }
            ),
            "offline"
        );
    }

    #[test]
    fn a_stranger_cannot_message_a_player_who_has_not_added_them() {
        let mut t = Given::new().player(A).player(B).online(A).online(B);
        assert_eq!(
            t.rejects(
                A,
                Command::PrivateMessage {
                    to: B,
                    text: "hi".into()
                }
            ),
            "offline",
            "B has not added A"
        );
        t.when(A, Command::AddFriend { player_id: B }).unwrap();
        assert_eq!(
            t.rejects(
                A,
                Command::PrivateMessage {
                    to: B,
                    text: "hi".into()
                }
            ),
            "offline",
            "A adding B is not B allowing A"
        );
        t.when(B, Command::AddFriend { player_id: A }).unwrap();
        t.when(
            A,
            Command::PrivateMessage {
                to: B,
                text: "hi".into(),
            },
        )
        .unwrap();
    }

    #[test]
    fn a_friend_in_another_world_can_be_messaged_a_stranger_there_cannot() {
        let mut t = Given::new().player(A).player(B).online(A);
        let pm = |to| Command::PrivateMessage {
            to,
            text: "hi".into(),
        };
        let elsewhere = uuid::Uuid::from_u128(0xe15e);
        assert_eq!(
            t.rejects(A, pm(elsewhere)),
            "offline",
            "not on A's friends list: nothing to deliver"
        );
        t.world.apply(&EventBody::FriendAdded {
            player_id: A,
            friend: elsewhere,
        });
        let events = t.when(A, pm(elsewhere)).unwrap();
        assert!(
            matches!(&events[..], [EventBody::PrivateMessageSent { to, .. }] if *to == elsewhere),
            "decided here, delivered by the recipient's world"
        );
        assert_eq!(
            t.rejects(A, pm(B)),
            "offline",
            "a player in this world follows this world's rules"
        );
        // A log decided before rules 3 re-decides it as it was: offline.
        t.world.apply(&EventBody::RulesAdopted { rules: 2 });
        assert_eq!(t.rejects(A, pm(elsewhere)), "offline");
    }

    #[test]
    fn an_ignored_player_cannot_message_and_their_chat_is_hidden() {
        let mut t = Given::new().player(A).player(B).online(A).online(B);
        t.when(B, Command::AddIgnore { player_id: A }).unwrap();
        assert_eq!(
            t.rejects(
                A,
                Command::PrivateMessage {
                    to: B,
                    text: "hi".into()
                }
            ),
            "offline"
        );
        let said = t
            .when(
                A,
                Command::Say {
                    text: "hello".into(),
                },
            )
            .unwrap();
        assert!(!t.world.sees(B, &said[0]));
        t.when(B, Command::RemoveIgnore { player_id: A }).unwrap();
        assert!(t.world.sees(B, &said[0]));
    }

    #[test]
    fn friends_see_presence_and_lists_refuse_duplicates() {
        let mut t = Given::new().player(A).player(B);
        t.when(A, Command::AddFriend { player_id: B }).unwrap();
        assert_eq!(
            t.rejects(A, Command::AddFriend { player_id: B }),
            "already_listed"
        );
        assert_eq!(
            t.rejects(A, Command::RemoveFriend { player_id: C }),
            "not_friend"
        );
        let events = t.presence(B, true);
        assert!(t.world.sees(A, &events[0]));
        assert!(t.world.player(B).unwrap().online);
    }
}
