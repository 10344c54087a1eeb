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
//!
//! A thread that exits holding unguarded locks leaves each abandoned (through its handle,
//! if that still lives), as Win32 abandons a mutex whose owning thread exits: the list's
//! destructor does it (on Windows the system does, and the call does nothing).
//!
//! A child made by `fork` has a copy of the forking thread's list, but none of its locks
//! (the copies of the guards unlock nothing there, and leave the list alone): the list
//! notes the fork generation its entries were made in, and entries of an earlier
//! generation are forgotten before a lock is looked up or recorded.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Weak};

/// A mutex handle, as the list knows it: what is left to do when a thread exits holding
/// the mutex through it without a guard.
pub(super) trait Handle: Send + Sync {
    fn abandon_for_exiting_thread(&self);
}

impl Handle for crate::sys::MutexObject {
    fn abandon_for_exiting_thread(&self) {
        crate::sys::MutexObject::abandon_for_exiting_thread(self);
    }
}

/// How a held mutex will be unlocked.
enum How {
    /// By dropping its guard (which borrows its handle, so the entry cannot go stale).
    Guarded,
    /// By `NamedMutex::release` through this handle.
    Unguarded(Weak<dyn Handle>),
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

    fn unguarded_through<H: Handle>(&self, id: u64, handle: &Arc<H>) -> bool {
        self.id == id
            && matches!(&self.how, How::Unguarded(h) if std::ptr::addr_eq(h.as_ptr(), Arc::as_ptr(handle)))
    }
}

/// How many guarded locks a thread keeps in its inline list before the rest go to the
/// general one.
const INLINE: usize = 8;

/// The guarded locks of a thread, the common case: mutex ids in a fixed array of cells.
/// It needs no destructor, so reaching it costs no lazy registration: one lock and unlock
/// through a guard touch only this.
struct Inline {
    ids: [Cell<u64>; INLINE],
    len: Cell<usize>,
    /// How many entries the general list holds (unguarded locks, and guarded ones past
    /// [`INLINE`]); it is looked at only when this is not zero.
    others: Cell<usize>,
    /// The fork generation (`sys::fork_generation`) the entries were made in, noted when
    /// the first goes in.
    generation: Cell<u64>,
}

// The initializers are `const`; clippy 1.96 with `-Zbuild-std` (the Windows build) says
// they are not, a false positive of the lint on that std's macro expansion.
#[allow(clippy::missing_const_for_thread_local)]
mod list {
    use std::cell::{Cell, RefCell};
    thread_local! {
        pub(super) static INLINE: super::Inline = const {
            super::Inline {
                ids: [const { Cell::new(0) }; super::INLINE],
                len: Cell::new(0),
                others: Cell::new(0),
                generation: Cell::new(0),
            }
        };
        pub(super) static OTHERS: super::Others = const { super::Others(RefCell::new(Vec::new())) };
    }
}

/// The general list: unguarded locks, and guarded ones past [`INLINE`].
struct Others(RefCell<Vec<Entry>>);

impl Drop for Others {
    /// The thread exits: the locks it holds without a guard are left abandoned. (A guard
    /// still alive now was leaked: its lock stays held while its handle lives, as a leaked
    /// guard's does.)
    fn drop(&mut self) {
        // (Windows abandons them itself; and there this runs under the loader lock, where
        // closing the last handle of a mutex had better not happen.)
        if cfg!(windows) {
            return;
        }
        for entry in self.0.get_mut().drain(..) {
            if let How::Unguarded(handle) = entry.how {
                if let Some(handle) = handle.upgrade() {
                    handle.abandon_for_exiting_thread();
                }
            }
        }
    }
}

fn inline<R>(f: impl FnOnce(&Inline) -> R) -> R {
    list::INLINE.with(f)
}

/// Runs `f` on the general list, keeping the inline count of its entries exact.
/// Once the thread's list is destroyed (a C library's exit handler or a later thread-local
/// destructor locking or releasing on a thread that is ending), `f` runs on an empty list.
fn others<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
    if list::OTHERS.try_with(|_| ()).is_err() {
        inline(|i| i.others.set(0));
        return f(&mut Vec::new());
    }
    list::OTHERS.with(|o: &Others| {
        let mut o = o.0.borrow_mut();
        let r = f(&mut o);
        let len = o.len();
        inline(|i| i.others.set(len));
        r
    })
}

