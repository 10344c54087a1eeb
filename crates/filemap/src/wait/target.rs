//! What a wait on many objects does with each kind of object: take it (or see that it is
//! ready), ready a sleep on it, and undo that.

use std::time::Duration;

use super::{Taken, Target};
use crate::channel::WaitMode;
use crate::channel::endpoint::Watch;
use crate::error::Result;
use crate::sys::{self, SyncRef, Took};

/// The longest one sleep lasts when an endpoint busy-polls: its peer never rings for it.
pub(super) const BUSY_POLL_SLICE: Duration = Duration::from_millis(1);

/// A target in the form the wait works with: a synchronisation object of the system's, or
/// an endpoint with what makes it ready.
pub(super) enum Item<'a> {
    /// With what the wait noted on it when it began.
    Sync(SyncRef<'a>, sys::waits::Mark),
    Endpoint {
        watch: Watch<'a>,
        of: Endpoint<'a>,
    },
}

/// Which endpoint, to ask whether it is ready.
#[derive(Clone, Copy)]
pub(super) enum Endpoint<'a> {
    Receiver(&'a crate::channel::Receiver),
    Sender(&'a crate::channel::Sender, usize),
    Subscriber(&'a crate::topic::Subscriber),
    Inbox(&'a crate::inbox::Inbox),
    /// A service's client, for its async receive: its responses' receiver, and also
    /// ready when a server took over (which may have failed some of its requests).
    Client(&'a crate::service::Client),
}

impl Endpoint<'_> {
    /// Whether something is there for it: a receiving endpoint counts anything committed at
    /// its position, a wrap marker alone included. Its next receive skips the marker and
    /// gives its bytes back, which the sender may be waiting for before it can commit the
    /// message after it: a wait that held out for that message would wait for ever.
    fn ready_now(self) -> bool {
        match self {
            Endpoint::Receiver(receiver) => receiver.committed_now(),
            Endpoint::Sender(sender, len) => sender.room_now(len),
            Endpoint::Subscriber(subscriber) => subscriber.ready_now(),
            Endpoint::Inbox(inbox) => inbox.committed_now(),
            Endpoint::Client(client) => {
                // (Where the client is, said again if damaged: see `mending`.)
                client.responses().restate_positions();
                client.responses().committed_now() || client.server_replaced()
            }
        }
    }

    /// Whether its peer is gone (an inbox's: every sender that came); `check` as in
    /// `Item::take_now`.
    fn peer_gone(self, watch: &Watch<'_>, check: bool) -> bool {
        if check {
            // (Where a receiver is, said again if damaged, at each check: see
            // `channel::mending`.)
            match self {
                Endpoint::Receiver(receiver) => receiver.restate_positions(),
                Endpoint::Inbox(inbox) => inbox.restate_positions(),
                Endpoint::Subscriber(subscriber) => subscriber.restate_position(),
                // (Where a sender waiting for room is, said again if changed: see
                // `Sender::restate_position`.)
                Endpoint::Sender(sender, _) => sender.restate_position(),
                Endpoint::Client(_) => {}
            }
        }
        match self {
            Endpoint::Inbox(inbox) => check && inbox.senders_left(),
            _ => watch.end.peer_left(watch.peer, check),
        }
    }
}

impl<'a> Item<'a> {
    /// A service client's responses, with its server's takeovers.
    pub(super) fn of_client(client: &'a crate::service::Client) -> Item<'a> {
        Item::Endpoint {
            watch: client.responses().watch(),
            of: Endpoint::Client(client),
        }
    }

    /// A synchronisation object, its wait beginning now.
    fn of_sync(object: SyncRef<'a>) -> Item<'a> {
        Item::Sync(object, sys::waits::mark(object))
    }

    pub(super) fn of(target: &Target<'a>) -> Item<'a> {
        match *target {
            Target::Event(event) => Item::of_sync(SyncRef::Event(event.object())),
            Target::Semaphore(semaphore) => Item::of_sync(SyncRef::Semaphore(semaphore.object())),
            Target::Mutex(mutex) => Item::of_sync(SyncRef::Mutex(mutex.object())),
            Target::Receiver(receiver) => Item::Endpoint {
                watch: receiver.watch(),
                of: Endpoint::Receiver(receiver),
            },
            Target::Sender(sender, len) => Item::Endpoint {
                watch: sender.watch(),
                of: Endpoint::Sender(sender, len),
            },
            Target::Subscriber(subscriber) => Item::Endpoint {
                watch: subscriber.watch(),
                of: Endpoint::Subscriber(subscriber),
            },
            Target::Inbox(inbox) => Item::Endpoint {
                watch: inbox.watch(),
                of: Endpoint::Inbox(inbox),
            },
        }
    }

    /// Takes the object if it is ready (an endpoint is only looked at: ready, or its peer
    /// gone, which its next call reports). `check`: also run the checks that cost a
    /// system call (is a mutex's owner or an endpoint's peer alive?).
    /// `slept`: the waiter slept on the object before (a mutex it takes keeps its
    /// waiters bit).
    pub(super) fn take_now(&self, check: bool, slept: bool) -> Result<Option<Took>> {
        match self {
            Item::Sync(object, mark) => sys::waits::take_now(*object, *mark, check, slept),
            Item::Endpoint { watch, of } => {
                // A copy inherited by `fork` is never waited on: it is its parent's.
                watch.end.usable_here()?;
                let ready = of.ready_now() || of.peer_gone(watch, check);
                watch.end.intact()?;
                Ok(ready.then_some(Took::Signal))
            }
        }
    }

    /// Readies a sleep on the object.
    pub(super) fn arm(&self) -> sys::WaitTarget {
        match self {
            Item::Sync(object, _) => sys::waits::arm(*object),
            Item::Endpoint { watch, .. } => watch.end.arm(&watch.sleep),
        }
    }

    /// After the look after arming found the object not ready: the target to sleep on, or
    /// `None` to look again rather than sleep (see `sys::waits::confirm`; an endpoint's
    /// doorbell sequence only grows, so its noted value never comes back).
    pub(super) fn confirm(&self, target: sys::WaitTarget) -> Option<sys::WaitTarget> {
        match self {
            Item::Sync(object, _) => sys::waits::confirm(*object, target),
            Item::Endpoint { .. } => Some(target),
        }
    }

    /// After a sleep that ended on this object without the waiter taking it: passes the
    /// wake on (a synchronisation object's if it still is ready; a doorbell's only on
    /// Windows, where its wake-up event wakes one sleeper, and always: whether another
    /// sleeper's wait is over cannot be told from here, and a wake too many costs that
    /// sleeper one look).
    /// `reported`: the sleep was said to end on this object (not only found changed).
    pub(super) fn pass_on(&self, target: &sys::WaitTarget, reported: bool) {
        match self {
            Item::Sync(object, _) => sys::waits::pass_on(*object, target, reported),
            Item::Endpoint { .. } => sys::waits::pass_on_bell(target),
        }
    }

    /// Undoes `arm`.
    pub(super) fn disarm(&self) {
        match self {
            Item::Sync(object, _) => sys::waits::disarm(*object),
            Item::Endpoint { watch, .. } => watch.sleep.add_sleeper(-1),
        }
    }

    /// Whether its waker never rings for it (an endpoint that busy-polls), so that a sleep
    /// must end soon to look again.
    pub(super) fn polled(&self) -> bool {
        matches!(self, Item::Endpoint { watch, .. } if watch.end.mode == WaitMode::BusyPoll)
    }

    /// Whether a future on it spins a while before it sleeps: an endpoint set to
    /// `WaitMode::Spin`.
    pub(super) fn spins(&self) -> bool {
        matches!(self, Item::Endpoint { watch, .. } if watch.end.mode == WaitMode::Spin)
    }

    /// Turns what was taken into what the caller gets.
    pub(super) fn taken(target: &Target<'a>, took: Took) -> Taken<'a> {
        match (target, took) {
            (Target::Mutex(mutex), Took::Lock(locked)) => {
                Taken::Lock(mutex.taken(locked == sys::Locked::Abandoned))
            }
            (Target::Event(_) | Target::Semaphore(_), _) => Taken::Signal,
            _ => Taken::Ready,
        }
    }
}
