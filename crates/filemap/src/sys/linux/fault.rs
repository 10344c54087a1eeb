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
//! A SIGBUS elsewhere at an address in a synchronisation object's or a channel's memory
//! (reached with atomics, not the routines) has that memory replaced by zeros and marked
//! lost (`rescue.rs`): the access runs again and the object reports the loss.
//!
//! Only a fault the kernel raised (not a signal sent with `kill` or `raise`), with the
//! instruction pointer in a routine and the faulting address in the mapping's side of that
//! copy (the range the routine carries in r8..r9), is filemap's; a fault in the caller's
//! own buffer goes on like any other. Passing one on, the handler behaves as the previous
//! action would have: its mask, `SA_RESTART`, `SA_RESETHAND` (the action runs once, the
//! default after it, without removing this handler) and `SA_NODEFER` are honoured, and a
//! signal that was ignored or left to the default stays so (a sent one is raised again).
//! A previous action that, run for a sent signal, puts the default action back for the
//! process (Rust's own handler does, for a signal that is no stack overflow) counts as the
//! default from then on, and this handler goes back on: it would otherwise be gone, and a
//! later fault in a copy would end the process.
//!
//! A program that installs its own SIGBUS or SIGSEGV handler after filemap's first view
//! replaces this one: it must pass on the signals it does not handle (to the action it
//! replaced) for filemap's copies to keep reporting faults.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::rescue;
use crate::copy::guarded_ranges;

/// Actions for SIGBUS and SIGSEGV (as in `SIGNALS`), in a static that signal handlers read.
struct Actions(UnsafeCell<[libc::sigaction; 2]>);

// SAFETY: written only by `install`, which one thread of a process runs at a time (see
// `INSTALLING`), with the slot's signal blocked on that thread; `PREVIOUS`'s slot is read
// by the handler only once its `READY` flag says it is written (a handler that runs in
// between, on another thread, waits for the flag), and is not written after that; and
// `PENDING` is read only by `install`.
unsafe impl Sync for Actions {}

/// The actions installed before ours: each written by the `sigaction` call that installs
/// ours for its signal (which swaps them in one step), then only read (after its `READY`
/// flag).
static PREVIOUS: Actions = Actions(UnsafeCell::new(
    // SAFETY: sigaction is plain data; all zeros is a valid (default) action.
    unsafe { std::mem::zeroed() },
));
/// The action each slot's `sigaction` is about to replace, noted just before: for a child
/// forked while that call ran, whose copy of `PREVIOUS` may not be written yet (the C
/// library writes the old action out after the kernel installed the new one).
static PENDING: Actions = Actions(UnsafeCell::new(
    // SAFETY: as for `PREVIOUS`.
    unsafe { std::mem::zeroed() },
));
/// Per signal (as in `SIGNALS`), whether its slot of `PREVIOUS` is written.
static READY: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
/// Per signal, whether a previous action with `SA_RESETHAND` has run its one time: the
/// signal's action is the default from then on (kept here: resetting the process's action
/// would remove this handler with it).
static RESET: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
/// Per signal, whether the previous action, run for a signal another process sent, put the
/// default action back for the process (Rust's own handler does so for a signal that is no
/// stack overflow): ours went back on, and the default stands for that action from then on.
static DEFAULTED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
/// 1 + the fork generation of the process that found the handler installed for both
/// signals (0: none yet). A child looks again once (`install`): the parent's installing
/// thread may have finished after the system copied the child's signal actions but
/// before it copied its memory.
static INSTALLED: AtomicU64 = AtomicU64::new(0);
/// While a thread installs the handler: its process's `process_tag` (0: none does). Not a
/// `Once`: a child that another thread forked meanwhile would find it running for ever
/// (the thread is not in the child), and hang at its first view; this tells it that the
/// installer is not here, so the child finishes the work itself.
static INSTALLING: AtomicU64 = AtomicU64::new(0);
const SIGNALS: [libc::c_int; 2] = [libc::SIGBUS, libc::SIGSEGV];

/// What tells this process from the one it was forked from, in a signal handler too: its
/// fork generation and its pid (either alone may not: the generation is not counted if
/// its registration failed, and a pid may repeat in another PID namespace).
fn process_tag() -> u64 {
    // SAFETY: getpid has no preconditions (and is async-signal-safe).
    let pid = unsafe { libc::getpid() } as u32;
    (super::fork_generation() << 32) | u64::from(pid) | 1 << 63
}

