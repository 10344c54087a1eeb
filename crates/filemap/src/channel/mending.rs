//! Connecting a sender to a ring whose positions another process may have damaged, where
//! one ring's damage must not stop the others (a service's server and its response
//! rings): positions that do not agree are mended from those that do, and only a ring
//! with nothing left to mend from is set aside.
//!
//! In a whole ring the receiver's release position (`head`) is at most its read position
//! (`claim`), and the frames committed one after another from either end exactly at the
//! sender's position (`tail`): every frame from `head` on is committed and not yet
//! written over, and the tag word at `tail` never reads as committed there (a commit
//! disarms the word after it). So one damaged word is found by the others, and mended to
//! what they say; with more than one damaged, the mend is the best the rest allow, and is
//! reported all the same.

use std::sync::atomic::Ordering;

use super::endpoint::Endpoint;
use super::ring;
use super::sender::{recorded_position, Sender};
use crate::error::Result;
use crate::vocabulary::Side;

/// How [`connect_mending`] found the ring.
#[derive(Debug)]
pub(crate) enum Mending {
    /// Whole, and connected.
    Whole(Sender),
    /// Damaged, mended and connected: the damage, to report.
    Mended(Sender, String),
    /// Damaged with nothing to mend it from: not connected, and marked damaged
    /// ([`ring::STATE_DAMAGED`]: its receiver, if any, takes the sender as gone); the
    /// damage.
    Unmendable(String),
}

/// Connects the sender of `end`'s ring, mending its positions if they do not agree (only a
/// process outside the protocol damages them):
/// - the sender's position and the release position agreeing, and the read position with
///   them, or damaged (the receiver's own to put right, at its next receive): whole;
/// - the release position past a read position that agrees with the sender's: the read
///   position is taken as released (a message the receiver is reading then may be written
///   over, its bytes mixed: never memory another process did not lend);
/// - otherwise the sender goes on where the frames committed one after another from the
///   read position end (or, that being invalid, from the release position), so that
///   every message sent and not yet received is still received.
///
/// A release position mended is written back only if it is still the damaged value seen
/// (the receiver's own store, before or after, wins).
pub(crate) fn connect_mending(end: Endpoint) -> Result<Mending> {
    let ring = end.ring;
    let head = ring.head().load(Ordering::Acquire);
    // Read after the release position: the read position only grows, and every release
    // position the receiver stored was a read position first, so a live receiver's
    // release position seen is at most this.
    let claim = ring.claim().load(Ordering::Acquire);
    let recorded = recorded_position(&end);
    let run_from =
        |position: u64| ring::valid_position(position).then(|| ring.committed_run_end(position));
    if let Ok(tail) = recorded {
        if ring.head_fits(head, tail) && run_from(head) == Some(tail) {
            if claim < head && run_from(claim) == Some(tail) {
                let problem = format!(
                    "the receiver's release position {head} is past its read position \
                     {claim}, which agrees with the sender's {tail}"
                );
                return mended(end, tail, claim, head, problem);
            }
            return Ok(Mending::Whole(Sender::connect_at(end, tail, head)?));
        }
    }
    let found = match &recorded {
        Ok(tail) => format!(
            "the sender's position {tail} and the receiver's {head} (released) and {claim} \
             (read) do not agree"
        ),
        Err(problem) => {
            format!("{problem} (the receiver's positions: {head} released, {claim} read)")
        }
    };
    if let Some(tail) = run_from(claim) {
        let released = if ring.head_fits(head, tail) && head <= claim {
            head
        } else {
            claim
        };
        let problem = format!(
            "{found}; the sender goes on after the messages committed from the read \
             position, at {tail}"
        );
        return mended(end, tail, released, head, problem);
    }
    if let Some(tail) = run_from(head) {
        let problem = format!(
            "{found}; the sender goes on after the messages committed from the release \
             position, at {tail}"
        );
        return mended(end, tail, head, head, problem);
    }
    end.ring
        .u32_at(ring::SENDER_STATE)
        .store(ring::STATE_DAMAGED, Ordering::Release);
    end.wake(Side::Receiver);
    Ok(Mending::Unmendable(format!(
        "{found}: nothing valid to go on from"
    )))
}

/// Connects the sender at `tail` with `released` as the receiver's release position,
/// written back over `seen` (the value read) if the receiver has not stored its own since.
fn mended(end: Endpoint, tail: u64, released: u64, seen: u64, problem: String) -> Result<Mending> {
    if released != seen {
        let _ =
            end.ring
                .head()
                .compare_exchange(seen, released, Ordering::AcqRel, Ordering::Acquire);
    }
    Ok(Mending::Mended(
        Sender::connect_at(end, tail, released)?,
        problem,
    ))
}
