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
    /// The handles of the `with` blocks in progress, and their threads: a block's end
    /// undoes what its start did through the handle it did it through, closed since or not
    /// (a mutex's lock belongs to that handle; a semaphore's unit would be lost).
    entered: Mutex<Vec<(u64, Arc<T>)>>,
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
        entered.push((thread, handle));
    }

    /// The handle thread `thread`'s innermost `with` block started through, forgotten.
    pub(crate) fn exit(&self, thread: u64) -> Option<Arc<T>> {
        let mut entered = self.entered.lock().unwrap_or_else(|e| e.into_inner());
        let at = entered.iter().rposition(|(t, _)| *t == thread)?;
        Some(entered.remove(at).1)
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
        format!("<filemap.{class} {:?}{closed}>", self.name)
    }
}
