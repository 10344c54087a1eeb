//! Faults inside filemap's copy routines become errors instead of killing the process.
//!
//! Touching a mapped page whose storage is gone (a file or entry another process truncated,
//! a disk that returned an I/O error) raises SIGBUS; an inaccessible page raises SIGSEGV.
//! One process-wide handler for both, installed the first time this process maps a view,
//! looks at where the fault happened: inside a copy routine (`crate::copy`), it moves the
//! saved instruction pointer to the routine's resume point and puts the faulting address
//! in rax, so the routine returns it and the copy reports a fault; anywhere else, it hands
//! the signal to the handler that was installed before (or to the default action, which
//! ends the process as it would have without filemap). The handler allocates nothing and
//! takes no lock: it reads two saved actions and the routines' addresses, which are set
//! before it is installed.
//!
//! A program that installs its own SIGBUS or SIGSEGV handler after filemap's first view
//! replaces this one: it must pass on the signals it does not handle (to the action it
//! replaced) for filemap's copies to keep reporting faults.

use std::cell::UnsafeCell;
use std::sync::Once;

use crate::copy::guarded_ranges;

/// The actions installed before ours, for SIGBUS and SIGSEGV: written once, before our
/// handler is installed, then only read.
struct Previous(UnsafeCell<[libc::sigaction; 2]>);

// SAFETY: written only inside `INSTALL.call_once`, before the handler that reads it is
// installed; read-only afterwards.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new(
    // SAFETY: sigaction is plain data; all zeros is a valid (default) action.
    unsafe { std::mem::zeroed() },
));
static INSTALL: Once = Once::new();
const SIGNALS: [libc::c_int; 2] = [libc::SIGBUS, libc::SIGSEGV];

/// Installs the handler, once per process.
pub(crate) fn guard_copies() {
    INSTALL.call_once(|| {
        let previous = PREVIOUS.0.get();
        for (i, &signal) in SIGNALS.iter().enumerate() {
            // SAFETY: `previous` is only written here, before the handler is installed;
            // sigaction fills the slot with the action in force.
            unsafe { libc::sigaction(signal, std::ptr::null(), &mut (*previous)[i]) };
        }
        for &signal in &SIGNALS {
            // SAFETY: sigaction is plain data; all zeros is a valid starting value.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            // SAFETY: installs a handler that only reads data set before this call.
            unsafe {
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    });
}

/// The handler: resumes a copy routine at its fault exit, or passes the signal on.
extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid ucontext for an SA_SIGINFO handler; the saved
    // registers are ours to change (they are restored when the handler returns).
    let gregs = unsafe { &mut (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let at = gregs[libc::REG_RIP as usize] as usize;
    for (start, end, resume) in guarded_ranges() {
        if (start..end).contains(&at) {
            // SAFETY: `info` is valid for an SA_SIGINFO handler; si_addr is the fault's.
            let address = unsafe { (*info).si_addr() } as usize;
            gregs[libc::REG_RAX as usize] = address.max(1) as i64;
            gregs[libc::REG_RIP as usize] = resume as i64;
            return;
        }
    }
    pass_on(signal, info, context);
}

/// Hands a fault that is not filemap's to the action installed before ours.
fn pass_on(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let slot = if signal == libc::SIGBUS { 0 } else { 1 };
    // SAFETY: written before our handler was installed, read-only since.
    let previous = unsafe { &(*PREVIOUS.0.get())[slot] };
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Back to the default action; returning re-runs the faulting instruction, which
        // faults again and ends the process with this signal, as without filemap.
        // SAFETY: sigaction is plain data; all zeros with SIG_DFL is the default action.
        let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
        default.sa_sigaction = libc::SIG_DFL;
        // SAFETY: sigaction is async-signal-safe.
        unsafe { libc::sigaction(signal, &default, std::ptr::null_mut()) };
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: an SA_SIGINFO action's handler has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(signal, info, context);
    } else {
        // SAFETY: a plain action's handler takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(signal);
    }
}
