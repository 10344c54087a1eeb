//! Async waits: one future, [`Ready`], completes when one object is ready and takes it as
//! a blocking wait would; the async methods of the objects and endpoints are built on it.
//!
//! A pending future sleeps nowhere itself: the process's waiter threads (`sys`: one per
//! 127 pending futures on Linux, 63 on Windows) sleep for all pending futures at once (`futex_waitv` over their words on Linux,
//! `WaitForMultipleObjects` on Windows) and wakes a future's waker when its object may
//! have changed. So the futures work under any executor (tokio, smol, async-std, a
//! hand-rolled one) and the library depends on none.
//!
//! By default nothing spins: a future whose object is not ready sleeps at once. A future
//! on an endpoint set to [`WaitMode::Spin`](crate::channel::WaitMode::Spin) first spins,
//! as a blocking receive or send does before it sleeps: for up to [`SPIN_WINDOW`] it asks
//! the executor to poll it again at once (the executor runs its other ready tasks in
//! between; the thread is never blocked). A message that comes within the window, as a
//! reply in a ping-pong does, is caught without a sleep and the two wake-ups a sleep
//! costs (the waiter thread's, then the executor's).
//!
//! Each poll looks at the object and takes it if it is ready. If not, it readies a sleep
//! (counts itself where the object's waker looks, notes the word), looks once more, and
//! only then registers with the waiter thread: a change after that look changes the word
//! the thread sleeps on, so no wake-up is lost (see `sys::waiter`). A future also looks
//! again every 100 ms (the thread wakes it, keeping its registration), to find a dead
//! mutex owner or peer.
//!
//! An endpoint set to [`WaitMode::BusyPoll`](crate::channel::WaitMode::BusyPoll) is the
//! one future that never sleeps: its peer never rings for it, and its future keeps asking
//! the executor to poll it again at once instead of registering, for the lowest latency at
//! the cost of a busy thread.
//!
//! Cancellation: a future takes only inside `poll`, and returns at once what it took, so
//! dropping one takes nothing. A future dropped after its wake-up and before it took what
//! woke it passes the wake-up on to another waiter of the object; on Windows, where the
//! waiter thread's wait takes a semaphore's unit or an auto-reset event's signal for the
//! future, an unclaimed one is given back.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use super::target::Item;
use super::{CHECK_INTERVAL, Taken, Target};
use crate::error::{Error, Result};
use crate::sys::Took;
use crate::sys::waiter::{self, Registration};

/// How long a future on an endpoint set to `WaitMode::Spin` spins through the executor
/// before it sleeps: about as long as a blocking wait spins on the machines
/// docs/benchmarks.md was measured on, far longer than a reply takes to come back in a
/// ping-pong, and short enough that a future that ends up sleeping has cost little.
pub(crate) const SPIN_WINDOW: std::time::Duration = std::time::Duration::from_micros(50);

/// How many times a spinning or busy-polling future looks at its object in one poll, a
/// pause apart, before it asks the executor to poll it again: a message is seen within a
/// pause of its coming rather than a trip through the executor, and the executor gets its
/// thread back every microsecond or two.
const LOOKS_PER_POLL: u32 = 32;

/// Where a future is in its spin before sleeping (see the module's docs).
#[derive(Clone, Copy)]
enum Spin {
    /// Not begun: the future has not yet found its object not ready.
    NotYet,
    /// Spinning until then.
    Until(Instant),
    /// Over (or never: a synchronisation object, an endpoint not set to spin). An
    /// endpoint that busy-polls stays `NotYet`: it never sleeps.
    Over,
}

/// A future that completes when `target` is ready, with what it took (see the module's
/// docs).
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Ready<'a> {
    target: Target<'a>,
    item: Item<'a>,
    /// While set, the item is armed and the waiter thread sleeps for this future.
    registration: Option<Registration>,
    last_check: Option<Instant>,
    /// The future registered before: a mutex it takes keeps its waiters bit.
    slept: bool,
    /// Polls so far (a busy-polling future reads the clock every 64th).
    polls: u32,
    spin: Spin,
}

