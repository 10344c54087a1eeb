//! What both backends' waiter threads (`linux/waiter.rs`, `windows/waiter.rs`) keep of a
//! pending future besides its target: its waker, whether it was polled since the last
//! tick, and how it is woken.

use std::task::Waker;

/// A pending future's waker, as its waiter thread keeps it.
pub(crate) struct WakerSlot {
    pub(crate) waker: Waker,
    /// Polled since the last tick (a future that is not, between two ticks, was leaked:
    /// its registration is ended at the tick).
    polled: bool,
}

impl WakerSlot {
    /// The slot of a future registering now (which counts as polled).
    pub(crate) fn new(waker: &Waker) -> WakerSlot {
        WakerSlot {
            waker: waker.clone(),
            polled: true,
        }
    }

    /// Notes a poll of the future that kept its registration, with `waker`: the waker
    /// replaced, if it was another, for the caller to drop outside its thread's lock (a
    /// waker's drop may drop a task that holds another registration).
    pub(crate) fn polled_with(&mut self, waker: &Waker) -> Option<Waker> {
        self.polled = true;
        if self.waker.will_wake(waker) {
            return None;
        }
        Some(std::mem::replace(&mut self.waker, waker.clone()))
    }

    /// A copy of the waker, for the waiter thread to wake the future with outside its
    /// lock; `None` if the executor's clone panicked (caught: the thread must not end, it
    /// sleeps for other futures too).
    pub(crate) fn copy(&self) -> Option<Waker> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.waker.clone())).ok()
    }

    /// At a tick: whether the future was polled since the last one, counting afresh.
    pub(crate) fn tick(&mut self) -> bool {
        std::mem::take(&mut self.polled)
    }
}

/// Wakes a future. The waker is the executor's code: a panic in it must not end the waiter
/// thread, which sleeps for other futures too.
pub(crate) fn wake(waker: Waker) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || waker.wake()));
}
