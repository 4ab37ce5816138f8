//! The command journal as one row per tick (`migrations/postgres/0015_journal_by_tick.sql`).
//!
//! A tick's entries are encoded together into the row's `journal` (format 1, below), and each
//! entry's player and seq apart into `seqs`, so [`super::PgEventStore`]'s `last_seqs` reads 24
//! bytes an entry instead of the commands. The SQL function `loh_journal_entries` decodes the
//! same format for investigators; a test holds the two to each other.
//!
//! Format 1, every integer big-endian: the byte `1`, then per entry `command_id` (16 bytes),
//! `player_id` (16), `seq` (8), `received_at_us` (8), the command's length (4) and bytes, and the
//! outcome: `0` (accepted), or `1` then the code's length (4) and UTF-8 bytes and the message's.

use super::{CopyBinary, to_i64, to_u64};
use crate::{Error, JournalEntry, Outcome, Result};
use uuid::Uuid;

/// The first byte of every `journal` value this code writes.
pub(super) const FORMAT: u8 = 1;

/// `COPY` of a batch's tick rows into `command_journal_ticks`, binary format ([`copy_rows`]).
pub(super) const COPY_JOURNAL_TICKS: &str = "COPY command_journal_ticks \
     (shard, tick, first_player, first_seq, entries, seqs, journal) FROM STDIN (FORMAT binary)";

/// The rows of a batch's journal: one per run of entries of one tick (a tick writer's batch is
/// one run), in order.
fn runs(journal: &[JournalEntry]) -> impl Iterator<Item = &[JournalEntry]> {
    journal.chunk_by(|a, b| a.tick == b.tick)
}

/// Each entry's player and seq: the row's `seqs`.
pub(super) fn seqs(entries: &[JournalEntry]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(24 * entries.len());
    for e in entries {
        out.extend_from_slice(e.player_id.as_bytes());
        out.extend_from_slice(&to_i64(e.seq, "seq")?.to_be_bytes());
    }
    Ok(out)
}

/// A `seqs` value's `(player, seq)` pairs.
pub(super) fn decode_seqs(bytes: &[u8]) -> Result<Vec<(Uuid, u64)>> {
    if !bytes.len().is_multiple_of(24) {
        return Err(Error::Codec(format!(
            "a journal's seqs are 24 bytes an entry, found {} bytes",
            bytes.len()
        )));
    }
    bytes
        .chunks_exact(24)
        .map(|c| {
            let mut reader = Reader { bytes: c, at: 0 };
            Ok((reader.uuid()?, to_u64(reader.i64()?, "seq")?))
        })
        .collect()
}

/// The entries encoded together: the row's `journal`.
pub(super) fn encode(entries: &[JournalEntry]) -> Result<Vec<u8>> {
    let size: usize = entries
        .iter()
        .map(|e| {
            let outcome = match &e.outcome {
                Outcome::Accepted => 1,
                Outcome::Rejected { code, message } => 9 + code.len() + message.len(),
            };
            52 + e.command.len() + outcome
        })
        .sum();
    let mut out = Vec::with_capacity(1 + size);
    out.push(FORMAT);
    for e in entries {
        out.extend_from_slice(e.command_id.as_bytes());
        out.extend_from_slice(e.player_id.as_bytes());
        out.extend_from_slice(&to_i64(e.seq, "seq")?.to_be_bytes());
        out.extend_from_slice(&e.received_at_us.to_be_bytes());
        put_bytes(&mut out, &e.command)?;
        match &e.outcome {
            Outcome::Accepted => out.push(0),
            Outcome::Rejected { code, message } => {
                out.push(1);
                put_bytes(&mut out, code.as_bytes())?;
                put_bytes(&mut out, message.as_bytes())?;
            }
        }
    }
    Ok(out)
}

/// The entries of one row of tick `tick`.
pub(super) fn decode(tick: u64, bytes: &[u8]) -> Result<Vec<JournalEntry>> {
    let Some((&format, rest)) = bytes.split_first() else {
        return Err(Error::Codec("an empty journal value".into()));
    };
    if format != FORMAT {
        return Err(Error::Codec(format!(
            "a journal value of format {format}; this build reads format {FORMAT}"
        )));
    }
    let mut reader = Reader { bytes: rest, at: 0 };
    let mut entries = Vec::new();
    while reader.at < rest.len() {
        let command_id = reader.uuid()?;
        let player_id = reader.uuid()?;
        let seq = to_u64(reader.i64()?, "seq")?;
        let received_at_us = reader.i64()?;
        let command = reader.bytes()?.to_vec();
        let outcome = match reader.take(1)?[0] {
            0 => Outcome::Accepted,
            1 => Outcome::Rejected {
                code: reader.text()?,
                message: reader.text()?,
            },
            other => {
                return Err(Error::Codec(format!(
                    "a journal entry's outcome byte is {other}"
                )));
            }
        };
        entries.push(JournalEntry {
            command_id,
            tick,
            player_id,
            seq,
            command,
            outcome,
            received_at_us,
        });
    }
    Ok(entries)
}

/// One row of `command_journal_ticks`, its columns as stored (the shard aside).
pub(super) struct TickRow {
    pub(super) tick: i64,
    pub(super) first_player: Uuid,
    pub(super) first_seq: i64,
    pub(super) entries: i32,
    pub(super) seqs: Vec<u8>,
    pub(super) journal: Vec<u8>,
}