impl<'a> Ready<'a> {
    pub(crate) fn new(target: Target<'a>) -> Ready<'a> {
        Ready::of(target, Item::of(&target))
    }

    /// A future that completes when a response is there for `client`, its server is gone,
    /// or a server took over.
    pub(crate) fn for_client(client: &'a crate::service::Client) -> Ready<'a> {
        Ready::of(
            Target::Receiver(client.responses()),
            Item::of_client(client),
        )
    }

    fn of(target: Target<'a>, item: Item<'a>) -> Ready<'a> {
        Ready {
            item,
            target,
            registration: None,
            last_check: None,
            slept: false,
            polls: 0,
            spin: Spin::NotYet,
        }
    }

    /// Takes the object if it is ready. A mutex this thread holds (another task on the
    /// same thread) is not ready: it waits for that task's unlock.
    fn take_now(&self, check: bool) -> Result<Option<Took>> {
        if let Target::Mutex(mutex) = self.target {
            if mutex.refuse_relock().is_err() {
                return Ok(None);
            }
        }
        self.item.take_now(check, self.slept)
    }

    /// Looks at the object up to `LOOKS_PER_POLL` times, a pause apart, as a spinning or
    /// busy-polling future does in each poll before it gives the executor its thread back:
    /// the wait's end, if it is ready (or broken).
    fn look_a_while(&mut self) -> Option<Poll<Result<Taken<'a>>>> {
        for _ in 0..LOOKS_PER_POLL {
            match self.take_now(false) {
                Ok(Some(took)) => return Some(self.finish(took)),
                Err(e) => return Some(self.fail(e)),
                Ok(None) => std::hint::spin_loop(),
            }
        }
        None
    }

    /// Ends the wait with what was taken.
    fn finish(&mut self, took: Took) -> Poll<Result<Taken<'a>>> {
        self.disarm(true);
        Poll::Ready(Ok(Item::taken(&self.target, took)))
    }

    fn fail(&mut self, error: Error) -> Poll<Result<Taken<'a>>> {
        self.disarm(true);
        Poll::Ready(Err(error))
    }

    /// Ends the registration and the armed sleep, if any; `done`: the future was woken
    /// and took what it waited for, failed, or looks again itself, so the wake-up it had is
    /// not passed on. Otherwise (dropped, or done without a wake-up: polled for another
    /// reason) a wake-up that fired for it is passed on to another sleeper.
    fn disarm(&mut self, done: bool) {
        if let Some(registration) = self.registration.take() {
            if !registration.made_here() {
                // A future left pending across a `fork`, in the child: its registration
                // is with the parent's waiter threads (whose locks the fork may have
                // copied held; dropping it there touches nothing), and its sleep was
                // counted in the object's words, which the parent uncounts. Nothing of
                // either is the child's to undo.
                return;
            }
            if done {
                registration.complete();
            } else {
                drop(registration);
            }
            self.item.disarm();
        }
    }
}

