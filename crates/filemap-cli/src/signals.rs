//! Stopping a long-running command (`filemap hold`, `bridge`, `sub`, `pub`, `hz`,
//! `serve`, `request`, `wait`, `event wait`, `sem acquire`, and `lock`, which passes the
//! signal on to its command): SIGINT, SIGTERM or SIGHUP (its terminal closed) on Unix,
//! Ctrl-C or a console close on Windows. Caught, they let a command close its handles (and
//! so remove the objects it made, or held the last handle of) rather than die holding
//! them.

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The help's last paragraph for the commands that catch the signals.
pub const INTERRUPTED_HELP: &str = "Interrupted (SIGINT, SIGTERM, SIGHUP, Ctrl-C), it closes its \
handles, so that what it made, or holds the last handle of, goes with them, and exits 130.";

/// `request`'s: its standard input is read before anything is made, and a signal then
/// ends it as it ends any program.
pub const REQUEST_INTERRUPTED_HELP: &str = "Interrupted (SIGINT, SIGTERM, SIGHUP, Ctrl-C) \
once it has read its standard input, it closes its client (the server drops what it \
would have answered) and exits 130; while it reads, a signal ends it as it ends any \
program.";

/// The help's last paragraph for the commands that run until a signal stops them.
pub const STOPPED_HELP: &str = "Interrupted (SIGINT, SIGTERM, SIGHUP, Ctrl-C), it closes its \
handles and exits 0: that is how it is meant to end.";

/// How long a long-running command waits at a time before it looks for a signal again.
pub const SLICE: Duration = Duration::from_millis(100);

/// How long a command that caught a signal has to stop on its own (it may be blocked in a
/// write to a full pipe, or reading a served command's output) before it is ended as the
/// signal would have ended it.
const GRACE: Duration = Duration::from_secs(2);

/// The exit status of a command stopped by a signal it caught: 130, as a shell reports a
/// command that SIGINT ended.
pub fn interrupted() -> ExitCode {
    ExitCode::from(130)
}

/// Runs `attempt` with waits of at most [`SLICE`] (and not past `deadline`) until it gives
/// something other than [`filemap::Error::Timeout`], the deadline passes (its timeout is
/// returned) or a signal comes (`None`: looked for before every attempt, so that a steady
/// stream of messages does not hide it).
pub fn wait_sliced<T>(
    termination: &Termination,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(Duration) -> filemap::Result<T>,
) -> Option<filemap::Result<T>> {
    loop {
        if termination.caught() {
            return None;
        }
        let slice = match deadline {
            Some(d) => SLICE.min(d.saturating_duration_since(Instant::now())),
            None => SLICE,
        };
        match attempt(slice) {
            Err(filemap::Error::Timeout { .. }) if deadline.is_none_or(|d| Instant::now() < d) => {}
            other => return Some(other),
        }
    }
}

/// [`wait_sliced`] for a wait of at most `timeout` (for ever without one): `Ok(None)` if
/// a signal came, and a timeout said with the whole `timeout`, not the last slice of it.
pub fn wait_interruptibly<T>(
    termination: &Termination,
    timeout: Option<Duration>,
    attempt: impl FnMut(Duration) -> filemap::Result<T>,
) -> filemap::Result<Option<T>> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    match wait_sliced(termination, deadline, attempt) {
        None => Ok(None),
        Some(Ok(got)) => Ok(Some(got)),
        Some(Err(filemap::Error::Timeout { what, .. })) => Err(filemap::Error::Timeout {
            what,
            after: timeout.unwrap_or_default(),
        }),
        Some(Err(e)) => Err(e),
    }
}

/// SIGINT, SIGTERM and SIGHUP, caught from [`Termination::catch`] on: their handlers set a flag
/// ([`Termination::caught`]) and write a byte into a socket pair, which
/// [`Termination::wait`] reads, rather than end the process. Catch them before telling
/// anyone the process is ready, so that an early signal is not lost.
#[cfg(unix)]
pub struct Termination {
    caught: std::os::unix::net::UnixStream,
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// One byte for each signal that came, said by its handler: its number, with
    /// [`FROM_KERNEL`] when the kernel sent it (for `lock`, [`wait_passing_signals`]).
    deliveries: std::os::unix::net::UnixStream,
}

/// In a delivery's byte: the kernel sent the signal (`SI_KERNEL`: a SIGINT so is a
/// terminal's Ctrl-C, which reaches its whole foreground process group); without it, a
/// process did (`SI_USER`).
#[cfg(unix)]
const FROM_KERNEL: u8 = 0x80;