impl Inline {
    /// Forgets entries copied from the parent's thread by `fork` (see the module's docs).
    fn forget_if_forked(&self) {
        let now = crate::sys::fork_generation();
        if self.generation.get() == now {
            return;
        }
        self.generation.set(now);
        self.len.set(0);
        if self.others.get() > 0 {
            let _ = list::OTHERS.try_with(|o| o.0.borrow_mut().clear());
            self.others.set(0);
        }
    }

    fn position(&self, id: u64) -> Option<usize> {
        (0..self.len.get()).rev().find(|&k| self.ids[k].get() == id)
    }

    /// Removes the id at `k` (the last one takes its place).
    fn remove(&self, k: usize) {
        let last = self.len.get() - 1;
        self.ids[k].set(self.ids[last].get());
        self.len.set(last);
    }
}

/// Whether this thread holds mutex `id` (pruning stale entries first).
pub(super) fn holds(id: u64) -> bool {
    let (found, others) = inline(|i| {
        i.forget_if_forked();
        (i.position(id).is_some(), i.others.get())
    });
    found
        || (others > 0
            && self::others(|h| {
                h.retain(|e| !e.stale());
                h.iter().any(|e| e.id == id)
            }))
}

/// Records a lock of mutex `id` that a guard will unlock, about to be taken: false (and
/// nothing recorded) if this thread holds it already, or if it cannot be recorded (see
/// [`push_guarded`]). The caller forgets it again if the lock is not taken after all.
#[inline]
pub(super) fn claim(id: u64) -> bool {
    // The common case, inlined into the lock: this thread holds no mutex.
    let first = inline(|i| {
        let none = i.len.get() == 0 && i.others.get() == 0;
        if none {
            i.ids[0].set(id);
            i.len.set(1);
            i.generation.set(crate::sys::fork_generation());
        }
        none
    });
    first || claim_among_others(id)
}

/// `claim` when this thread holds other mutexes already.
#[inline(never)]
fn claim_among_others(id: u64) -> bool {
    let claimed = inline(|i| {
        i.forget_if_forked();
        let len = i.len.get();
        if len == INLINE || i.others.get() > 0 || i.position(id).is_some() {
            return None;
        }
        i.ids[len].set(id);
        i.len.set(len + 1);
        Some(true)
    });
    claimed.unwrap_or_else(|| {
        // The general case, with the general list.
        !holds(id) && push_guarded(id)
    })
}

/// Records a lock of mutex `id` that a guard will unlock; false, recording nothing, on a
/// thread whose general list is destroyed already (it is ending: see [`others`]) when
/// the inline one is full: a relock of it could then not be told.
pub(super) fn push_guarded(id: u64) -> bool {
    let kept = inline(|i| {
        i.forget_if_forked();
        let len = i.len.get();
        if len == INLINE {
            return false;
        }
        i.ids[len].set(id);
        i.len.set(len + 1);
        true
    });
    if kept {
        return true;
    }
    if list::OTHERS.try_with(|_| ()).is_err() {
        return false;
    }
    others(|h| {
        h.push(Entry {
            id,
            how: How::Guarded,
        })
    });
    true
}

/// Forgets the guarded lock of mutex `id` (its guard is unlocking it); whether there was one.
#[inline]
pub(super) fn forget_guarded(id: u64) -> bool {
    // The common case, inlined into the unlock: the only mutex this thread holds.
    let only = inline(|i| {
        let only = i.len.get() == 1 && i.ids[0].get() == id;
        if only {
            i.len.set(0);
        }
        only
    });
    only || forget_guarded_among_others(id)
}

/// `forget_guarded` when this thread holds other mutexes, or not this one.
#[inline(never)]
fn forget_guarded_among_others(id: u64) -> bool {
    inline(Inline::forget_if_forked);
    let (found, others) = inline(|i| match i.position(id) {
        Some(k) => {
            i.remove(k);
            (true, 0)
        }
        None => (false, i.others.get()),
    });
    found
        || (others > 0
            && self::others(|h| {
                match h
                    .iter()
                    .position(|e| e.id == id && matches!(e.how, How::Guarded))
                {
                    Some(k) => {
                        h.swap_remove(k);
                        true
                    }
                    None => false,
                }
            }))
}

