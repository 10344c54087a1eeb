//! Status codes, the calling thread's last error message, and the guard every exported
//! function runs in (argument checks, filemap errors to codes, panics caught).

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// What a call did: `FILEMAP_OK` (0), or why it failed.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum filemap_status {
    /// Success.
    FILEMAP_OK = 0,
    /// No object has that name.
    FILEMAP_NOT_FOUND = 1,
    /// A create-new call found the name taken.
    FILEMAP_ALREADY_EXISTS = 2,
    /// Permissions, ownership or the access mode forbid it.
    FILEMAP_ACCESS_DENIED = 3,
    /// A wait ran past its timeout.
    FILEMAP_TIMEOUT = 4,
    /// The peer endpoint is gone (and everything it sent was received).
    FILEMAP_DISCONNECTED = 5,
    /// An argument is NULL, out of range or malformed (a name, a size, an offset).
    FILEMAP_INVALID_ARGUMENT = 6,
    /// Releasing a mutex this thread does not hold.
    FILEMAP_NOT_OWNER = 7,
    /// This thread already holds the mutex.
    FILEMAP_WOULD_DEADLOCK = 8,
    /// The name belongs to an object of another kind.
    FILEMAP_KIND_MISMATCH = 9,
    /// An object's shared state is damaged or of another layout.
    FILEMAP_CORRUPT = 10,
    /// The endpoint, slot or name is taken by a live process.
    FILEMAP_BUSY = 11,
    /// The memory under a view could not be read or written (truncated file, I/O error).
    FILEMAP_PAGE_FAULT = 12,
    /// The system could not allocate the object's memory.
    FILEMAP_NO_SPACE = 13,
    /// This platform or object cannot do what was asked.
    FILEMAP_UNSUPPORTED = 14,
    /// Another operating-system error.
    FILEMAP_SYSTEM_ERROR = 15,
    /// A bug in filemap (a Rust panic, caught at the boundary).
    FILEMAP_PANIC = 16,
    /// Another error.
    FILEMAP_OTHER = 17,
    /// A topic subscriber fell behind and missed messages (`drop_oldest` topics); it goes
    /// on at the oldest message still there.
    FILEMAP_LAGGED = 18,
}

use filemap_status::*;

/// A failed call: its status and message.
pub(crate) struct Failure {
    status: filemap_status,
    message: String,
}

impl Failure {
    pub(crate) fn new(status: filemap_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(FILEMAP_INVALID_ARGUMENT, message)
    }
}

impl From<filemap_core::Error> for Failure {
    fn from(e: filemap_core::Error) -> Failure {
        Failure::new(status_of(&e), e.to_string())
    }
}

fn status_of(error: &filemap_core::Error) -> filemap_status {
    use filemap_core::ErrorCategory as C;
    match error.category() {
        C::NotFound => FILEMAP_NOT_FOUND,
        C::AlreadyExists => FILEMAP_ALREADY_EXISTS,
        C::AccessDenied => FILEMAP_ACCESS_DENIED,
        C::Timeout => FILEMAP_TIMEOUT,
        C::Disconnected => FILEMAP_DISCONNECTED,
        C::InvalidArgument => FILEMAP_INVALID_ARGUMENT,
        C::NotOwner => FILEMAP_NOT_OWNER,
        C::WouldDeadlock => FILEMAP_WOULD_DEADLOCK,
        C::KindMismatch => FILEMAP_KIND_MISMATCH,
        C::Corrupt => FILEMAP_CORRUPT,
        C::Busy => FILEMAP_BUSY,
        C::PageFault => FILEMAP_PAGE_FAULT,
        C::NoSpace => FILEMAP_NO_SPACE,
        C::Unsupported => FILEMAP_UNSUPPORTED,
        C::System => FILEMAP_SYSTEM_ERROR,
        C::Lagged => FILEMAP_LAGGED,
        _ => FILEMAP_OTHER,
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = message);
}

/// Runs an exported function's body: its failure is recorded as the thread's last error
/// and returned as a status; a panic becomes `FILEMAP_PANIC`.
pub(crate) fn run(body: impl FnOnce() -> Result<(), Failure>) -> filemap_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => FILEMAP_OK,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.status
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_last_error(&format!("internal error (a bug in filemap): {what}"));
            FILEMAP_PANIC
        }
    }
}

/// A NUL-terminated UTF-8 argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: the caller's contract: a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Failure::invalid(format!("{what} is not valid UTF-8")))
}

/// `len` bytes at `data` (NULL only with `len` 0), read by the call.
///
/// # Safety
/// `data` is NULL or valid for reads of `len` bytes that nobody writes during the call.
pub(crate) unsafe fn bytes_arg<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::invalid("data is NULL"));
    }
    // SAFETY: non-NULL, and valid for reads of `len` bytes (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// Writes `value` through an out-pointer that must not be NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and valid for a write by the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Writes `value` through an optional out-pointer (NULL: not wanted).
///
/// # Safety
/// `out` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn put_optional<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL, and valid for a write by the caller's contract.
        unsafe { out.write(value) };
    }
}