#[cfg(unix)]
impl Termination {
    pub fn catch() -> std::io::Result<Termination> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::{flag, low_level::pipe};
        use std::os::fd::IntoRawFd;
        let (caught, write) = std::os::unix::net::UnixStream::pair()?;
        let (deliveries, told) = std::os::unix::net::UnixStream::pair()?;
        // Written by the handlers for as long as the process lives: never closed.
        let told = told.into_raw_fd();
        let set = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // (A signal's actions run in the order they were registered: the flag first.)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            flag::register(signal, set.clone())?;
            let tell = move |info: &libc::siginfo_t| {
                let kernel = if info.si_code == libc::SI_KERNEL {
                    FROM_KERNEL
                } else {
                    0
                };
                let byte = [signal as u8 | kernel];
                // SAFETY: `send` is async-signal-safe; one byte from a live buffer to a
                // descriptor this process never closes; a full socket (nobody reads it but
                // `lock`) fails at once (MSG_DONTWAIT), as one whose reader is gone does
                // without a SIGPIPE (MSG_NOSIGNAL); a failure is nothing to act on.
                unsafe {
                    libc::send(
                        told,
                        byte.as_ptr().cast(),
                        1,
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
            };
            // SAFETY: the action is async-signal-safe: it reads two fields of the siginfo
            // the kernel passed and makes one `send` (no allocation, no lock; the registry
            // keeps errno); it lives as long as the process (never unregistered).
            unsafe { signal_hook_registry::register_sigaction(signal, tell) }?;
        }
        pipe::register(SIGINT, write.try_clone()?)?;
        pipe::register(SIGHUP, write.try_clone()?)?;
        pipe::register(SIGTERM, write)?;
        Ok(Termination {
            caught,
            flag: set,
            deliveries,
        })
    }

