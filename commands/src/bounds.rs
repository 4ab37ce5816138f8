//! The bounds every value from a client is held to before it reaches the tick: a `seq` the
//! journal can store, identifiers of a documented length and alphabet, chat of a bounded length
//! with no invisible formatting characters.
//!
//! A command out of bounds is refused at once and never journaled (`bad_seq`, `bad_command`), so
//! nothing a client sends can make the store fail a tick's batch or grow what the server keeps.
//! Game rules (is this item known, is the text printable) come later, in the world.

use crate::{Command, RejectionCode};

/// Highest `seq` a client may send: the journal stores it as a signed 64-bit integer.
pub const MAX_SEQ: u64 = i64::MAX as u64;
/// How far a `seq` may run ahead of the last decided one.
pub const MAX_SEQ_AHEAD: u64 = 1 << 20;
/// Longest identifier (item, shop, recipe, prayer, attack style, equipment slot), in bytes.
pub const MAX_ID_LEN: usize = 32;

/// Why a command was refused before the tick.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutOfBounds {
    /// `seq` is 0 or above [`MAX_SEQ`].
    #[error("seq must be 1 to {MAX_SEQ}")]
    SeqRange,
    /// `seq` runs more than [`MAX_SEQ_AHEAD`] past the last decided one.
    #[error("seq runs more than {MAX_SEQ_AHEAD} ahead of the last decided seq")]
    SeqAhead,
    /// An identifier field is empty, too long or outside `a`–`z`, `0`–`9`, `_`.
    #[error("{0} must be 1 to {MAX_ID_LEN} of a-z, 0-9 and _")]
    Id(&'static str),
    /// Chat text longer than [`crate::command::MAX_SAY_CHARS`] characters.
    #[error(
        "chat text must be at most {} characters",
        crate::command::MAX_SAY_CHARS
    )]
    Text,
    /// Chat text holding a bidirectional override or isolate, a directional mark or a
    /// zero-width character (see [`is_invisible_formatting`]): they let a line pose as another
    /// player's or hide what it says.
    #[error("chat text must not hold bidirectional or zero-width characters (U+{0:04X})")]
    InvisibleFormatting(u32),
}

impl OutOfBounds {
    /// The stable rejection code.
    pub fn code(&self) -> RejectionCode {
        match self {
            OutOfBounds::SeqRange | OutOfBounds::SeqAhead => RejectionCode::BadSeq,
            OutOfBounds::Id(_) | OutOfBounds::Text => RejectionCode::BadCommand,
            OutOfBounds::InvisibleFormatting(_) => RejectionCode::BadText,
        }
    }
}

/// Whether `s` is an identifier: 1 to [`MAX_ID_LEN`] bytes of `a`–`z`, `0`–`9`, `_`.
pub fn is_id(s: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `c` is a character chat refuses because it is invisible yet changes how a line reads:
/// the bidirectional embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069), the
/// directional marks (U+200E, U+200F, U+061C), and the zero-width characters (U+200B–U+200D,
/// U+2060 word joiner, U+FEFF byte-order mark).
pub fn is_invisible_formatting(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200F}'
            | '\u{061C}'
            | '\u{2060}'
            | '\u{FEFF}'
    )
}

/// Checks a `seq` on its own: `1..=MAX_SEQ`.
pub fn check_seq(seq: u64) -> Result<(), OutOfBounds> {
    if (1..=MAX_SEQ).contains(&seq) {
        Ok(())
    } else {
        Err(OutOfBounds::SeqRange)
    }
}

/// Checks a `seq` against the last decided one: in range and at most [`MAX_SEQ_AHEAD`] above it.
/// (A seq at or below `last` is a repeat, answered with its outcome, not an error.)
pub fn check_seq_after(seq: u64, last: u64) -> Result<(), OutOfBounds> {
    check_seq(seq)?;
    if seq > last.saturating_add(MAX_SEQ_AHEAD) {
        return Err(OutOfBounds::SeqAhead);
    }
    Ok(())
}

