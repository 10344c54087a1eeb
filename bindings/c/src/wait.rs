//! `filemap_wait_any` and `filemap_wait_all`: Win32's `WaitForMultipleObjects` over events,
//! semaphores, mutexes and the endpoints of channels, topics, inboxes and services. A
//! mutex taken by a wait stays locked for `filemap_mutex_release`, as one taken by
//! `filemap_mutex_lock`.

use std::ffi::c_void;

use filemap_core::wait::{Taken, Target, Waitable};

use crate::channel::{filemap_receiver, filemap_sender};
use crate::error::{Failure, check_slice, filemap_status, put, put_optional, run, timeout_arg};
use crate::handle::{check, handle, shared};
use crate::parties::{filemap_inbox, filemap_inbox_sender, filemap_server};
use crate::sync::{filemap_event, filemap_mutex, filemap_semaphore};
use crate::topic::filemap_subscriber;

/// The kind of handle a `filemap_waitable` holds.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum filemap_wait_kind {
    /// A `filemap_event *`: ready when set (an auto-reset event's signal is taken).
    FILEMAP_WAIT_EVENT = 0,
    /// A `filemap_semaphore *`: ready when it has a unit (which is taken).
    FILEMAP_WAIT_SEMAPHORE = 1,
    /// A `filemap_mutex *`: ready when free or abandoned (it is then locked for the
    /// calling thread).
    FILEMAP_WAIT_MUTEX = 2,
    /// A `filemap_receiver *`: ready when a message is there, or the sender is gone, or
    /// the sender has just wrapped around the ring (the next receive then waits for the
    /// message after the wrap, and gives the sender the wrap's bytes back). The message it
    /// held is released before the wait (a wait refused, for a bad argument or a mutex
    /// this thread holds, releases nothing).
    FILEMAP_WAIT_RECEIVER = 3,
    /// A `filemap_sender *`: ready when there is room for a message of `room` bytes (1 if
    /// 0), or the receiver is gone; or at once if a send would fail at once (`room` longer
    /// than the longest message: the send is then refused).
    FILEMAP_WAIT_SENDER = 4,
    /// A `filemap_subscriber *`: ready when a message is there, messages were missed, or
    /// the publisher is gone, or has just wrapped around the ring (as for a receiver).
    FILEMAP_WAIT_SUBSCRIBER = 5,
    /// A `filemap_inbox *`: ready when a message from some sender is there, or every
    /// sender that came is gone, or one has just wrapped around its ring (as for a
    /// receiver).
    FILEMAP_WAIT_INBOX = 6,
    /// A `filemap_inbox_sender *`: ready when there is room for `room` bytes (1 if 0) in
    /// its ring, or the receiver is gone; or at once if a send would fail at once (as for
    /// a sender).
    FILEMAP_WAIT_INBOX_SENDER = 7,
    /// A `filemap_server *`: ready when a request is there, or a client has just wrapped
    /// around its ring (as for a receiver); clients leaving do not make it ready.
    FILEMAP_WAIT_SERVER = 8,
}

use filemap_wait_kind::*;

/// Every kind, to find the one a number names.
const KINDS: [filemap_wait_kind; 9] = [
    FILEMAP_WAIT_EVENT,
    FILEMAP_WAIT_SEMAPHORE,
    FILEMAP_WAIT_MUTEX,
    FILEMAP_WAIT_RECEIVER,
    FILEMAP_WAIT_SENDER,
    FILEMAP_WAIT_SUBSCRIBER,
    FILEMAP_WAIT_INBOX,
    FILEMAP_WAIT_INBOX_SENDER,
    FILEMAP_WAIT_SERVER,
];

/// One object of a wait: its kind and its handle.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct filemap_waitable {
    /// What `handle` is: a `filemap_wait_kind` (a fixed-size integer, so that the struct's
    /// layout does not depend on how the compiler sizes enums).
    pub kind: u32,
    /// The handle, of the kind's type (a handle of another type is refused with
    /// `FILEMAP_INVALID_ARGUMENT`).
    pub handle: *mut c_void,
    /// For a sender: the room to wait for, in bytes (0 means 1). Not read otherwise (it may
    /// be left unset).
    pub room: usize,
}

