//! Status codes, the calling thread's last error message, and the guard every exported
//! function runs in (argument checks, filemap errors to codes, panics caught).

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
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
    /// Releasing a mutex this thread does not hold (through this handle).
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
    /// A bug in filemap (a Rust panic, caught at the boundary). The handles the call was
    /// given may be left in any state that is safe to use: close them rather than go on.
    FILEMAP_PANIC = 16,
    /// Another error.
    FILEMAP_OTHER = 17,
    /// A topic subscriber fell behind and missed messages (`drop_oldest` topics); it goes
    /// on at the oldest message still there.
    FILEMAP_LAGGED = 18,
    /// A service's server failed the request (`filemap_server_respond_failure`); the last
    /// error message says why.
    FILEMAP_REQUEST_FAILED = 19,
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

    /// What went wrong, as the last error message says it.
    pub(crate) fn message(&self) -> &str {
        &self.message
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
        C::RequestFailed => FILEMAP_REQUEST_FAILED,
        _ => FILEMAP_OTHER,
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records the calling thread's last error. During the thread's exit (its thread-locals
/// being destroyed) there is nowhere to keep it, and the message is dropped.
fn set_last_error(message: &str) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut last) = e.try_borrow_mut() {
            *last = message;
        }
    });
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
            // A payload whose drop panics too would unwind out of here: such a second
            // payload is leaked instead.
            if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(panic))) {
                std::mem::forget(again);
            }
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

/// A file path given as a NUL-terminated string: its bytes as they are on Unix (a file name
/// need not be UTF-8 there), UTF-8 on Windows.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn path_arg<'a>(
    p: *const c_char,
    what: &str,
) -> Result<&'a std::path::Path, Failure> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        if p.is_null() {
            return Err(Failure::invalid(format!("{what} is NULL")));
        }
        // SAFETY: the caller's contract: a NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
        Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        // SAFETY: the caller's contract.
        unsafe { str_arg(p, what) }.map(std::path::Path::new)
    }
}

/// `len` bytes at `data` (NULL only with `len` 0), read by the call; `what` names the
/// argument in an error.
///
/// # Safety
/// As [`slice_arg`]: valid for reads of `len` bytes, every one of them initialised (the
/// C functions that take bytes say so: a struct's padding must have been cleared), that
/// nobody writes during the call.
pub(crate) unsafe fn bytes_arg<'a>(
    data: *const c_void,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    // SAFETY: the caller's contract.
    unsafe { slice_arg(data.cast::<u8>(), len, what) }
}

/// `FILEMAP_INVALID_ARGUMENT` unless `len` `T`s at `data` may be a slice: at most
/// `isize::MAX` bytes in all, and `data` neither NULL nor misaligned unless `len` is 0.
/// Checked before any slice is made (a larger one is undefined behaviour).
pub(crate) fn check_slice<T>(data: *const T, len: usize, what: &str) -> Result<(), Failure> {
    let fits = len
        .checked_mul(size_of::<T>())
        .is_some_and(|bytes| bytes <= isize::MAX as usize);
    if !fits {
        return Err(Failure::invalid(format!(
            "{what}'s length {len} is too large (more than isize::MAX bytes)"
        )));
    }
    if len != 0 && data.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    if len != 0 && !data.is_aligned() {
        return Err(Failure::invalid(format!("{what} is misaligned")));
    }
    Ok(())
}

/// `len` `T`s at `data` (NULL only with `len` 0), read by the call; checked as
/// [`check_slice`] says.
///
/// # Safety
/// `data` is NULL or valid for reads of `len` `T`s that nobody writes during the call.
pub(crate) unsafe fn slice_arg<'a, T>(
    data: *const T,
    len: usize,
    what: &str,
) -> Result<&'a [T], Failure> {
    check_slice(data, len, what)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: non-NULL, aligned, at most isize::MAX bytes (checked), and valid for reads of
    // `len` `T`s (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// `len` `T`s at `data` (NULL only with `len` 0), written by the call; checked as
/// [`check_slice`] says.
///
/// # Safety
/// `data` is NULL or valid for reads and writes of `len` `T`s that nobody else reads or
/// writes during the call.
pub(crate) unsafe fn slice_arg_mut<'a, T>(
    data: *mut T,
    len: usize,
    what: &str,
) -> Result<&'a mut [T], Failure> {
    check_slice(data, len, what)?;
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: non-NULL, aligned, at most isize::MAX bytes (checked), and valid for `len`
    // `T`s (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts_mut(data, len) })
}

/// Where a message's bytes are, for a `const void **data` out-parameter: an empty
/// message's is a valid pointer too (an empty `Vec`'s is dangling, and C's `memcpy(dst,
/// data, 0)` wants a valid one), a byte of static memory.
pub(crate) fn data_out(bytes: &[u8]) -> *const std::ffi::c_void {
    static EMPTY: u8 = 0;
    if bytes.is_empty() {
        std::ptr::from_ref(&EMPTY).cast()
    } else {
        bytes.as_ptr().cast()
    }
}

/// Writes `value` through an out-pointer that must not be NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and valid for a write by the caller's contract (a misaligned one,
    // refused up front by `check_out` where it can be, is written byte-wise all the same:
    // what was done is not undone for it).
    unsafe { out.write_unaligned(value) };
    Ok(())
}

/// Writes `value` through an optional out-pointer (NULL: not wanted).
///
/// # Safety
/// `out` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn put_optional<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL, and valid for a write by the caller's contract (misaligned
        // too: written byte-wise).
        unsafe { out.write_unaligned(value) };
    }
}

/// `FILEMAP_INVALID_ARGUMENT` for a NULL out-pointer, checked before an object is made
/// (which would otherwise leak, holding its name or endpoint); `what` names the argument.
pub(crate) fn check_out<T>(out: *mut T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    if !out.is_aligned() {
        return Err(Failure::invalid(format!("{what} is misaligned")));
    }
    Ok(())
}

/// `FILEMAP_INVALID_ARGUMENT` if a receive's `data` or `len` out-pointer is NULL.
pub(crate) fn check_data(data: *mut *const c_void, len: *mut usize) -> Result<(), Failure> {
    if data.is_null() || len.is_null() {
        return Err(Failure::invalid("data or len is NULL"));
    }
    if !data.is_aligned() || !len.is_aligned() {
        return Err(Failure::invalid("data or len is misaligned"));
    }
    Ok(())
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
/// the thread's next failing call (or a `_close`, `filemap_view_data` or
/// `filemap_view_size` given a bad handle, which say so here though they return no
/// status).
#[unsafe(no_mangle)]
pub extern "C" fn filemap_last_error_message() -> *const c_char {
    let none = c"".as_ptr();
    // During the thread's exit (its thread-locals destroyed) there is no message: "".
    catch_unwind(|| {
        LAST_ERROR
            .try_with(|e| e.try_borrow().map_or(none, |m| m.as_ptr()))
            .unwrap_or(none)
    })
    .unwrap_or(none)
}

/// The name of a status code ("FILEMAP_NOT_FOUND"...), a static string; for a number
/// that is no status, "(not a filemap status)".
#[unsafe(no_mangle)]
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
        FILEMAP_REQUEST_FAILED,
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
        FILEMAP_REQUEST_FAILED => c"FILEMAP_REQUEST_FAILED",
    };
    name.as_ptr()
}
