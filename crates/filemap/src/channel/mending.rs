//! Connecting a sender to a ring whose positions another process may have damaged, where
//! one ring's damage must not stop the others (a service's server and its response
//! rings): positions that do not agree are mended from those that do, and only a ring
//! with nothing left to mend from is set aside.
//!
//! In a whole ring the receiver's release position (`head`) is its read position
//! (`claim`), or the start of the one message it is reading, which ends at `claim`; and
//! the frames committed one after another from either end exactly at the sender's
//! position (`tail`): every frame from `head` on is committed and not yet written over,
//! and the tag word at `tail` never reads as committed there (a commit disarms the word
//! after it). So one damaged word is found by the others.
//!
//! With no receiver connected, nobody reads the ring's bytes but a receiver to come, which
//! drops what was sent to the one before: a damaged ring is emptied, its three positions
//! set to where the sender goes on. With a receiver connected, whose own read position is
//! in its memory and not in the ring, only the sender's side is mended: the sender goes on
//! where the frames committed from the read position end, and takes no more as released
//! than the read position until the receiver stores a release position that fits (where
//! the two positions disagree and neither is plainly wrong, the lower is trusted: the
//! sender may then wait for room the receiver has in fact given back, never write over
//! what the receiver has not read). Nothing is written over a value the receiver stored
//! meanwhile (a compare-and-swap from the damaged value seen).

use std::sync::atomic::{AtomicU64, Ordering};

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
/// process outside the protocol damages them): see the module's docs.
pub(crate) fn connect_mending(end: Endpoint) -> Result<Mending> {
    let ring = end.ring;
    // The release position, then the read position, then the release position again: a
    // receiver that receives meanwhile releases what it took before it takes more, so
    // with the release position unchanged, at most one message was taken between the two
    // looks, and the one-message rule holds of what was seen. (A few tries: a receiver
    // that keeps receiving is whole, or near enough to be seen so at a moment.)
    let (mut head, mut claim) = (0, 0);
    for _ in 0..8 {
        head = ring.head().load(Ordering::Acquire);
        claim = ring.claim().load(Ordering::Acquire);
        if ring.head().load(Ordering::Acquire) == head {
            break;
        }
    }
    let recorded = recorded_position(&end).ok();
    let run_from =
        |position: u64| ring::valid_position(position).then(|| ring.committed_run_end(position));
    // The release position agreeing with the read position (the one-message rule).
    let released_before_claim = ring::valid_position(head)
        && head <= claim
        && (head == claim || ring.committed_end(head) == Some(claim));
    let claim_agrees = recorded.is_some() && run_from(claim) == recorded;
    if claim_agrees && released_before_claim {
        return Ok(Mending::Whole(Sender::connect_at(
            end,
            recorded.unwrap_or(claim),
            head,
        )?));
    }
    let head_agrees =
        recorded.is_some_and(|tail| ring.head_fits(head, tail)) && run_from(head) == recorded;
    // Where the sender goes on, from the first position that says: the sender's own when
    // another agrees with it, else the frames committed from the read position, or from
    // the release position.
    let tail = if claim_agrees || head_agrees {
        recorded
    } else {
        run_from(claim).or(run_from(head)).or(recorded)
    };
    let found = format!(
        "the sender's position {} and the receiver's {head} (released) and {claim} (read) \
         do not agree",
        ring.tail().load(Ordering::Relaxed)
    );
    let Some(tail) = tail else {
        ring.u32_at(ring::SENDER_STATE)
            .store(ring::STATE_DAMAGED, Ordering::Release);
        end.wake(Side::Receiver);
        return Ok(Mending::Unmendable(format!(
            "{found}: none is valid to go on from"
        )));
    };
    if end.peer_gone(Side::Receiver) {
        // Nobody reads the ring: emptied, at `tail`.
        settle(ring.claim(), claim, tail);
        settle(ring.head(), head, tail);
        let sender = Sender::connect_at(end, tail, tail)?;
        return Ok(Mending::Mended(
            sender,
            format!("{found}; with no receiver connected, the ring is emptied at {tail}"),
        ));
    }
    // A receiver reads it, from the read position in its own memory.
    let (released, floor) = if head_agrees && !claim_agrees {
        // The read position alone disagrees: the receiver's own, stored again at its
        // next receive.
        (head, None)
    } else if released_before_claim && ring.head_fits(head, tail) {
        (head, None)
    } else if ring::valid_position(claim) && ring.head_fits(claim, tail) {
        (claim, Some(claim))
    } else {
        (tail, Some(tail))
    };
    let sender = Sender::connect_with_floor(end, tail, released, floor)?;
    Ok(Mending::Mended(
        sender,
        format!("{found}; the sender goes on at {tail}, taking {released} as released"),
    ))
}

/// Sets `word` (a position of the receiver's, with no receiver connected) to `to`, if it
/// still holds the damaged value `seen` (a receiver connecting meanwhile stores its own).
fn settle(word: &AtomicU64, seen: u64, to: u64) {
    if seen != to {
        let _ = word.compare_exchange(seen, to, Ordering::AcqRel, Ordering::Acquire);
    }
}