/// `FILEMAP_INVALID_ARGUMENT` unless `h` is a live handle of the type `kind` names (its tag
/// is checked: a handle of another type is not read as this one).
///
/// # Safety
/// `h` is NULL or a live handle of this library (of any type).
unsafe fn check_kind(kind: filemap_wait_kind, h: *mut c_void, what: &str) -> Result<(), Failure> {
    // SAFETY (every arm): the caller's contract.
    unsafe {
        match kind {
            FILEMAP_WAIT_EVENT => check(h.cast::<filemap_event>(), what),
            FILEMAP_WAIT_SEMAPHORE => check(h.cast::<filemap_semaphore>(), what),
            FILEMAP_WAIT_MUTEX => check(h.cast::<filemap_mutex>(), what),
            FILEMAP_WAIT_RECEIVER => check(h.cast::<filemap_receiver>(), what),
            FILEMAP_WAIT_SENDER => check(h.cast::<filemap_sender>(), what),
            FILEMAP_WAIT_SUBSCRIBER => check(h.cast::<filemap_subscriber>(), what),
            FILEMAP_WAIT_INBOX => check(h.cast::<filemap_inbox>(), what),
            FILEMAP_WAIT_INBOX_SENDER => check(h.cast::<filemap_inbox_sender>(), what),
            FILEMAP_WAIT_SERVER => check(h.cast::<filemap_server>(), what),
        }
    }
}

/// The objects of a wait (`all`: of a `filemap_wait_all`), borrowed from their handles
/// for the call, once the wait's refusals are ruled out.
///
/// # Safety
/// `objects` is NULL or valid for reads of `count` waitables; each handle is NULL or a live
/// handle of this library (of any type: one not of its kind is refused); the receivers',
/// senders', subscribers', inboxes' and servers' handles are used by no other thread during
/// the call.
unsafe fn targets<'a>(
    objects: *const filemap_waitable,
    count: usize,
    all: bool,
) -> Result<Vec<Target<'a>>, Failure> {
    if count == 0 {
        return Err(Failure::invalid("a wait on no objects (count is 0)"));
    }
    check_slice(objects, count, "objects")?;
    // Each entry's fields are read one by one through the pointer, never as a whole
    // struct: the header lets a caller leave `room` unset where it is ignored, and Rust
    // must not read memory that was never written.
    let raw: Vec<(u32, *mut c_void)> = (0..count)
        .map(|i| {
            // SAFETY: `objects` is non-NULL, aligned and valid for reads of `count`
            // waitables (checked above and the caller's contract), so entry `i < count`'s
            // `kind` and `handle`, which the caller sets, are readable; each is a plain
            // integer or pointer.
            unsafe {
                let entry = objects.add(i);
                (
                    std::ptr::addr_of!((*entry).kind).read(),
                    std::ptr::addr_of!((*entry).handle).read(),
                )
            }
        })
        .collect();
    // Every entry is checked before any is used (a receiver's held message is released
    // when it is used).
    let mut kinds = Vec::with_capacity(count);
    for (i, &(kind, handle)) in raw.iter().enumerate() {
        if handle.is_null() {
            return Err(Failure::invalid(format!("object {i}'s handle is NULL")));
        }
        let kind = KINDS
            .into_iter()
            .find(|k| *k as u32 == kind)
            .ok_or_else(|| {
                Failure::invalid(format!(
                    "object {i}'s kind is {kind}, which is no filemap_wait_kind"
                ))
            })?;
        // SAFETY: a live handle of this library (the caller's contract).
        unsafe { check_kind(kind, handle, &format!("object {i}'s handle")) }?;
        kinds.push(kind);
    }
    // As Win32 refuses a handle given twice: it would also be borrowed twice here.
    let mut order: Vec<(usize, usize)> = raw
        .iter()
        .enumerate()
        .map(|(i, &(_, h))| (h as usize, i))
        .collect();
    order.sort_unstable();
    if let Some(w) = order.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Failure::invalid(format!(
            "object {} is object {} again (each object may be waited on once)",
            w[1].1, w[0].1
        )));
    }
    // The wait's own refusals come before any receiver's held message is released: a
    // refused wait changes nothing. (They are about the other objects only.)
    let others: Vec<usize> = (0..count)
        .filter(|&i| kinds[i] != FILEMAP_WAIT_RECEIVER)
        .collect();
    if others.len() < count && !others.is_empty() {
        let mut checked = Vec::with_capacity(others.len());
        for &i in &others {
            // SAFETY: entry `i` of `objects` (valid for `count`), its handle checked of its
            // kind, distinct from the others; no receiver is among them, and the
            // one-thread handles are used by no other thread (the caller's contract).
            checked.push(unsafe { target(objects, i, raw[i].1, kinds[i]) }?);
        }
        let list: Vec<&dyn Waitable> = checked.iter().map(|t| t as &dyn Waitable).collect();
        filemap_core::wait::check(&list, all).map_err(|e| match e {
            // An index into `others` is said as the caller's own.
            filemap_core::Error::InvalidSetting {
                setting,
                value,
                allowed,
            } if setting.ends_with("at index") => filemap_core::Error::InvalidSetting {
                setting,
                value: usize::try_from(value)
                    .ok()
                    .and_then(|at| others.get(at))
                    .map_or(value, |&i| i as u64),
                allowed,
            },
            e => e,
        })?;
    }
    let mut targets = Vec::with_capacity(count);
    for (i, (&(_, h), kind)) in raw.iter().zip(kinds).enumerate() {
        // SAFETY: a live handle of the kind the caller named (its tag checked above, and
        // again in `target`), distinct from the others (checked above), so the exclusive
        // borrows of the one-thread handles do not alias; no other thread uses those
        // during the call (the caller's contract).
        targets.push(unsafe { target(objects, i, h, kind) }?);
    }
    Ok(targets)
}

