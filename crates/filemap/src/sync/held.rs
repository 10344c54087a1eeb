//! The mutexes this thread holds, and how each will be unlocked: by dropping its guard, or
//! by `NamedMutex::release` (a lock taken by `lock_unguarded`, or a guard turned into one by
//! `into_unguarded`). Used to refuse relocking (`Error::WouldDeadlock`) and to let
//! `release` unlock only a lock this thread took that way through the same handle.
//!
//! An unguarded lock remembers its handle weakly, so that no other handle can release it.
//! If the handle is dropped while the lock is held, the entry is stale: on Linux the lock
//! died with the handle (the next locker takes it as abandoned, this thread included), so
//! the entry is pruned; on Windows the thread still owns the kernel mutex until it exits,
//! so the entry stays and keeps refusing a relock by this thread.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

/// How a held mutex will be unlocked.
enum How {
    /// By dropping its guard (which borrows its handle, so the entry cannot go stale).
    Guarded,
    /// By `NamedMutex::release` through this handle.
    Unguarded(Weak<()>),
}

struct Entry {
    /// The mutex's identity (the same for every handle of it in this process).
    id: u64,
    how: How,
}

impl Entry {
    /// Whether the lock went with its handle (Linux; see the module's docs).
    fn stale(&self) -> bool {
        cfg!(not(windows))
            && matches!(&self.how, How::Unguarded(handle) if handle.strong_count() == 0)
    }

    fn unguarded_through(&self, id: u64, handle: &Arc<()>) -> bool {
        self.id == id
            && matches!(&self.how, How::Unguarded(h) if std::ptr::eq(h.as_ptr(), Arc::as_ptr(handle)))
    }
}

// The initializer is `const`; clippy 1.96 with `-Zbuild-std` (the Windows build) says it is
// not, a false positive of the lint on that std's macro expansion.
#[allow(clippy::missing_const_for_thread_local)]
mod list {
    use std::cell::RefCell;
    thread_local! {
        pub(super) static HELD: RefCell<Vec<super::Entry>> = const { RefCell::new(Vec::new()) };
    }
}

fn with<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
    list::HELD.with(|h: &RefCell<Vec<Entry>>| f(&mut h.borrow_mut()))
}

/// Whether this thread holds mutex `id` (pruning stale entries first).
pub(super) fn holds(id: u64) -> bool {
    with(|h| {
        h.retain(|e| !e.stale());
        h.iter().any(|e| e.id == id)
    })
}

/// Records a lock of mutex `id` that a guard will unlock.
pub(super) fn push_guarded(id: u64) {
    with(|h| {
        h.push(Entry {
            id,
            how: How::Guarded,
        })
    });
}

/// Forgets the guarded lock of mutex `id` (its guard is unlocking it).
pub(super) fn forget_guarded(id: u64) {
    with(|h| {
        if let Some(i) = h
            .iter()
            .position(|e| e.id == id && matches!(e.how, How::Guarded))
        {
            h.swap_remove(i);
        }
    });
}

/// Turns the guarded lock of mutex `id` into one that `release` through `handle` unlocks.
pub(super) fn make_unguarded(id: u64, handle: &Arc<()>) {
    with(|h| {
        if let Some(e) = h
            .iter_mut()
            .find(|e| e.id == id && matches!(e.how, How::Guarded))
        {
            e.how = How::Unguarded(Arc::downgrade(handle));
        }
    });
}

/// Forgets the unguarded lock of mutex `id` taken through `handle`; false if there is none.
pub(super) fn forget_unguarded(id: u64, handle: &Arc<()>) -> bool {
    with(|h| {
        h.retain(|e| !e.stale());
        match h.iter().position(|e| e.unguarded_through(id, handle)) {
            Some(i) => {
                h.swap_remove(i);
                true
            }
            None => false,
        }
    })
}