/// `FILEMAP_INVALID_ARGUMENT` for a NULL out-pointer, checked before an object is made
/// (which would otherwise leak, holding its name or endpoint).
pub(crate) fn check_out<T>(out: *mut T) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::invalid("out is NULL"));
    }
    Ok(())
}

/// A shared reference behind a handle that must not be NULL (for handles that several
/// threads may use at once).
///
/// # Safety
/// `handle` is NULL or a live handle of this type.
pub(crate) unsafe fn shared<'a, T>(handle: *mut T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller's contract.
    unsafe { handle.as_ref() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// The object behind a handle that must not be NULL.
///
/// # Safety
/// `handle` is NULL or a live handle of this type that no other thread uses meanwhile.
pub(crate) unsafe fn handle<'a, T>(handle: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller's contract.
    unsafe { handle.as_mut() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// `FILEMAP_INVALID_ARGUMENT` if a receive's `data` or `len` out-pointer is NULL.
pub(crate) fn check_data(data: *mut *const c_void, len: *mut usize) -> Result<(), Failure> {
    if data.is_null() || len.is_null() {
        return Err(Failure::invalid("data or len is NULL"));
    }
    Ok(())
}

/// Frees a handle (NULL: nothing).
///
/// # Safety
/// `handle` is NULL or a handle from this library, freed once.
pub(crate) unsafe fn free<T>(handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: the caller's contract.
        drop(unsafe { Box::from_raw(handle) });
    }
}

/// A `timeout_ms` argument: `FILEMAP_INFINITE` (-1) waits for ever.
pub(crate) fn timeout_arg(ms: i64) -> Result<Option<Duration>, Failure> {
    match ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        ms => Err(Failure::invalid(format!(
            "timeout_ms must be >= 0 or FILEMAP_INFINITE (-1), not {ms}"
        ))),
    }
}

/// The message of the calling thread's last failed call ("" if none failed). Valid until
/// the thread's next failing call.
#[no_mangle]
pub extern "C" fn filemap_last_error_message() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The name of a status code ("FILEMAP_NOT_FOUND"...), a static string; for a number
/// that is no status, "(not a filemap status)".
#[no_mangle]
pub extern "C" fn filemap_status_name(status: std::ffi::c_int) -> *const c_char {
    let all = [
        FILEMAP_OK,
        FILEMAP_NOT_FOUND,
        FILEMAP_ALREADY_EXISTS,
        FILEMAP_ACCESS_DENIED,
        FILEMAP_TIMEOUT,
        FILEMAP_DISCONNECTED,
        FILEMAP_INVALID_ARGUMENT,
        FILEMAP_NOT_OWNER,
        FILEMAP_WOULD_DEADLOCK,
        FILEMAP_KIND_MISMATCH,
        FILEMAP_CORRUPT,
        FILEMAP_BUSY,
        FILEMAP_PAGE_FAULT,
        FILEMAP_NO_SPACE,
        FILEMAP_UNSUPPORTED,
        FILEMAP_SYSTEM_ERROR,
        FILEMAP_PANIC,
        FILEMAP_OTHER,
        FILEMAP_LAGGED,
    ];
    let Some(&status) = all.iter().find(|s| **s as std::ffi::c_int == status) else {
        return c"(not a filemap status)".as_ptr();
    };
    let name: &'static CStr = match status {
        FILEMAP_OK => c"FILEMAP_OK",
        FILEMAP_NOT_FOUND => c"FILEMAP_NOT_FOUND",
        FILEMAP_ALREADY_EXISTS => c"FILEMAP_ALREADY_EXISTS",
        FILEMAP_ACCESS_DENIED => c"FILEMAP_ACCESS_DENIED",
        FILEMAP_TIMEOUT => c"FILEMAP_TIMEOUT",
        FILEMAP_DISCONNECTED => c"FILEMAP_DISCONNECTED",
        FILEMAP_INVALID_ARGUMENT => c"FILEMAP_INVALID_ARGUMENT",
        FILEMAP_NOT_OWNER => c"FILEMAP_NOT_OWNER",
        FILEMAP_WOULD_DEADLOCK => c"FILEMAP_WOULD_DEADLOCK",
        FILEMAP_KIND_MISMATCH => c"FILEMAP_KIND_MISMATCH",
        FILEMAP_CORRUPT => c"FILEMAP_CORRUPT",
        FILEMAP_BUSY => c"FILEMAP_BUSY",
        FILEMAP_PAGE_FAULT => c"FILEMAP_PAGE_FAULT",
        FILEMAP_NO_SPACE => c"FILEMAP_NO_SPACE",
        FILEMAP_UNSUPPORTED => c"FILEMAP_UNSUPPORTED",
        FILEMAP_SYSTEM_ERROR => c"FILEMAP_SYSTEM_ERROR",
        FILEMAP_PANIC => c"FILEMAP_PANIC",
        FILEMAP_OTHER => c"FILEMAP_OTHER",
        FILEMAP_LAGGED => c"FILEMAP_LAGGED",
    };
    name.as_ptr()
}