/// The target of entry `i` of `objects`, whose handle is `h` and kind `kind` (a
/// receiver's held message is released).
///
/// # Safety
/// `objects` is valid for reads of more than `i` waitables; `h` is entry `i`'s handle, a
/// live handle of `kind`'s type (or of another type of this library: then it is refused),
/// not borrowed elsewhere while the target lives if it is a one-thread handle (receiver,
/// sender, subscriber, inbox, inbox sender, server) used by no other thread meanwhile.
unsafe fn target<'a>(
    objects: *const filemap_waitable,
    i: usize,
    h: *mut c_void,
    kind: filemap_wait_kind,
) -> Result<Target<'a>, Failure> {
    // A sender's room, read only for senders (0 means 1).
    // SAFETY: entry `i` is readable (the contract), and the caller sets a sender's `room`
    // (the header says so).
    let room = || unsafe { std::ptr::addr_of!((*objects.add(i)).room).read() }.max(1);
    let what = "a waited handle";
    // SAFETY (every arm): a live handle of the kind named (its tag is checked again by
    // `shared` and `handle`), borrowed as the contract allows.
    unsafe {
        Ok(match kind {
            FILEMAP_WAIT_EVENT => Target::Event(&shared(h.cast::<filemap_event>(), what)?.0),
            FILEMAP_WAIT_SEMAPHORE => {
                Target::Semaphore(&shared(h.cast::<filemap_semaphore>(), what)?.0)
            }
            FILEMAP_WAIT_MUTEX => Target::Mutex(&shared(h.cast::<filemap_mutex>(), what)?.0),
            FILEMAP_WAIT_RECEIVER => {
                Target::Receiver(handle(h.cast::<filemap_receiver>(), what)?.0.receiver())
            }
            FILEMAP_WAIT_SENDER => {
                Target::Sender(&shared(h.cast::<filemap_sender>(), what)?.0, room())
            }
            FILEMAP_WAIT_SUBSCRIBER => {
                Target::Subscriber(&shared(h.cast::<filemap_subscriber>(), what)?.subscriber)
            }
            FILEMAP_WAIT_INBOX => Target::Inbox(&shared(h.cast::<filemap_inbox>(), what)?.inbox),
            FILEMAP_WAIT_INBOX_SENDER => {
                Target::Sender(&shared(h.cast::<filemap_inbox_sender>(), what)?.0, room())
            }
            FILEMAP_WAIT_SERVER => shared(h.cast::<filemap_server>(), what)?.server.target(),
        })
    }
}