    /// Whether one of the signals has arrived, without waiting.
    pub fn caught(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until one of the signals arrives (or already has).
    pub fn wait(mut self) -> std::io::Result<()> {
        use std::io::Read;
        self.caught.read_exact(&mut [0u8])
    }

    /// From now on, a signal that the command has not acted on within [`GRACE`] (it is
    /// blocked where it cannot look) ends the process with status 130, without the
    /// clean-up it would have done.
    fn end_if_stuck(&self) -> std::io::Result<()> {
        let mut caught = self.caught.try_clone()?;
        std::thread::spawn(move || {
            use std::io::Read;
            if caught.read_exact(&mut [0u8]).is_ok() {
                std::thread::sleep(GRACE);
                std::process::exit(130);
            }
        });
        Ok(())
    }
}

/// How long a command asked to stop (SIGTERM) has to end before it is killed.
#[cfg(unix)]
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Stops `child` (a command `filemap serve` runs whose client left, or whose output went
/// unread) and reaps it: on Unix SIGTERM first, so that it can close what it holds (its
/// filemap objects go with their last handles rather than stay behind, stale), then SIGKILL
/// if it has not ended within a second; on Windows at once (TerminateProcess).
pub fn stop_child(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        use rustix::process::{Pid, Signal, kill_process};
        // (Not reaped yet: the pid is still the child's.)
        let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
        if pid.is_some_and(|pid| kill_process(pid, Signal::TERM).is_ok()) {
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` (the command `filemap lock` runs), passing on to it every SIGINT,
/// SIGTERM and SIGHUP that `termination` catches meanwhile: a lock's holder must not end, and let the
/// next one in, while its command still runs. A terminal's Ctrl-C went to its whole
/// foreground process group, and so to a command still in this process's group already:
/// that one is not passed on a second time (a program that takes a second Ctrl-C as "stop
/// now" would stop at once). (A SIGHUP is always passed on: one a terminal's hang-up sends
/// may reach this process alone, as its session's leader. So is a SIGINT a process sends,
/// though one sent to the whole group, `kill -INT -PGID` or a shell's `kill %1`, reached
/// the command already: the signal does not say to whom it was sent.) Each signal is passed
/// on as its own handler told of it, however close together they come.
#[cfg(unix)]
pub fn wait_passing_signals(
    termination: &Termination,
    child: &mut std::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process, waitid};
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| std::io::Error::other("the command has no process id"))?;
    // Set once the command has ended, before it is reaped: until then its pid is its own
    // (a zombie's at worst), so a signal passed on under this lock reaches nobody else.
    let ended = Arc::new(Mutex::new(false));
    let mut deliveries = termination.deliveries.try_clone()?;
    let passer_ended = ended.clone();
    // Left blocked on the socket once the command ends: it ends with the process.
    std::thread::spawn(move || {
        let mut byte = [0u8];
        while deliveries.read_exact(&mut byte).is_ok() {
            let ended = passer_ended.lock().unwrap_or_else(|p| p.into_inner());
            if *ended {
                return;
            }
            let signal = i32::from(byte[0] & !FROM_KERNEL);
            let typed = signal == Signal::INT.as_raw() && byte[0] & FROM_KERNEL != 0;
            if typed && same_group(pid) {
                continue;
            }
            if let Some(signal) = Signal::from_named_raw(signal) {
                let _ = kill_process(pid, signal);
            }
        }
    });
    loop {
        match waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    *ended.lock().unwrap_or_else(|p| p.into_inner()) = true;
    child.wait()
}

/// Whether process `pid` (not reaped yet) is in this process's process group, where a
/// terminal's signals to this process reach it too.
#[cfg(unix)]
fn same_group(pid: rustix::process::Pid) -> bool {
    use rustix::process::getpgid;
    matches!((getpgid(Some(pid)), getpgid(None)), (Ok(its), Ok(mine)) if its == mine)
}

/// Waits for `child`: a console's Ctrl-C reaches every process attached to it, the
/// command included, so there is nothing to pass on.
#[cfg(windows)]
pub fn wait_passing_signals(
    _termination: &Termination,
    child: &mut std::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    child.wait()
}

/// Ctrl-C, Ctrl-Break or the console closing, caught by a `SetConsoleCtrlHandler`
/// handler that sets a flag and an event; registered by `catch`, so that an early one is
/// not lost.
#[cfg(windows)]
pub struct Termination {
    event: windows_sys::Win32::Foundation::HANDLE,
}

#[cfg(windows)]
mod console {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::System::Threading::SetEvent;

    pub struct Event(pub HANDLE);
    // SAFETY: an event handle may be used from any thread.
    unsafe impl Send for Event {}
    // SAFETY: as above.
    unsafe impl Sync for Event {}
    pub static STOP: OnceLock<Event> = OnceLock::new();

    /// Set by `on_ctrl`, for `Termination::caught`.
    pub static CAUGHT: AtomicBool = AtomicBool::new(false);

    pub unsafe extern "system" fn on_ctrl(_kind: u32) -> windows_sys::core::BOOL {
        CAUGHT.store(true, Ordering::Relaxed);
        if let Some(e) = STOP.get() {
            // SAFETY: a valid event handle created by `catch` and never closed.
            unsafe { SetEvent(e.0) };
        }
        1
    }
}

#[cfg(windows)]
impl Termination {
    pub fn catch() -> std::io::Result<Termination> {
        use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
        use windows_sys::Win32::System::Threading::CreateEventW;
        // SAFETY: an unnamed manual-reset event; the handle lives for the process.
        let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
        if event.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let event = console::STOP.get_or_init(|| console::Event(event)).0;
        // SAFETY: registers a handler function that lives for the whole program.
        if unsafe { SetConsoleCtrlHandler(Some(console::on_ctrl), 1) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Termination { event })
    }

    pub fn wait(self) -> std::io::Result<()> {
        wait_for_stop(self.event);
        Ok(())
    }

    pub fn caught(&self) -> bool {
        console::CAUGHT.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn end_if_stuck(&self) -> std::io::Result<()> {
        let event = console::Event(self.event);
        std::thread::spawn(move || {
            // (The whole `Event`, which may go to another thread, not its handle field.)
            let event = event;
            wait_for_stop(event.0);
            std::thread::sleep(GRACE);
            std::process::exit(130);
        });
        Ok(())
    }
}

/// Waits until the console handler has set `event`.
#[cfg(windows)]
fn wait_for_stop(event: windows_sys::Win32::Foundation::HANDLE) {
    use windows_sys::Win32::System::Threading::{INFINITE, WaitForSingleObject};
    // SAFETY: a valid event handle, never closed (see `catch`).
    unsafe { WaitForSingleObject(event, INFINITE) };
}

impl Termination {
    /// [`catch`](Termination::catch) for a command that waits in slices and looks for the
    /// signal between them ([`wait_sliced`]); one that has not stopped within [`GRACE`] of
    /// a signal is ended ([`end_if_stuck`](Termination::end_if_stuck)).
    pub fn catch_sliced() -> std::io::Result<Termination> {
        let termination = Termination::catch()?;
        termination.end_if_stuck()?;
        Ok(termination)
    }
}
