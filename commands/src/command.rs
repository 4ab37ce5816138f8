//! Commands: what a player may ask the world to do.

use serde::{Deserialize, Serialize};

/// Longest chat line, in characters.
pub const MAX_SAY_CHARS: usize = 200;

/// A player's request. The tick writer decides it against the world; this type only knows its
/// shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Step to the tile `(x, y)`: at most 1 tile away walking, 2 running (Chebyshev distance).
    Move {
        x: i32,
        y: i32,
        /// Run instead of walk.
        #[serde(default)]
        run: bool,
    },
    /// Say a line in local chat.
    Say { text: String },
}

/// A command whose shape is wrong, before any game rule is consulted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("chat text must be 1 to {MAX_SAY_CHARS} characters")]
    BadText,
    #[error("chat text holds control characters")]
    ControlCharacters,
}

impl ShapeError {
    /// The stable rejection code.
    pub fn code(&self) -> &'static str {
        match self {
            ShapeError::BadText => "bad_text",
            ShapeError::ControlCharacters => "bad_text",
        }
    }
}

impl Command {
    /// Checks the command's shape (lengths, characters); game rules come later, in the world.
    pub fn validate(&self) -> Result<(), ShapeError> {
        match self {
            Command::Move { .. } => Ok(()),
            Command::Say { text } => {
                let n = text.chars().count();
                if n == 0 || n > MAX_SAY_CHARS || text.trim().is_empty() {
                    return Err(ShapeError::BadText);
                }
                if text.chars().any(char::is_control) {
                    return Err(ShapeError::ControlCharacters);
                }
                Ok(())
            }
        }
    }

    /// The command's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Move { .. } => "Move",
            Command::Say { .. } => "Say",
        }
    }
}