/// Installs the handler, once per process.
pub(crate) fn guard_copies() {
    if INSTALLED.load(Ordering::Acquire) != super::fork_generation() + 1 {
        install_once();
    }
}

#[cold]
fn install_once() {
    // (Watched first, so that a fork from now on gives the child another generation.)
    let done = super::watched_fork_generation() + 1;
    let me = process_tag();
    loop {
        if INSTALLED.load(Ordering::Acquire) == done {
            return;
        }
        let installer = INSTALLING.load(Ordering::Acquire);
        if installer != me
            && INSTALLING
                .compare_exchange(installer, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            install();
            INSTALLED.store(done, Ordering::Release);
            INSTALLING.store(0, Ordering::Release);
            return;
        }
        // Another thread of this process installs it: a few system calls.
        std::thread::yield_now();
    }
}

/// Installs the handler for each signal whose action is not it: for both, the first time;
/// in a child made by `fork`, for any the parent had not installed when the system copied
/// the child's signal actions. A slot whose action is ours but whose `PREVIOUS` was not
/// written yet (the fork came in the middle of the parent's `sigaction`) takes the action
/// noted in `PENDING`.
fn install() {
    pin_this_module();
    let previous = PREVIOUS.0.get();
    let pending = PENDING.0.get();
    // Both signals blocked on this thread while it installs: a handler that ran here
    // meanwhile (for a signal another process sent) and passed it on through a slot this
    // thread has yet to make ready would wait for this thread for ever.
    // SAFETY: sigset_t is plain data; the masks are local; pthread_sigmask changes only
    // this thread's mask, set back below.
    let before = unsafe {
        let mut blocked: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut blocked);
        for &signal in SIGNALS.iter() {
            libc::sigaddset(&mut blocked, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &blocked, &mut before);
        before
    };
    for (slot, &signal) in SIGNALS.iter().enumerate() {
        // SAFETY: sigaction is plain data; all zeros is a valid starting value.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_fault as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        // SAFETY: the slots are written only here, by one thread at a time, with the
        // signals blocked on it: `PREVIOUS`'s by the sigaction call that installs
        // ours and reports the action it replaced in one step (so no handler installed
        // meanwhile by another thread is lost), or from `PENDING`, before its READY flag
        // (a handler on another thread waits for the flag), and never once the flag is
        // set (in a child too: the flag comes with its memory). The masks are local.
        unsafe {
            libc::sigemptyset(&mut action.sa_mask);
            let mut seen: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut seen);
            let ready = READY[slot].load(Ordering::Acquire);
            let ours = action.sa_sigaction;
            // Run on the alternate stack only where the action to be replaced does (std's
            // stack-overflow handler does), so that a handler passed on to runs where it
            // expects to; and restart system calls a signal sent with `kill` interrupts
            // where that action did (an ignored one interrupted none).
            if seen.sa_flags & libc::SA_ONSTACK != 0
                || seen.sa_sigaction == libc::SIG_DFL
                || seen.sa_sigaction == libc::SIG_IGN
            {
                action.sa_flags |= libc::SA_ONSTACK;
            }
            if seen.sa_sigaction == libc::SIG_IGN {
                action.sa_flags |= libc::SA_RESTART;
            }
            action.sa_flags |= seen.sa_flags & libc::SA_RESTART;
            if seen.sa_sigaction == ours {
                if !ready {
                    // Installed by the process this one was forked from, which had yet
                    // to write down the action it replaced.
                    (*previous)[slot] = (*pending)[slot];
                    READY[slot].store(true, Ordering::Release);
                }
            } else if !ready {
                (*pending)[slot] = seen;
                libc::sigaction(signal, &action, &mut (*previous)[slot]);
                READY[slot].store(true, Ordering::Release);
            } else if seen.sa_sigaction == (*previous)[slot].sa_sigaction {
                // Installed, and written down, by the process this one was forked from
                // after the system had copied this one's actions (it copies them before
                // the memory): the action here is still the one ours replaced. Ours goes
                // on again, over the same action.
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
            // Otherwise installed before this process was forked, and since replaced by
            // the program with its own, which passes what it does not handle on to ours
            // (ours put on top of it again would pass that back to it, round and round):
            // left as it is, as in the process this one was forked from.
        }
    }
    // SAFETY: restores this thread's mask as it was.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut()) };
}