impl<'a> Future for Ready<'a> {
    type Output = Result<Taken<'a>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.registration.is_none() {
            // The common cases first: a new future whose object is ready at its first
            // look, a spinning one, and a busy-polling one between its checks (without
            // reading the clock).
            let busy = this.item.polled() && this.last_check.is_some();
            this.polls = this.polls.wrapping_add(1);
            if let Spin::Until(end) = this.spin {
                if let Some(done) = this.look_a_while() {
                    return done;
                }
                if Instant::now() < end {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                this.spin = Spin::Over;
            } else if busy && this.polls % 64 != 0 {
                if let Some(done) = this.look_a_while() {
                    return done;
                }
                cx.waker().wake_by_ref();
                return Poll::Pending;
            } else if this.last_check.is_none() {
                match this.take_now(false) {
                    Ok(Some(took)) => return this.finish(took),
                    Err(e) => return this.fail(e),
                    Ok(None) => {}
                }
            }
        }
        // The checks that cost a system call (is the peer or the owner alive?) run once
        // per interval, counted from the first poll, not on every new future's first look
        // (a peer that closed is seen at once without them; one that died, at the first
        // check).
        let now = Instant::now();
        let since = *this.last_check.get_or_insert(now);
        let check = now.duration_since(since) >= CHECK_INTERVAL;
        if check {
            this.last_check = Some(now);
        }
        if let Some(registration) = &this.registration {
            if let Some(took) = registration.claim() {
                // The waiter thread took it for this future (Windows): a synchronisation
                // object's signal, unit or lock is this future's; an endpoint's wake-up
                // event only says to look (below).
                if matches!(this.item, Item::Sync(..)) {
                    return this.finish(took);
                }
            }
            if !registration.fired() && registration.made_here() {
                // Polled without its registration fired: a tick (the waiter thread wakes
                // every future every 100 ms; the look for a dead peer or owner runs if it is
                // due) or another reason. Look, and keep the registration: any change of
                // the object since it was armed fires it (at the latest when the thread
                // next sleeps), so keeping it loses nothing. (In a child made by `fork`,
                // the registration is the parent's threads': the future registers afresh
                // with the child's.)
                return match this.take_now(check) {
                    Ok(Some(took)) => {
                        // What it took is not what a wake-up brought: one that fires from
                        // here on is another sleeper's, so ending the registration passes
                        // it on (at worst a sleeper wakes for nothing).
                        this.disarm(false);
                        Poll::Ready(Ok(Item::taken(&this.target, took)))
                    }
                    Err(e) => {
                        this.disarm(false);
                        Poll::Ready(Err(e))
                    }
                    Ok(None) => {
                        if !registration.set_waker(cx.waker()) {
                            // Fired meanwhile, with the old waker: look again soon.
                            cx.waker().wake_by_ref();
                        }
                        Poll::Pending
                    }
                };
            }
            // Woken: what the waiter thread took for this future since the claim above (its
            // wait ended between the two looks: Windows) is this future's too. Given back
            // by the disarm, a manual-reset event's set would be lost if the event was
            // reset since (a pulse: nothing to give back).
            if let Some(took) = registration.claim() {
                if matches!(this.item, Item::Sync(..)) {
                    return this.finish(took);
                }
            }
            // Look, and register afresh.
            this.disarm(true);
        }
        match this.take_now(check) {
            Ok(Some(took)) => return this.finish(took),
            Err(e) => return this.fail(e),
            Ok(None) => {}
        }
        if this.item.polled() {
            // An endpoint set to busy-poll (its peer never rings for it): look again as
            // soon as the executor has run its other ready tasks, without sleeping.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Spin::NotYet = this.spin {
            // Its first miss: an endpoint set to spin spins a while before it sleeps, the rest
            // sleep now.
            if this.item.spins() {
                this.spin = Spin::Until(now + SPIN_WINDOW);
                if let Some(done) = this.look_a_while() {
                    return done;
                }
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.spin = Spin::Over;
        }
        let target = this.item.arm();
        // The look after arming: whatever changes from here on changes the word slept on.
        let found = this.take_now(false);
        if !matches!(found, Ok(None)) {
            this.item.disarm();
            return match found {
                Ok(Some(took)) => this.finish(took),
                Err(e) => this.fail(e),
                Ok(None) => unreachable!("matched above"),
            };
        }
        // The target confirmed after the look (a mutex noted free, noted again); free again
        // already: looked at again at once rather than slept on.
        let Some(target) = this.item.confirm(target) else {
            this.item.disarm();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        // Undoes the arming if the registration unwinds (a waker whose clone panics):
        // the object's count of sleepers must not keep this future for good.
        struct ArmedUntilRegistered<'i, 'a>(&'i Item<'a>);
        impl Drop for ArmedUntilRegistered<'_, '_> {
            fn drop(&mut self) {
                self.0.disarm();
            }
        }
        let armed = ArmedUntilRegistered(&this.item);
        // SAFETY: the registration is kept in this future, which borrows the object for
        // `'a`, and is dropped with it (or before): it never outlives the object.
        let registered = unsafe { waiter::register(target, cx.waker()) };
        std::mem::forget(armed);
        match registered {
            Ok(registration) => {
                this.registration = Some(registration);
                this.slept = true;
                Poll::Pending
            }
            Err(e) => {
                this.item.disarm();
                Poll::Ready(Err(Error::io(
                    "start the waiter thread for",
                    "async waits",
                    e,
                )))
            }
        }
    }
}

impl Drop for Ready<'_> {
    fn drop(&mut self) {
        self.disarm(false);
    }
}

#[cfg(test)]
mod tests {
    /// The futures can move between the threads of a multi-threaded executor.
    #[test]
    fn futures_are_send() {
        fn send<T: Send>(_: &T) {}
        fn all(
            event: &crate::sync::NamedEvent,
            semaphore: &crate::sync::NamedSemaphore,
            receiver: &mut crate::channel::Receiver,
            sender: &mut crate::channel::Sender,
            subscriber: &mut crate::topic::Subscriber,
        ) {
            send(&event.wait_async());
            send(&semaphore.acquire_async());
            send(&receiver.recv_async());
            send(&sender.send_async(b""));
            send(&subscriber.recv_async());
        }
        let _ = all;
    }
}
