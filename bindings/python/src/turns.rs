//! `Turns`: a ticket lock that orders the calls of Python threads on one endpoint, first
//! come first served. A thread waits for its turn with the GIL released, in slices of at
//! most `SLICE`: between two it runs Python's signal handlers (so Ctrl-C raises
//! `KeyboardInterrupt` there, however long the queue ahead), and it gives up once the
//! call's deadline has passed (but not before it has waited a slice: a call never times
//! out for a turn another thread held only briefly). A ticket given up is skipped when
//! the turn comes to it.
//!
//! A signal handler that calls the endpoint while its thread waits for a turn of it (a
//! handler that closes it, say) waits for that same ticket's turn, and hands the turn back
//! to the waiting call when it is done, rather than queueing behind its own thread.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;
use std::time::Instant;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::shutdown::detach;

use crate::waiting::SLICE;

/// This thread's id (read once per thread: `thread::current()` counts a reference).
pub(crate) fn this_thread() -> ThreadId {
    thread_local! {
        static ME: ThreadId = std::thread::current().id();
    }
    ME.with(|me| *me)
}

/// A ticket lock: whose turn it is to use an endpoint.
#[derive(Default)]
pub(crate) struct Turns {
    queue: Mutex<Queue>,
    passed: Condvar,
}

#[derive(Default)]
struct Queue {
    /// The next ticket to hand out.
    next: u64,
    /// The ticket whose turn it is.
    serving: u64,
    /// The thread whose turn it is, if one has it.
    holder: Option<ThreadId>,
    /// The ticket each waiting thread waits for (a thread waits for one at a time: a
    /// signal handler's call on the same thread waits for the same ticket).
    waiting: HashMap<ThreadId, u64>,
    /// How many threads sleep waiting for their turn (a turn passed on wakes them only if
    /// there are any: a wake-up is a system call).
    sleeping: u32,
    /// Tickets not served yet whose threads stopped waiting (a signal, a deadline): the
    /// turn passes over them.
    given_up: BTreeSet<u64>,
}

impl Queue {
    /// Passes the turn on from `serving` to the next ticket still wanted; whether any
    /// thread sleeps waiting for it.
    fn pass_on(&mut self) -> bool {
        self.serving += 1;
        while self.given_up.remove(&self.serving) {
            self.serving += 1;
        }
        self.holder = None;
        self.sleeping > 0
    }
}

/// How a thread waits for its turn.
#[derive(Clone, Copy)]
pub(crate) enum Patience {
    /// Until the turn comes or `deadline` passes (`None`: for ever; at least a slice
    /// either way), running Python's signal handlers between slices: an exception one
    /// raises ends the wait.
    Interruptible { deadline: Option<Instant> },
    /// Until the turn comes, whatever signals arrive (for what must happen on every way
    /// out of a call, such as closing, or clearing its flags): their handlers run
    /// afterwards.
    Uninterruptible,
    /// For one slice at most, running no signal handlers: for a caller that holds other
    /// endpoints' turns, where a handler's call could wait for one of those (and, if a
    /// turn this thread waits for is held by a thread that waits for one this thread
    /// holds, for ever). A caller that does not get the turn lets go of what it holds, and
    /// runs the handlers then.
    OneQuietSlice,
}

/// A turn: passes it on when dropped.
pub(crate) struct Ticket<'a> {
    turns: &'a Turns,
    /// Taken by a signal handler's call on a thread that waits for this ticket: handed
    /// back to that wait when dropped, not passed on.
    lent: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut queue = self.turns.lock();
        if self.lent {
            // The thread's own wait takes it next; no other thread waits for this ticket.
            queue.holder = None;
            return;
        }
        let sleeping = queue.pass_on();
        drop(queue);
        if sleeping {
            self.turns.passed.notify_all();
        }
    }
}

impl Turns {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (with the GIL released, if it must wait) for a turn, behind the calls that
    /// asked before, as `patience` says: `Ok(None)` if its deadline passed first.
    /// `RuntimeError` for a thread that has the turn already (a call made from inside
    /// another call of the same endpoint, say by a finalizer or a signal handler), which
    /// would otherwise wait for itself; `what` names the endpoint there.
    pub(crate) fn take(
        &self,
        py: Python<'_>,
        what: &str,
        patience: Patience,
    ) -> PyResult<Option<Ticket<'_>>> {
        let me = this_thread();
        let mut queue = self.lock();
        if queue.holder == Some(me) {
            return Err(PyRuntimeError::new_err(format!(
                "{what} was called from inside another of its calls on this thread"
            )));
        }
        // A signal handler's call while this thread waits for a turn: the same ticket.
        let (ticket, lent) = match queue.waiting.get(&me) {
            Some(&ticket) => (ticket, true),
            None => {
                let ticket = queue.next;
                queue.next += 1;
                (ticket, false)
            }
        };
        if queue.serving == ticket {
            queue.holder = Some(me);
            return Ok(Some(Ticket { turns: self, lent }));
        }
        if !lent {
            queue.waiting.insert(me, ticket);
        }
        drop(queue);
        let served = match patience {
            Patience::Uninterruptible => {
                detach(py, || while !self.wait_slice(ticket, me, None) {});
                Ok(true)
            }
            Patience::Interruptible { deadline } => {
                let deadline = deadline.map(|d| d.max(Instant::now() + SLICE));
                self.wait_interruptibly(py, ticket, me, deadline)
            }
            Patience::OneQuietSlice => Ok(detach(py, || self.wait_slice(ticket, me, None))),
        };
        let mut queue = self.lock();
        if !lent {
            queue.waiting.remove(&me);
        }
        match served {
            Ok(true) => Ok(Some(Ticket { turns: self, lent })),
            Ok(false) | Err(_) if lent => served.map(|_| None),
            Ok(false) | Err(_) => {
                // Given up: skipped when its turn comes, or passed on now if it came since
                // this thread last looked.
                if queue.serving == ticket {
                    let sleeping = queue.pass_on();
                    drop(queue);
                    if sleeping {
                        self.passed.notify_all();
                    }
                } else {
                    queue.given_up.insert(ticket);
                }
                served.map(|_| None)
            }
        }
    }

    /// Waits in slices for `ticket`, running the signal handlers between two: true once
    /// `me` holds the turn, false once `deadline` passed, or a handler's exception.
    fn wait_interruptibly(
        &self,
        py: Python<'_>,
        ticket: u64,
        me: ThreadId,
        deadline: Option<Instant>,
    ) -> PyResult<bool> {
        loop {
            if detach(py, || self.wait_slice(ticket, me, deadline)) {
                return Ok(true);
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// Sleeps until `ticket` is served and no call holds it (then `me` holds the turn:
    /// true) or a slice, cut short at `deadline`, has passed (false).
    fn wait_slice(&self, ticket: u64, me: ThreadId, deadline: Option<Instant>) -> bool {
        let now = Instant::now();
        let until = match deadline {
            Some(d) => d.min(now + SLICE),
            None => now + SLICE,
        };
        let mut queue = self.lock();
        queue.sleeping += 1;
        while queue.serving != ticket || queue.holder.is_some() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            queue = self
                .passed
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        queue.sleeping -= 1;
        let served = queue.serving == ticket && queue.holder.is_none();
        if served {
            queue.holder = Some(me);
        }
        served
    }
}