impl Command {
    /// Checks every string of the command against its documented bounds. Numbers are bounded by
    /// their types; ids (`Uuid`) decode only as ids.
    pub fn check_bounds(&self) -> Result<(), OutOfBounds> {
        let id = |field: &'static str, s: &str| {
            if is_id(s) {
                Ok(())
            } else {
                Err(OutOfBounds::Id(field))
            }
        };
        match self {
            Command::Say { text } | Command::PrivateMessage { text, .. } => {
                // The byte length first: it bounds the character count's cost.
                if text.len() > 4 * crate::command::MAX_SAY_CHARS
                    || text.chars().count() > crate::command::MAX_SAY_CHARS
                {
                    return Err(OutOfBounds::Text);
                }
                match text.chars().find(|&c| is_invisible_formatting(c)) {
                    Some(c) => Err(OutOfBounds::InvisibleFormatting(c.into())),
                    None => Ok(()),
                }
            }
            Command::BankWithdraw { item, .. } => id("item", item),
            Command::Unequip { equip_slot } => id("equip_slot", equip_slot),
            Command::Produce { recipe } => id("recipe", recipe),
            Command::Buy { shop, item, .. } => id("shop", shop).and(id("item", item)),
            Command::Sell { shop, .. } => id("shop", shop),
            Command::SetAttackStyle { style } => id("style", style),
            Command::SetAutocast { spell } => spell.as_deref().map_or(Ok(()), |s| id("spell", s)),
            Command::Pray { prayer, .. } => id("prayer", prayer),
            Command::HopWorld { world } => id("world", world),
            Command::Move { .. }
            | Command::WalkTo { .. }
            | Command::MoveItem { .. }
            | Command::DropItem { .. }
            | Command::PickUp { .. }
            | Command::Eat { .. }
            | Command::BankDeposit { .. }
            | Command::BankDepositAll
            | Command::Equip { .. }
            | Command::Gather { .. }
            | Command::AttackNpc { .. }
            | Command::AttackPlayer { .. }
            | Command::PrayAtAltar
            | Command::ReclaimGrave
            | Command::Bury { .. }
            | Command::OfferAtAltar { .. }
            | Command::TradeRequest { .. }
            | Command::TradeOffer { .. }
            | Command::TradeAccept
            | Command::TradeDecline
            | Command::AddFriend { .. }
            | Command::RemoveFriend { .. }
            | Command::AddIgnore { .. }
            | Command::RemoveIgnore { .. }
            | Command::RedeemBond { .. } => Ok(()),
        }
    }

    /// Whether the command is a chat line (local or private), which has its own per-tick budget.
    pub fn is_chat(&self) -> bool {
        matches!(self, Command::Say { .. } | Command::PrivateMessage { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seq_the_journal_cannot_store_is_out_of_bounds() {
        assert_eq!(check_seq(0), Err(OutOfBounds::SeqRange));
        assert_eq!(
            check_seq(9_223_372_036_854_775_813),
            Err(OutOfBounds::SeqRange)
        );
        assert_eq!(check_seq(u64::MAX), Err(OutOfBounds::SeqRange));
        assert_eq!(check_seq(MAX_SEQ), Ok(()));
        assert_eq!(check_seq(1), Ok(()));
    }

    #[test]
    fn a_seq_far_above_the_last_decided_one_is_out_of_bounds() {
        assert_eq!(
            check_seq_after(MAX_SEQ_AHEAD + 1, 0),
            Err(OutOfBounds::SeqAhead)
        );
        assert_eq!(check_seq_after(MAX_SEQ_AHEAD, 0), Ok(()));
        assert_eq!(check_seq_after(MAX_SEQ, MAX_SEQ - 1), Ok(()));
        assert_eq!(
            check_seq_after(5, 9),
            Ok(()),
            "a repeat is not an error here"
        );
    }

    #[test]
    fn identifiers_are_short_lowercase_words() {
        for good in ["logs", "bronze_axe", "smelt_bronze_bar", "a1"] {
            assert!(is_id(good), "{good}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in ["", "Logs", "bronze axe", "x\0", "é", "a-b", long.as_str()] {
            assert!(!is_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_huge_recipe_and_an_overlong_chat_line_are_out_of_bounds() {
        let recipe = "a".repeat(64 * 1024);
        assert_eq!(
            Command::Produce { recipe }.check_bounds(),
            Err(OutOfBounds::Id("recipe"))
        );
        let text = "é".repeat(201);
        assert_eq!(Command::Say { text }.check_bounds(), Err(OutOfBounds::Text));
        let fine = Command::Say {
            text: "é".repeat(200),
        };
        assert_eq!(fine.check_bounds(), Ok(()));
        assert_eq!(
            OutOfBounds::Id("shop").code().as_str(),
            "bad_command",
            "the wire code"
        );
    }

    #[test]
    fn chat_with_bidirectional_or_zero_width_characters_is_out_of_bounds() {
        let bad = [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{200C}',
            '\u{200D}', '\u{2060}', '\u{FEFF}',
        ];
        for c in bad {
            let text = format!("gold for sale{c}evil");
            let want = Err(OutOfBounds::InvisibleFormatting(c.into()));
            assert_eq!(
                Command::Say { text: text.clone() }.check_bounds(),
                want,
                "{c:?}"
            );
            let pm = Command::PrivateMessage {
                to: uuid::Uuid::nil(),
                text,
            };
            assert_eq!(pm.check_bounds(), want, "{c:?}");
        }
        assert_eq!(
            OutOfBounds::InvisibleFormatting(0x202E).code().as_str(),
            "bad_text"
        );
        // What players do type stays allowed: accents, other scripts, emoji without joiners.
        for fine in [
            "héllo wörld",
            "שלום",
            "مرحبا",
            "こんにちは",
            "gg 🙂",
            "a\u{00A0}b",
        ] {
            let say = Command::Say { text: fine.into() };
            assert_eq!(say.check_bounds(), Ok(()), "{fine:?}");
        }
    }
}