/// Keeps the shared object that holds the handler (when filemap is part of a library that
/// a program loads and unloads, as a Python extension is) loaded for good: the handler
/// stays installed after it, and must not point into unmapped code.
fn pin_this_module() {
    // SAFETY: Dl_info is plain data; dladdr fills it for an address of this module, and
    // dlopen with RTLD_NOLOAD only takes another reference to an object already loaded.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(on_fault as *const () as *const libc::c_void, &mut info) != 0
            && !info.dli_fname.is_null()
        {
            libc::dlopen(
                info.dli_fname,
                libc::RTLD_LAZY | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
            );
        }
    }
}

/// The handler: resumes a copy routine at its fault exit, or passes the signal on.
extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler; the
    // saved registers are ours to change (they are restored when the handler returns).
    let (info_ref, gregs) = unsafe {
        (
            &*info,
            &mut (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs,
        )
    };
    // Raised by the kernel for this thread's access (a sent signal has si_code <= 0; an
    // "action optional" machine-check report is not a fault of this instruction).
    let from_kernel = info_ref.si_code > 0
        && !(signal == libc::SIGBUS && info_ref.si_code == libc::BUS_MCEERR_AO);
    if from_kernel {
        let at = gregs[libc::REG_RIP as usize] as usize;
        // SAFETY: si_addr is the faulting address for a kernel-raised SIGBUS/SIGSEGV.
        let address = unsafe { info_ref.si_addr() } as usize;
        let shared = gregs[libc::REG_R8 as usize] as usize..gregs[libc::REG_R9 as usize] as usize;
        // Only a fault of a memory access on the mapping's side of the copy is filemap's:
        // not a general protection fault, nor the SIGSEGV the kernel forces when it cannot
        // deliver another signal (both `SI_KERNEL`, at address 0), which end the process
        // as they would without filemap.
        let claimed = claimed_range(signal, info_ref, shared);
        for (start, end, resume) in guarded_ranges() {
            if (start..end).contains(&at) && claimed.contains(&address) {
                gregs[libc::REG_RAX as usize] = address.max(1) as i64;
                gregs[libc::REG_RIP as usize] = resume as i64;
                return;
            }
        }
        // Storage gone under an object's words: run the access again on zeros, and let
        // the object report the loss (`rescue.rs`). (The replacement is a system call:
        // the interrupted code's errno is kept.)
        // SAFETY: __errno_location returns this thread's errno, valid for the thread.
        let errno = unsafe { libc::__errno_location() };
        // SAFETY: as above.
        let saved = unsafe { *errno };
        let rescued = signal == libc::SIGBUS && rescue::rescue(address);
        // SAFETY: as above.
        unsafe { *errno = saved };
        if rescued {
            return;
        }
    }
    pass_on(signal, info, context, from_kernel);
}

/// The addresses at which a kernel-raised fault of the kind `info` says is a copy
/// routine's fault on `shared`, the mapping's side of its copy: `shared` itself for a page
/// fault (`SEGV_MAPERR`, `SEGV_ACCERR`, `SEGV_PKUERR`) or a storage error (`BUS_ADRERR`,
/// `BUS_OBJERR`); for a machine check on the access (`BUS_MCEERR_AR`), whose address may
/// be only the start of the poisoned page (`si_addr_lsb` says how precise it is), from the
/// start of that page of `shared`; nothing for any other.
fn claimed_range(
    signal: libc::c_int,
    info: &libc::siginfo_t,
    shared: std::ops::Range<usize>,
) -> std::ops::Range<usize> {
    // (Linux's `si_code` values for SIGSEGV, which the libc crate does not name.)
    const SEGV_MAPERR: libc::c_int = 1;
    const SEGV_ACCERR: libc::c_int = 2;
    const SEGV_PKUERR: libc::c_int = 4;
    let code = info.si_code;
    match signal {
        libc::SIGSEGV if matches!(code, SEGV_MAPERR | SEGV_ACCERR | SEGV_PKUERR) => shared,
        libc::SIGBUS if matches!(code, libc::BUS_ADRERR | libc::BUS_OBJERR) => shared,
        libc::SIGBUS if code == libc::BUS_MCEERR_AR => {
            // SAFETY: for a kernel-raised SIGBUS the siginfo holds the fault's fields:
            // si_addr at offset 16 (x86_64), si_addr_lsb (a short) right after it; the
            // read stays within the 128 bytes of a siginfo_t.
            let lsb = unsafe {
                (info as *const libc::siginfo_t)
                    .cast::<u8>()
                    .add(24)
                    .cast::<i16>()
                    .read_unaligned()
            };
            let granule = 1usize << lsb.clamp(12, 30);
            (shared.start & !(granule - 1))..shared.end
        }
        _ => 0..0,
    }
}

