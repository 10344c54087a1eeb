//! Named mutexes, events and semaphores: Win32's `CreateMutex` / `WaitForSingleObject` /
//! `ReleaseMutex`, `CreateEvent` / `SetEvent`, `CreateSemaphore` / `ReleaseSemaphore`.
//! These handles may be used from any thread at once; a mutex is held by the thread that
//! locked it.

use std::ffi::c_char;

use filemap_core::Disposition;
use filemap_core::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore};

use crate::error::{
    Failure, check_out, filemap_status, put, put_optional, run, str_arg, timeout_arg,
};
use crate::handle::{Handle, free, handle_type, new_handle, shared};

/// A named, robust mutex (opaque). Usable from several threads at once; a lock is held by
/// the thread that took it, which releases it.
pub struct filemap_mutex(pub(crate) NamedMutex);
handle_type!(filemap_mutex, shared);

/// A named event (opaque). Usable from several threads at once.
pub struct filemap_event(pub(crate) NamedEvent);
handle_type!(filemap_event, shared);

/// A named counting semaphore (opaque). Usable from several threads at once.
pub struct filemap_semaphore(pub(crate) NamedSemaphore);
handle_type!(filemap_semaphore, shared);

/// Stores a new handle in `*out` and `created` in `*created` (if not NULL).
///
/// # Safety
/// `out` is valid for a write (checked non-NULL by the caller), `created` NULL or valid.
unsafe fn hand_out<T: Handle>(
    out: *mut *mut T,
    object: T,
    created: *mut bool,
    d: Disposition,
) -> Result<(), Failure> {
    // SAFETY: the caller's contract.
    unsafe {
        put(out, new_handle(object), "out")?;
        put_optional(created, d == Disposition::Created);
    }
    Ok(())
}

/// Creates the named mutex or opens the existing one; `*created` (if not NULL) says which.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mutex_create_or_open(
    name: *const c_char,
    out: *mut *mut filemap_mutex,
    created: *mut bool,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let (m, d) = NamedMutex::create_or_open(name)?;
        // SAFETY: `out` checked non-NULL; the caller's contract for both pointers.
        unsafe { hand_out(out, filemap_mutex(m), created, d) }
    })
}

/// Opens an existing named mutex.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mutex_open(
    name: *const c_char,
    out: *mut *mut filemap_mutex,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let m = NamedMutex::open(name)?;
        unsafe { put(out, new_handle(filemap_mutex(m)), "out") }
    })
}

/// Locks the mutex for the calling thread, waiting up to `timeout_ms`
/// (`FILEMAP_INFINITE`: for ever). `*abandoned` (if not NULL) is set to whether its
/// previous holder died holding it (`WAIT_ABANDONED`: check the state it protects).
/// `FILEMAP_TIMEOUT` after the timeout; `FILEMAP_WOULD_DEADLOCK` if this thread holds it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mutex_lock(
    mutex: *mut filemap_mutex,
    timeout_ms: i64,
    abandoned: *mut bool,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `mutex`.
        let m = unsafe { shared(mutex, "mutex") }?;
        let was_abandoned = m.0.lock_unguarded(timeout_arg(timeout_ms)?)?;
        // SAFETY: the caller's contract for `abandoned`.
        unsafe { put_optional(abandoned, was_abandoned) };
        Ok(())
    })
}

/// Unlocks the mutex the calling thread locked through this handle; `FILEMAP_NOT_OWNER`
/// otherwise (another thread's lock, or one taken through another handle on the same
/// mutex).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mutex_release(mutex: *mut filemap_mutex) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `mutex`.
        let m = unsafe { shared(mutex, "mutex") }?;
        Ok(m.0.release()?)
    })
}

/// Closes a mutex handle (NULL: nothing). A lock still held through it is not released:
/// the next holder sees the mutex abandoned (on Windows once the locking thread exits), as
/// after Win32's `CloseHandle` on an owned mutex.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mutex_close(mutex: *mut filemap_mutex) {
    // SAFETY: the caller's contract.
    unsafe { free(mutex) }
}