/// Turns the guarded lock of mutex `id` into one that `release` through `handle` unlocks;
/// false, changing nothing, on a thread whose list is destroyed already (it is ending:
/// see [`others`]), where the lock could be neither released nor abandoned at its end.
pub(super) fn make_unguarded<H: Handle + 'static>(id: u64, handle: &Arc<H>) -> bool {
    inline(Inline::forget_if_forked);
    if list::OTHERS.try_with(|_| ()).is_err() {
        return false;
    }
    if forget_guarded(id) {
        others(|h| {
            h.push(Entry {
                id,
                how: How::Unguarded(Arc::downgrade(handle) as Weak<dyn Handle>),
            })
        });
    }
    true
}

/// Forgets the unguarded lock of mutex `id` taken through `handle`; false if there is none.
pub(super) fn forget_unguarded<H: Handle>(id: u64, handle: &Arc<H>) -> bool {
    inline(Inline::forget_if_forked);
    if inline(|i| i.others.get()) == 0 {
        return false;
    }
    others(|h| {
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

#[cfg(test)]
mod tests {
    use super::*;

    impl Handle for () {
        fn abandon_for_exiting_thread(&self) {}
    }

    /// More locks than the inline list holds, guarded and unguarded, released in an order
    /// unlike the one they were taken in.
    #[test]
    fn many_locks_of_both_kinds() {
        let ids: Vec<u64> = (1..=INLINE as u64 + 5).map(|k| k * 1000).collect();
        for &id in &ids {
            assert!(claim(id), "{id}");
        }
        for &id in &ids {
            assert!(holds(id) && !claim(id), "{id} relocked");
        }
        let handle = Arc::new(());
        make_unguarded(ids[2], &handle);
        make_unguarded(ids[INLINE + 1], &handle);
        assert!(holds(ids[2]) && !claim(ids[2]));
        assert!(!forget_guarded(ids[2]), "no longer guarded");
        let other = Arc::new(());
        assert!(
            !forget_unguarded(ids[2], &other),
            "taken through another handle"
        );
        for (k, &id) in ids.iter().enumerate().rev() {
            if k == 2 || k == INLINE + 1 {
                assert!(forget_unguarded(id, &handle), "{id}");
            } else {
                assert!(forget_guarded(id), "{id}");
            }
            assert!(!holds(id), "{id} still held");
        }
        assert!(inline(|i| i.len.get() == 0 && i.others.get() == 0));
        assert!(claim(ids[0]) && forget_guarded(ids[0]));
    }

    /// Entries made before a `fork` (an earlier generation) are forgotten at the first
    /// look in the child, and what the child then records is kept.
    #[test]
    fn entries_of_an_earlier_fork_generation_are_forgotten() {
        let handle = Arc::new(());
        let ids: Vec<u64> = (1..=INLINE as u64 + 2).map(|k| k * 77).collect();
        for &id in &ids {
            assert!(claim(id));
        }
        make_unguarded(ids[0], &handle);
        // As if this thread were the copy a fork made: its list is of the parent's time.
        inline(|i| i.generation.set(i.generation.get().wrapping_add(1)));
        for &id in &ids {
            assert!(!holds(id), "{id}, the parent's, still held");
        }
        assert!(inline(|i| i.len.get() == 0 && i.others.get() == 0));
        assert!(claim(ids[1]) && holds(ids[1]) && !claim(ids[1]));
        assert!(forget_guarded(ids[1]) && !holds(ids[1]));
    }

    /// An unguarded lock whose handle is gone is forgotten on Linux (the lock went with the
    /// handle) and kept on Windows (the thread still owns the kernel mutex).
    #[test]
    fn an_unguarded_lock_of_a_dropped_handle() {
        let handle = Arc::new(());
        assert!(claim(7));
        make_unguarded(7, &handle);
        drop(handle);
        assert_eq!(holds(7), cfg!(windows));
        if cfg!(windows) {
            others(|h| h.clear());
        }
        assert!(inline(|i| i.others.get() == 0));
    }
}