/// A batch's journal as its rows: one per [`runs`] run, encoded once for the `COPY` and, if that
/// meets a stored row, for the `INSERT`s after it.
pub(super) fn tick_rows(journal: &[JournalEntry]) -> Result<Vec<TickRow>> {
    runs(journal)
        .map(|run| {
            let first = &run[0];
            Ok(TickRow {
                tick: to_i64(first.tick, "tick")?,
                first_player: first.player_id,
                first_seq: to_i64(first.seq, "seq")?,
                entries: i32::try_from(run.len()).map_err(Error::codec)?,
                seqs: seqs(run)?,
                journal: encode(run)?,
            })
        })
        .collect()
}

/// The binary `COPY` stream of `rows` for [`COPY_JOURNAL_TICKS`].
pub(super) fn copy_rows(shard: &str, rows: &[TickRow]) -> Result<Vec<u8>> {
    let size: usize = rows
        .iter()
        .map(|r| 80 + shard.len() + r.seqs.len() + r.journal.len())
        .sum();
    let mut buf = CopyBinary::new(size);
    for r in rows {
        buf.row(7);
        buf.bytes(shard.as_bytes())?;
        buf.int8(r.tick);
        buf.bytes(r.first_player.as_bytes())?;
        buf.int8(r.first_seq);
        buf.int4(r.entries);
        buf.bytes(&r.seqs)?;
        buf.bytes(&r.journal)?;
    }
    Ok(buf.finish())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let len = u32::try_from(bytes.len()).map_err(Error::codec)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Reads a journal value front to back; running past its end is a codec error.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| Error::Codec("a journal value ends inside an entry".into()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn uuid(&mut self) -> Result<Uuid> {
        Uuid::from_slice(self.take(16)?).map_err(Error::codec)
    }

    fn i64(&mut self) -> Result<i64> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(Error::codec)?;
        Ok(i64::from_be_bytes(bytes))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len: [u8; 4] = self.take(4)?.try_into().map_err(Error::codec)?;
        self.take(u32::from_be_bytes(len) as usize)
    }

    fn text(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(Error::codec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tick: u64, seq: u64, outcome: Outcome, command: &[u8]) -> JournalEntry {
        JournalEntry {
            command_id: Uuid::from_u128(0xC0 + u128::from(seq)),
            tick,
            player_id: Uuid::from_u128(0xA11CE),
            seq,
            command: command.to_vec(),
            outcome,
            received_at_us: (seq as i64).wrapping_sub(7),
        }
    }

    fn rejected(code: &str, message: &str) -> Outcome {
        Outcome::Rejected {
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn entries_round_trip_and_every_cut_short_value_is_a_codec_error() {
        let entries = vec![
            entry(4, 1, Outcome::Accepted, b"\x81\xa3Say"),
            entry(4, 2, rejected("too_far", "the target is out of reach"), b""),
            entry(4, i64::MAX as u64, rejected("", ""), &[0xff; 300]),
        ];
        let bytes = encode(&entries).unwrap();
        assert_eq!(bytes[0], FORMAT);
        assert_eq!(decode(4, &bytes).unwrap(), entries);
        for cut in 0..bytes.len() {
            let short = decode(4, &bytes[..cut]);
            // Cutting at an entry's end leaves fewer, whole entries; anywhere else is an error.
            match short {
                Ok(fewer) => assert!(fewer.len() < entries.len() && entries.starts_with(&fewer)),
                Err(Error::Codec(_)) => {}
                Err(e) => panic!("cut at {cut}: {e}"),
            }
        }
        assert!(matches!(decode(4, &[2]), Err(Error::Codec(_))));
    }

    #[test]
    fn seqs_hold_each_entrys_player_and_seq_and_refuse_a_seq_past_i64() {
        let entries = vec![
            entry(1, 5, Outcome::Accepted, b"x"),
            entry(1, 9, Outcome::Accepted, b"y"),
        ];
        let bytes = seqs(&entries).unwrap();
        assert_eq!(bytes.len(), 48);
        let player = Uuid::from_u128(0xA11CE);
        assert_eq!(decode_seqs(&bytes).unwrap(), vec![(player, 5), (player, 9)]);
        assert!(matches!(decode_seqs(&bytes[1..]), Err(Error::Codec(_))));
        let too_big = entry(1, i64::MAX as u64 + 1, Outcome::Accepted, b"");
        assert!(matches!(
            seqs(std::slice::from_ref(&too_big)),
            Err(Error::Codec(_))
        ));
        assert!(matches!(encode(&[too_big]), Err(Error::Codec(_))));
    }

    #[test]
    fn a_batch_makes_one_row_per_run_of_one_tick() {
        let journal = vec![
            entry(1, 1, Outcome::Accepted, b""),
            entry(1, 2, Outcome::Accepted, b""),
            entry(2, 3, Outcome::Accepted, b""),
            entry(1, 4, Outcome::Accepted, b""),
        ];
        let lens: Vec<usize> = runs(&journal).map(<[_]>::len).collect();
        assert_eq!(lens, [2, 1, 1]);
    }
}