/// Creates the named event or opens the existing one (which keeps its mode and state);
/// `*created` (if not NULL) says which. `manual_reset`: stays set until reset (else one
/// waiter per set); `initially_set`: its state when created.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_event_create_or_open(
    name: *const c_char,
    manual_reset: bool,
    initially_set: bool,
    out: *mut *mut filemap_event,
    created: *mut bool,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let reset = if manual_reset {
            EventReset::Manual
        } else {
            EventReset::Auto
        };
        let (e, d) = NamedEvent::create_or_open(name, reset, initially_set)?;
        // SAFETY: `out` checked non-NULL; the caller's contract for both pointers.
        unsafe { hand_out(out, filemap_event(e), created, d) }
    })
}

/// Opens an existing named event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_event_open(
    name: *const c_char,
    out: *mut *mut filemap_event,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let e = NamedEvent::open(name)?;
        unsafe { put(out, new_handle(filemap_event(e)), "out") }
    })
}

/// Sets the event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_event_set(event: *mut filemap_event) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `event`.
        Ok(unsafe { shared(event, "event") }?.0.set()?)
    })
}

/// Resets the event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_event_reset(event: *mut filemap_event) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `event`.
        Ok(unsafe { shared(event, "event") }?.0.reset()?)
    })
}

/// Waits until the event is set, up to `timeout_ms` (`FILEMAP_INFINITE`: for ever);
/// `FILEMAP_TIMEOUT` after that.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_event_wait(
    event: *mut filemap_event,
    timeout_ms: i64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `event`.
        let e = unsafe { shared(event, "event") }?;
        match timeout_arg(timeout_ms)? {
            None => Ok(e.0.wait()?),
            Some(t) => Ok(e.0.wait_timeout(t)?),
        }
    })
}

/// Closes an event handle (NULL: nothing).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_event_close(event: *mut filemap_event) {
    // SAFETY: the caller's contract.
    unsafe { free(event) }
}

/// Creates the named semaphore with `initial` units and at most `maximum`, or opens the
/// existing one (which keeps its counts); `*created` (if not NULL) says which. `maximum`
/// is 1 to `INT32_MAX` and `initial` at most `maximum` (else `FILEMAP_INVALID_ARGUMENT`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_semaphore_create_or_open(
    name: *const c_char,
    initial: u32,
    maximum: u32,
    out: *mut *mut filemap_semaphore,
    created: *mut bool,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let (s, d) = NamedSemaphore::create_or_open(name, initial, maximum)?;
        // SAFETY: `out` checked non-NULL; the caller's contract for both pointers.
        unsafe { hand_out(out, filemap_semaphore(s), created, d) }
    })
}

/// Opens an existing named semaphore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_semaphore_open(
    name: *const c_char,
    out: *mut *mut filemap_semaphore,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let s = NamedSemaphore::open(name)?;
        unsafe { put(out, new_handle(filemap_semaphore(s)), "out") }
    })
}

/// Adds `count` units; `*previous` (if not NULL) gets the count before.
/// `FILEMAP_INVALID_ARGUMENT` past the maximum, and for a `count` of 0 (as Win32's
/// `ReleaseSemaphore` refuses it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_semaphore_release(
    semaphore: *mut filemap_semaphore,
    count: u32,
    previous: *mut u32,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `semaphore` and `previous`.
        let before = unsafe { shared(semaphore, "semaphore") }?
            .0
            .release(count)?;
        unsafe { put_optional(previous, before) };
        Ok(())
    })
}

/// Takes a unit, waiting up to `timeout_ms` (`FILEMAP_INFINITE`: for ever).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_semaphore_acquire(
    semaphore: *mut filemap_semaphore,
    timeout_ms: i64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `semaphore`.
        let s = unsafe { shared(semaphore, "semaphore") }?;
        match timeout_arg(timeout_ms)? {
            None => Ok(s.0.acquire()?),
            Some(t) => Ok(s.0.acquire_timeout(t)?),
        }
    })
}

/// Closes a semaphore handle (NULL: nothing).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_semaphore_close(semaphore: *mut filemap_semaphore) {
    // SAFETY: the caller's contract.
    unsafe { free(semaphore) }
}
