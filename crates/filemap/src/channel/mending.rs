//! Connecting a sender to a ring whose positions another process may have damaged, where
//! one ring's damage must not stop the others (a service's server and its response
//! rings).
//!
//! In a whole ring the receiver's release position (`head`) is its read position
//! (`claim`), or the start of the one message it is reading, which ends at `claim`; and
//! the frames committed one after another from the read position end exactly at the
//! sender's position (`tail`): every frame from `head` on is committed and not yet written
//! over, and the tag word at `tail` never reads as committed there (a commit disarms the
//! word after it).
//!
//! With no receiver (the caller holds the receiver's lock, so none connects meanwhile),
//! nobody reads the ring but a receiver to come, which drops what was sent to the one
//! before it: a damaged ring is emptied at the sender's position, or, that being damaged,
//! where the frames committed from the read (or release) position end. With a receiver,
//! whose true read position is in its own memory, nothing of the receiver's is trusted
//! that the rules above do not vouch for: only an invalid sender's position is mended,
//! when the receiver's two agree with each other; any other damage sets the ring aside,
//! marked damaged, and its receiver, taking the sender as gone, reads what is committed,
//! says its positions again and sets the mark back, vouching for them: the caller looks
//! again only then (`receiver_vouched`: a sender's position that disagrees with them is
//! mended to them), so that no response comes before the receiver has learnt that those
//! sent meanwhile were lost.
//! So no message the receiver has not read is written over, and the sender never waits
//! for room the receiver has given back (a receiver about to wait, or a client about to
//! send a request, stores its positions again: `Receiver::restate_positions`). A client
//! that keeps a response past its borrow with `mem::forget` leaves its release position
//! behind, and a server opening meanwhile sets its ring aside.

use std::sync::atomic::Ordering;

use super::endpoint::Endpoint;
use super::ring;
use super::sender::{Sender, recorded_position};
use crate::error::Result;
use crate::sys::EndpointLock;
use crate::vocabulary::Side;

/// How [`connect_mending`] found the ring.
#[derive(Debug)]
pub(crate) enum Mending {
    /// Whole, and connected.
    Whole(Sender),
    /// Damaged, mended and connected: the damage, to report.
    Mended(Sender, String),
    /// Damaged and set aside: not connected, and marked damaged ([`ring::STATE_DAMAGED`]:
    /// its receiver, if any, takes the sender as gone); the damage.
    Unmendable(String),
}

/// Connects the sender of `end`'s ring, mending its positions if they do not agree (only a
/// process outside the protocol damages them): see the module's docs. `lock_receiver`
/// takes the receiver's lock if nobody holds it (there is no receiver then, and none
/// connects until it is let go): asked only for a ring found damaged, which is then
/// looked at again.
pub(crate) fn connect_mending(
    end: Endpoint,
    lock_receiver: impl FnOnce() -> Result<Option<EndpointLock>>,
    receiver_vouched: bool,
) -> Result<Mending> {
    // (A receiver that sets the mark back meanwhile, vouching for its positions, keeps it:
    // the ring is set aside only over the state seen here.)
    let state_seen = end.ring.u32_at(ring::SENDER_STATE).load(Ordering::Acquire);
    let look = look(&end);
    if let Some((tail, head)) = look.whole() {
        return Ok(Mending::Whole(Sender::connect_at(end, tail, head)?));
    }
    // (A lock that cannot be asked about is taken as held: the worst is a ring set aside.)
    let no_receiver = lock_receiver().unwrap_or(None);
    let look = self::look(&end);
    if let Some((tail, head)) = look.whole() {
        return Ok(Mending::Whole(Sender::connect_at(end, tail, head)?));
    }
    let ring = end.ring;
    let Look {
        recorded,
        head,
        claim,
        ..
    } = look;
    let found = format!(
        "the sender's position {} and the receiver's {head} (released) and {claim} (read) \
         do not agree",
        ring.tail().load(Ordering::Relaxed)
    );
    if let Some(_no_receiver) = no_receiver {
        let (from_claim, from_head) = (look.run_from(claim), look.run_from(head));
        let agreed = recorded.filter(|&tail| from_claim == Some(tail) || from_head == Some(tail));
        let Some(tail) = agreed.or(from_claim).or(from_head).or(recorded) else {
            return set_aside(
                end,
                state_seen,
                format!("{found}: none is valid to go on from"),
            );
        };
        ring.claim().store(tail, Ordering::Release);
        ring.head().store(tail, Ordering::Release);
        return Ok(Mending::Mended(
            Sender::connect_at(end, tail, tail)?,
            format!("{found}; with no client, the ring is emptied at {tail}"),
        ));
    }
    // A receiver reads the ring: its positions, agreeing with each other, say where the
    // sender goes on, when the sender's own is not there to say otherwise (invalid), or
    // the receiver has vouched for its positions since the ring was set aside (it said
    // them again, and set the mark back): two damaged positions of the receiver's that
    // agree must not move a sender's that is whole.
    match look.run_from(claim) {
        Some(tail)
            if look.stable
                && look.one_message()
                && ring.head_fits(head, tail)
                && (recorded.is_none() || receiver_vouched) =>
        {
            Ok(Mending::Mended(
                Sender::connect_at(end, tail, head)?,
                format!(
                    "{found}; the sender goes on after the frames committed from the read \
                     position, at {tail}"
                ),
            ))
        }
        _ => set_aside(
            end,
            state_seen,
            format!(
                "{found}; with its client connected, it is set aside (the client takes the \
                 server as gone)"
            ),
        ),
    }
}

