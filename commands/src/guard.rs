//! A structural check of MessagePack bytes before they are decoded, so a hostile frame (a header
//! claiming 2^32 elements, a thousand levels of nesting, a string longer than the frame) is
//! refused in O(len) time and O(depth) memory without allocating what it claims.

use crate::FrameError;

/// Deepest nesting a client frame may have (a command is 4 levels deep).
pub const MAX_DEPTH: usize = 16;
/// Most elements a map or array in a client frame may declare.
pub const MAX_COLLECTION: usize = 1024;

/// Checks the structure of a MessagePack value before it is decoded: exactly one value, nesting
/// at most [`MAX_DEPTH`], no collection longer than [`MAX_COLLECTION`] or than the bytes left,
/// no string or binary longer than the bytes left. Runs in O(len) with O(depth) memory.
pub fn check_msgpack(bytes: &[u8]) -> Result<(), FrameError> {
    let bad = |why: &str| Err(FrameError::Malformed(why.to_owned()));
    let mut pos = 0usize;
    // Values still expected at each open level.
    let mut stack: Vec<usize> = vec![1];
    while let Some(top) = stack.last_mut() {
        if *top == 0 {
            stack.pop();
            continue;
        }
        *top -= 1;
        let Some(&marker) = bytes.get(pos) else {
            return bad("truncated value");
        };
        pos += 1;
        let left = bytes.len() - pos;
        let read_len = |n: usize, pos: &mut usize| -> Option<usize> {
            let b = bytes.get(*pos..*pos + n)?;
            *pos += n;
            Some(b.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize))
        };
        // (payload bytes to skip, elements to open)
        let (skip, open): (usize, usize) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * (marker & 0x0f) as usize),
            0x90..=0x9f => (0, (marker & 0x0f) as usize),
            0xa0..=0xbf => ((marker & 0x1f) as usize, 0),
            0xc1 => return bad("reserved marker 0xc1"),
            0xc4 | 0xd9 => (read_len(1, &mut pos).ok_or(trunc())?, 0),
            0xc5 | 0xda => (read_len(2, &mut pos).ok_or(trunc())?, 0),
            0xc6 | 0xdb => (read_len(4, &mut pos).ok_or(trunc())?, 0),
            0xc7 => (read_len(1, &mut pos).ok_or(trunc())? + 1, 0),
            0xc8 => (read_len(2, &mut pos).ok_or(trunc())? + 1, 0),
            0xc9 => (read_len(4, &mut pos).ok_or(trunc())? + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, read_len(2, &mut pos).ok_or(trunc())?),
            0xdd => (0, read_len(4, &mut pos).ok_or(trunc())?),
            0xde => (0, 2 * read_len(2, &mut pos).ok_or(trunc())?),
            0xdf => (0, 2 * read_len(4, &mut pos).ok_or(trunc())?),
        };
        let left = left.min(bytes.len() - pos);
        if skip > left {
            return bad("a string or binary is longer than the frame");
        }
        pos += skip;
        if open > 0 {
            if open > 2 * MAX_COLLECTION || open > bytes.len() - pos {
                return bad("a collection declares more elements than allowed");
            }
            if stack.len() >= MAX_DEPTH {
                return bad("nesting too deep");
            }
            stack.push(open);
        }
    }
    if pos != bytes.len() {
        return bad("trailing bytes after the value");
    }
    Ok(())
}

fn trunc() -> FrameError {
    FrameError::Malformed("truncated value".to_owned())
}
