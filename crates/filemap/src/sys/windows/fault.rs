//! Faults inside filemap's copy routines become errors instead of ending the process.
//!
//! A view access that cannot be satisfied raises an exception: `EXCEPTION_IN_PAGE_ERROR`
//! when the storage behind the page failed (a network share gone, a disk error), an access
//! violation when the page is inaccessible. One vectored exception handler, added the first
//! time this process maps a view, looks at where it happened: inside a copy routine
//! (`crate::copy`), it moves the instruction pointer to the routine's resume point and puts
//! the faulting address in rax, so the routine returns it and the copy reports a fault;
//! anywhere else (or in the caller's own buffer), it lets the search go on to the other
//! handlers, as if it were not there.

use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{EXCEPTION_ACCESS_VIOLATION, EXCEPTION_IN_PAGE_ERROR};
use windows_sys::Win32::System::Diagnostics::Debug::{
    AddVectoredExceptionHandler, EXCEPTION_CONTINUE_EXECUTION, EXCEPTION_CONTINUE_SEARCH,
    EXCEPTION_POINTERS,
};

use windows_sys::Win32::System::LibraryLoader::{
    GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_PIN, GetModuleHandleExW,
};

use crate::copy::guarded_ranges;

/// Whether the handler was added: the system's error code if not.
static INSTALLED: OnceLock<Result<(), u32>> = OnceLock::new();

/// Adds the handler, once per process; an error (then and at every later call) if the
/// system would not add it, rather than views whose faults end the process.
pub(crate) fn guard_copies() -> crate::Result<()> {
    let installed = INSTALLED.get_or_init(|| {
        // Keep the module that holds the handler (a DLL that embeds filemap, say) loaded
        // for good: the handler is never removed and must not point into unloaded code.
        let mut module = std::ptr::null_mut();
        // SAFETY: asks for (and pins) the module containing this function's address.
        unsafe {
            GetModuleHandleExW(
                GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                on_exception as *const () as *const u16,
                &mut module,
            )
        };
        // SAFETY: adds a handler that only reads the exception and, for faults in the
        // copy routines, changes the saved context; it is never removed.
        let added = unsafe { AddVectoredExceptionHandler(1, Some(on_exception)) };
        if added.is_null() {
            Err(super::last_error())
        } else {
            Ok(())
        }
    });
    installed.map_err(|code| {
        crate::Error::io(
            "add the handler that turns faults under views into errors in",
            "this process",
            super::os_error(code),
        )
    })
}

/// The handler: resumes a copy routine at its fault exit, or passes the exception on.
unsafe extern "system" fn on_exception(pointers: *mut EXCEPTION_POINTERS) -> i32 {
    // SAFETY: the system passes valid exception and context records.
    let (record, context) = unsafe {
        (
            &*(*pointers).ExceptionRecord,
            &mut *(*pointers).ContextRecord,
        )
    };
    let code = record.ExceptionCode;
    if code != EXCEPTION_ACCESS_VIOLATION && code != EXCEPTION_IN_PAGE_ERROR {
        return EXCEPTION_CONTINUE_SEARCH;
    }
    let at = context.Rip as usize;
    // The second parameter of both exceptions is the address that was accessed.
    let address = if record.NumberParameters >= 2 {
        record.ExceptionInformation[1]
    } else {
        0
    };
    // Only a fault on the mapping's side of the copy (the range the routine carries in
    // r8..r9) is filemap's; one in the caller's own buffer goes on to other handlers.
    let shared = context.R8 as usize..context.R9 as usize;
    for (start, end, resume) in guarded_ranges() {
        if (start..end).contains(&at) && shared.contains(&address) {
            context.Rax = address.max(1) as u64;
            context.Rip = resume as u64;
            return EXCEPTION_CONTINUE_EXECUTION;
        }
    }
    EXCEPTION_CONTINUE_SEARCH
}