/// What a look at a ring's positions saw.
struct Look<'r> {
    ring: &'r ring::Ring,
    /// Where the sender goes on by its recorded position, if that is valid.
    recorded: Option<u64>,
    head: u64,
    claim: u64,
    /// Whether the release position was the same before and after the read position was
    /// read (see `look`).
    stable: bool,
}

/// Looks at `end`'s ring: the release position, the read position, and the release
/// position again. A live receiver releases what it took before it takes more, so with the
/// release position unchanged, at most one message was taken between the two looks, and
/// the rules hold of what was seen. (A few tries; a receiver that keeps receiving all
/// through them is alive and well, and the release position first seen is at most where
/// it is now.)
fn look(end: &Endpoint) -> Look<'_> {
    let ring = &end.ring;
    let first = ring.head().load(Ordering::Acquire);
    let mut seen = None;
    for _ in 0..8 {
        let head = ring.head().load(Ordering::Acquire);
        let claim = ring.claim().load(Ordering::Acquire);
        if ring.head().load(Ordering::Acquire) == head {
            seen = Some((head, claim));
            break;
        }
    }
    let (head, claim, stable) = match seen {
        Some((head, claim)) => (head, claim, true),
        None => (first, ring.claim().load(Ordering::Acquire), false),
    };
    Look {
        ring,
        recorded: recorded_position(end).ok(),
        head,
        claim,
        stable,
    }
}

impl Look<'_> {
    /// Where the frames committed one after another from `position` end, if it is valid.
    fn run_from(&self, position: u64) -> Option<u64> {
        ring::valid_position(position).then(|| self.ring.committed_run_end(position))
    }

    /// Whether the release position is the read position, or the start of the one message
    /// that ends there.
    fn one_message(&self) -> bool {
        ring::valid_position(self.head)
            && self.head <= self.claim
            && (self.head == self.claim || self.ring.committed_end(self.head) == Some(self.claim))
    }

    /// The sender's position and the release position, if the ring is whole (with its
    /// receiver receiving all through the look, the one-message rule is not asked of the
    /// release position first seen, a safe bound).
    fn whole(&self) -> Option<(u64, u64)> {
        let tail = self.recorded?;
        // (No sender writes during the look: the frames committed from any read position
        // the receiver had end at the sender's position.)
        let agrees = self.ring.head_fits(self.head, tail)
            && self.run_from(self.claim) == Some(tail)
            && (!self.stable || self.one_message());
        agrees.then_some((tail, self.head))
    }
}

/// Marks the ring of `end` damaged, and wakes its receiver to see it; unless its state is
/// no longer `state_seen` (a new receiver set it back, vouching for its positions: the
/// caller's next look trusts them).
fn set_aside(end: Endpoint, state_seen: u32, problem: String) -> Result<Mending> {
    let marked = end.ring.u32_at(ring::SENDER_STATE).compare_exchange(
        state_seen,
        ring::STATE_DAMAGED,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    if marked.is_ok() {
        end.wake(Side::Receiver);
    }
    Ok(Mending::Unmendable(problem))
}