/// A mutex taken by a wait stays locked for `filemap_mutex_release`; whether it was
/// abandoned.
fn keep_locked(taken: Taken<'_>) -> bool {
    match taken {
        Taken::Lock(guard) => guard.into_unguarded(),
        _ => false,
    }
}

/// Waits up to `timeout_ms` (`FILEMAP_INFINITE`: for ever) until one of the `count`
/// objects is ready, and takes it as a wait on it alone would: `*index` is the lowest
/// index ready (as `WaitForMultipleObjects` with `bWaitAll` FALSE), `*abandoned` (if not
/// NULL) whether it is a mutex whose holder died. `FILEMAP_TIMEOUT` if none was ready in
/// time; `FILEMAP_INVALID_ARGUMENT` for no objects, a `count` too large, a NULL handle, an
/// unknown kind, a handle not of its kind or a handle given twice; `FILEMAP_WOULD_DEADLOCK`
/// for a mutex this thread holds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_wait_any(
    objects: *const filemap_waitable,
    count: usize,
    timeout_ms: i64,
    index: *mut usize,
    abandoned: *mut bool,
) -> filemap_status {
    run(|| {
        if index.is_null() {
            return Err(Failure::invalid("index is NULL"));
        }
        let timeout = timeout_arg(timeout_ms)?;
        // SAFETY: the caller's contract for `objects`, `count` and the handles.
        let targets = unsafe { targets(objects, count, false) }?;
        let list: Vec<&dyn Waitable> = targets.iter().map(|t| t as &dyn Waitable).collect();
        let ready = filemap_core::wait_any(&list, timeout)?;
        let i = ready.index;
        let was_abandoned = keep_locked(ready.taken);
        // SAFETY: `index` checked non-NULL; both valid for writes (the caller's contract).
        unsafe {
            put(index, i, "index")?;
            put_optional(abandoned, was_abandoned);
        }
        Ok(())
    })
}

/// Waits up to `timeout_ms` (`FILEMAP_INFINITE`: for ever) until all `count` objects are
/// ready at once, and takes them all together: it never holds some while it waits for the
/// others (as `WaitForMultipleObjects` with `bWaitAll` TRUE). `abandoned` (if not NULL)
/// points to `count` bools: for each, whether it is a mutex whose holder died (on
/// Windows, whose wait names only one abandoned mutex, every mutex of the set is said to
/// be abandoned when one was: check the state of each). Errors as `filemap_wait_any`, and
/// `FILEMAP_INVALID_ARGUMENT` for one event, semaphore or mutex given through two handles
/// (it could never be taken twice) and, on Windows, for more than 64 events, semaphores
/// and mutexes in all; after `FILEMAP_TIMEOUT` nothing was taken.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_wait_all(
    objects: *const filemap_waitable,
    count: usize,
    timeout_ms: i64,
    abandoned: *mut bool,
) -> filemap_status {
    run(|| {
        let timeout = timeout_arg(timeout_ms)?;
        // SAFETY: the caller's contract for `objects`, `count` and the handles.
        let targets = unsafe { targets(objects, count, true) }?;
        let list: Vec<&dyn Waitable> = targets.iter().map(|t| t as &dyn Waitable).collect();
        let taken = filemap_core::wait_all(&list, timeout)?;
        for (i, t) in taken.into_iter().enumerate() {
            let was_abandoned = keep_locked(t);
            if !abandoned.is_null() {
                // SAFETY: `abandoned` points to `count` bools (the caller's contract), and
                // `i < count` (at most isize::MAX / sizeof(filemap_waitable), checked).
                unsafe { abandoned.add(i).write(was_abandoned) };
            }
        }
        Ok(())
    })
}
