//! Model check, with loom, of a service's takeover record (`src/service/mod.rs`: the server's
//! `record_takeover`, the client's `replaced_since`, `last_takeover` and
//! `settle_takeover`, its wait in `Endpoint::wait_on`). A server took a client's request
//! (moved its request ring's claim past it) and then died, having answered it or not; a
//! new server takes the server's lock at once and records the takeover (the count odd,
//! the claim as the slot's position, the count even) and rings the client's doorbell. The
//! client waits for the response as `wait_on` does (counts itself a sleeper, fences,
//! looks, sleeps on the doorbell's sequence); when it finds the count changed it settles:
//! reads the record (the count first), and fails the request only if its response ring is
//! empty then.
//!
//! Checked in every interleaving (up to three preemptions): the client never sleeps for ever (loom reports the
//! deadlock), it gets the response whenever the dead server answered, and it fails the
//! request exactly when the dead server did not answer. The server's lock, which the
//! kernel hands over, is modelled as an atomic flag released and acquired (weaker than the
//! system calls' full barriers).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p filemap --release --test loom_takeover`
//! (scripts/test does); without `--cfg loom` this file is empty.

#![cfg(loom)]

mod loom_support;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};
use loom::thread;
use loom_support::Futex;

/// Where the client's request ends in its request ring.
const REQUEST_END: u64 = 64;

/// The words the three parties share.
#[derive(Default)]
struct Service {
    /// The server's lock (held by the first server at the start).
    locked: AtomicBool,
    /// The request ring's claim: how far the servers have taken.
    claim: AtomicU64,
    /// The response ring: 1 once the response is committed.
    response: AtomicU32,
    /// The takeover record: the count and the slot's position.
    takeovers: AtomicU64,
    position: AtomicU64,
    /// The client's doorbell.
    seq: AtomicU32,
    sleepers: AtomicU32,
    futex: Futex,
}

impl Service {
    /// `Endpoint::wake_if_asleep`.
    fn wake_client(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            self.seq.fetch_add(1, Ordering::Release);
            self.futex.wake();
        }
    }

    /// `record_takeover`, by the holder of the server's lock.
    fn record_takeover(&self) {
        let writing = self.takeovers.load(Ordering::Relaxed) | 1;
        self.takeovers.store(writing, Ordering::Relaxed);
        fence(Ordering::Release);
        let taken = self.claim.load(Ordering::Acquire);
        self.position.store(taken, Ordering::Relaxed);
        self.takeovers.store(writing + 1, Ordering::Release);
        self.wake_client();
    }

    /// `replaced_since`.
    fn replaced_since(&self, seen: u64) -> bool {
        let count = self.takeovers.load(Ordering::Relaxed);
        count & 1 == 0 && count != seen
    }

    /// `last_takeover`.
    fn last_takeover(&self) -> Option<(u64, u64)> {
        let before = self.takeovers.load(Ordering::Acquire);
        if before & 1 == 1 {
            return None;
        }
        let position = self.position.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (self.takeovers.load(Ordering::Relaxed) == before).then_some((before, position))
    }

    fn response_ready(&self) -> bool {
        self.response.load(Ordering::Acquire) == 1
    }
}

/// What the client's wait ended with.
#[derive(Debug, PartialEq)]
enum Outcome {
    Answered,
    Failed,
}

/// The client: waits for the response to its pending request, settling takeovers.
fn client(service: &Service) -> Outcome {
    let mut seen = 0;
    loop {
        if service.response_ready() {
            return Outcome::Answered;
        }
        if service.replaced_since(seen) {
            // `settle_takeover`.
            if let Some((count, taken)) = service.last_takeover() {
                if count != seen && !service.response_ready() {
                    seen = count;
                    if REQUEST_END <= taken {
                        return Outcome::Failed;
                    }
                }
            }
            thread::yield_now();
            continue;
        }
        // `wait_on`'s sleep: note the sequence, count itself, fence, look, sleep.
        let expected = service.seq.load(Ordering::Acquire);
        service.sleepers.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !service.response_ready() && !service.replaced_since(seen) {
            service.futex.wait(&service.seq, expected);
        }
        service.sleepers.fetch_sub(1, Ordering::Relaxed);
    }
}

fn takeover(answers: bool) {
    // Three preemptions cover the orders that matter here (each party's few steps against
    // the others') and keep the run to seconds.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let service = Arc::new(Service::default());
        service.locked.store(true, Ordering::Relaxed);
        let first = {
            let service = service.clone();
            thread::spawn(move || {
                // Takes the request (the receiver's hand-out), maybe answers it, and dies.
                service.claim.store(REQUEST_END, Ordering::Release);
                if answers {
                    service.response.store(1, Ordering::Release);
                    service.wake_client();
                }
                service.locked.store(false, Ordering::Release);
            })
        };
        let second = {
            let service = service.clone();
            thread::spawn(move || {
                while service
                    .locked
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    thread::yield_now();
                }
                service.record_takeover();
            })
        };
        let outcome = client(&service);
        first.join().unwrap();
        second.join().unwrap();
        let expected = if answers {
            Outcome::Answered
        } else {
            Outcome::Failed
        };
        assert_eq!(outcome, expected);
    });
}

#[test]
fn a_request_the_dead_server_answered_is_received() {
    takeover(true);
}

#[test]
fn a_request_the_dead_server_did_not_answer_fails() {
    takeover(false);
}
