//! A synchronisation object's handle that `close()` lets go of: `NamedMutex`,
//! `NamedEvent` and `NamedSemaphore` are used by any thread at once (no turns), so each
//! call takes a reference to the handle for its length, and `close()` only drops the
//! object's own: the system handle closes when the calls in progress (a wait, say) end.

use std::sync::{Arc, Mutex, RwLock};

use pyo3::PyResult;

use crate::errors::closed;

pub(crate) struct Closable<T> {
    /// The object's kind ("mutex") and full name, kept for its repr and the error of a use
    /// after `close()`.
    kind: &'static str,
    name: String,
    handle: RwLock<Option<Arc<T>>>,
    /// The `with` blocks in progress: a block's end undoes what its start did through the
    /// handle it did it through, closed since or not (a mutex's lock belongs to that
    /// handle; a semaphore's unit would be lost).
    entered: Mutex<Vec<Entered<T>>>,
}

/// A `with` block in progress.
struct Entered<T> {
    /// The thread it started on (`sync::thread_number`).
    thread: u64,
    /// How many forks made the process it started in (`endpoint::forks`): a child made by
    /// `os.fork` inside the block inherits the record, not what the block took.
    forks: u64,
    handle: Arc<T>,
}

/// What ends a `with` block.
pub(crate) enum Exit<T> {
    /// Undo its start through this handle.
    Through(Arc<T>),
    /// Nothing: it started in the parent, before this process was forked, and what it took
    /// is the parent's to give back.
    Inherited,
    /// No block of this thread's is in progress.
    NoBlock,
}

impl<T> Closable<T> {
    pub(crate) fn new(kind: &'static str, name: String, handle: T) -> Closable<T> {
        Closable {
            kind,
            name,
            handle: RwLock::new(Some(Arc::new(handle))),
            entered: Mutex::new(Vec::new()),
        }
    }

    /// Notes that thread `thread`'s `with` block started through `handle`.
    pub(crate) fn enter(&self, thread: u64, handle: Arc<T>) {
        let mut entered = self.entered.lock().unwrap_or_else(|e| e.into_inner());
        entered.push(Entered {
            thread,
            forks: crate::endpoint::forks(),
            handle,
        });
    }

    /// Ends thread `thread`'s innermost `with` block, forgetting it; with `any_thread`, if
    /// the thread has none, the innermost of another thread's (a semaphore's unit is
    /// nobody's in particular: a block a generator started may end on another thread).
    pub(crate) fn exit(&self, thread: u64, any_thread: bool) -> Exit<T> {
        let mut entered = self.entered.lock().unwrap_or_else(|e| e.into_inner());
        let now = crate::endpoint::forks();
        // This thread's own block first, started in this process or before a fork (then
        // nothing is given back: a block another thread started here is not this one's);
        // then, if any thread's will do, another thread's, alike.
        let mut choices = vec![Some(thread)];
        if any_thread {
            choices.push(None);
        }
        for of in choices {
            let fits = |e: &Entered<T>| of.is_none_or(|t| e.thread == t);
            let current = entered.iter().rposition(|e| fits(e) && e.forks == now);
            if let Some(at) = current {
                return Exit::Through(entered.remove(at).handle);
            }
            if let Some(at) = entered.iter().rposition(fits) {
                entered.remove(at);
                return Exit::Inherited;
            }
        }
        Exit::NoBlock
    }

    /// Whether thread `thread` is inside a `with` block of this process's.
    pub(crate) fn entered_by(&self, thread: u64) -> bool {
        let entered = self.entered.lock().unwrap_or_else(|e| e.into_inner());
        let now = crate::endpoint::forks();
        entered.iter().any(|e| e.thread == thread && e.forks == now)
    }

    /// The handle, for one call; `ValueError` once closed.
    pub(crate) fn get(&self) -> PyResult<Arc<T>> {
        // (A panic while the lock was held cannot leave the `Option` half-written.)
        let handle = self.handle.read().unwrap_or_else(|e| e.into_inner());
        handle
            .clone()
            .ok_or_else(|| closed(&format!("the {} {}", self.kind, self.name)))
    }

    /// Lets go of the handle (again: nothing).
    pub(crate) fn close(&self) {
        let taken = self
            .handle
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // Dropped outside the lock: closing the system handle may take a system call.
        drop(taken);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.handle
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// The object's full name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The object's repr: `<filemap.NamedEvent 'Local\\x'>`, `closed` added once it is.
    pub(crate) fn repr(&self, class: &str) -> String {
        let closed = if self.is_closed() { " closed" } else { "" };
        format!("<filemap.{class} {}{closed}>", crate::py_quoted(&self.name))
    }
}