/// Hands a signal that is not filemap's to the action installed before ours, as that
/// action would have handled it.
fn pass_on(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
    from_kernel: bool,
) {
    let slot = if signal == libc::SIGBUS { 0 } else { 1 };
    // Installing right now, on another thread (where the signals are blocked): the
    // action replaced is known a few instructions from now. Unless that thread was in the
    // process this one was forked from: then it is not known here (nor will it be, unless
    // this process maps a view), and the default action stands in for it.
    while !READY[slot].load(Ordering::Acquire) {
        if INSTALLING.load(Ordering::Relaxed) != process_tag() {
            restore_default(signal, from_kernel);
            return;
        }
        std::hint::spin_loop();
    }
    // SAFETY: written before its READY flag, read-only since.
    let previous = unsafe { &(*PREVIOUS.0.get())[slot] };
    // A one-time action that has run, or one that put the default back: the default now.
    if DEFAULTED[slot].load(Ordering::Relaxed)
        || previous.sa_flags & libc::SA_RESETHAND != 0 && RESET[slot].swap(true, Ordering::Relaxed)
    {
        restore_default(signal, from_kernel);
        return;
    }
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_IGN {
        if from_kernel {
            // An ignored fault would come back at once: the kernel ends the process.
            restore_default(signal, true);
        }
        return;
    }
    if handler == libc::SIG_DFL {
        restore_default(signal, from_kernel);
        return;
    }
    // SAFETY: all of these are async-signal-safe, and the masks are local.
    unsafe {
        // Block what the previous action would have blocked while it runs; the mask of
        // the interrupted code comes back when this handler returns.
        let mut block = previous.sa_mask;
        if previous.sa_flags & libc::SA_NODEFER == 0 {
            libc::sigaddset(&mut block, signal);
        } else {
            // Not blocked while it runs (this handler's own action blocks it): one that
            // jumps out of itself, as memory probes do, must not leave it blocked.
            let mut signal_only: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut signal_only);
            libc::sigaddset(&mut signal_only, signal);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &signal_only, std::ptr::null_mut());
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, std::ptr::null_mut());
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: an SA_SIGINFO action's handler has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(signal, info, context);
    } else {
        // SAFETY: a plain action's handler takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(signal);
    }
    if !from_kernel {
        keep_ours(signal, slot, previous);
    }
}

/// After the previous action ran for a sent signal: if it put the default action back for
/// the process (as Rust's own handler does for a signal that is no stack overflow, so that
/// a fault happens again and ends the process), ours goes back on, with the default
/// standing for that action from now on, so that a later fault in a copy is still reported
/// rather than end the process. (A kernel-raised fault is left to happen again as the
/// action meant; another action the program installed is left as it is.)
fn keep_ours(signal: libc::c_int, slot: usize, previous: &libc::sigaction) {
    // SAFETY: sigaction is plain data and async-signal-safe; the actions are local.
    unsafe {
        let mut now: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut now);
        if now.sa_sigaction != libc::SIG_DFL {
            return;
        }
        // Ours as `install` made it over that action, put on in the same call that says
        // what it replaced: a handler the program installed meanwhile goes back on.
        let mut ours: libc::sigaction = std::mem::zeroed();
        ours.sa_sigaction = on_fault as *const () as usize;
        ours.sa_flags =
            libc::SA_SIGINFO | previous.sa_flags & (libc::SA_ONSTACK | libc::SA_RESTART);
        libc::sigemptyset(&mut ours.sa_mask);
        let mut replaced: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, &ours, &mut replaced);
        if replaced.sa_sigaction == libc::SIG_DFL {
            DEFAULTED[slot].store(true, Ordering::Relaxed);
        } else {
            libc::sigaction(signal, &replaced, std::ptr::null_mut());
        }
    }
}

/// Puts the default action back. A kernel-raised fault then happens again when the
/// handler returns and ends the process with this signal, as without filemap; a sent
/// signal is raised again, to the same end.
fn restore_default(signal: libc::c_int, from_kernel: bool) {
    // SAFETY: sigaction is plain data; all zeros with SIG_DFL is the default action;
    // sigaction and raise are async-signal-safe.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &default, std::ptr::null_mut());
        if !from_kernel {
            libc::raise(signal);
        }
    }
}
