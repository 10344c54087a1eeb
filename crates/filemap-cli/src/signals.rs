//! Waiting for the user to stop a long-running command (`filemap hold`, `sub`, `pub`,
//! `serve`, `event wait`): SIGINT or SIGTERM on Unix, Ctrl-C or a console close on
//! Windows. Caught, they let a command close its handles (and so remove the objects it
//! made) rather than die holding them.

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long a long-running command waits at a time before it looks for a signal again.
pub const SLICE: Duration = Duration::from_millis(100);

/// The exit status of a command stopped by a signal it caught: 130, as a shell reports a
/// command that SIGINT ended.
pub fn interrupted() -> ExitCode {
    ExitCode::from(130)
}

/// Runs `attempt` with waits of at most [`SLICE`] (and not past `deadline`) until it gives
/// something other than [`filemap::Error::Timeout`], the deadline passes (its timeout is
/// returned) or a signal comes (`None`).
pub fn wait_sliced<T>(
    termination: &Termination,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(Duration) -> filemap::Result<T>,
) -> Option<filemap::Result<T>> {
    loop {
        let slice = match deadline {
            Some(d) => SLICE.min(d.saturating_duration_since(Instant::now())),
            None => SLICE,
        };
        match attempt(slice) {
            Err(filemap::Error::Timeout { .. }) if termination.caught() => return None,
            Err(filemap::Error::Timeout { .. }) if deadline.is_none_or(|d| Instant::now() < d) => {}
            other => return Some(other),
        }
    }
}

/// SIGINT and SIGTERM, caught from [`Termination::catch`] on by handlers that write a byte
/// into a socket pair, so that they are received by [`Termination::wait`] rather than
/// ending the process. Catch them before telling anyone the process is ready, so that an
/// early signal is not lost.
#[cfg(unix)]
pub struct Termination {
    caught: std::os::unix::net::UnixStream,
    /// Whether [`Termination::caught`] has read a signal's byte.
    seen: std::cell::Cell<bool>,
}

#[cfg(unix)]
impl Termination {
    pub fn catch() -> std::io::Result<Termination> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::low_level::pipe;
        let (caught, write) = std::os::unix::net::UnixStream::pair()?;
        pipe::register(SIGINT, write.try_clone()?)?;
        pipe::register(SIGTERM, write)?;
        Ok(Termination {
            caught,
            seen: std::cell::Cell::new(false),
        })
    }

    /// Waits until one of the signals arrives (or already has).
    pub fn wait(mut self) -> std::io::Result<()> {
        use std::io::Read;
        if self.seen.get() {
            return Ok(());
        }
        self.caught.read_exact(&mut [0u8])
    }

    /// Whether one of the signals has arrived, without waiting.
    pub fn caught(&self) -> bool {
        use std::io::Read;
        if !self.seen.get() {
            let read = self
                .caught
                .set_nonblocking(true)
                .and_then(|()| (&self.caught).read(&mut [0u8]));
            let _ = self.caught.set_nonblocking(false);
            self.seen.set(matches!(read, Ok(1)));
        }
        self.seen.get()
    }
}

/// Ctrl-C, Ctrl-Break or the console closing, caught by a `SetConsoleCtrlHandler`
/// handler that sets an event; registered by `catch`, so that an early one is not lost.
#[cfg(windows)]
pub struct Termination {
    event: windows_sys::Win32::Foundation::HANDLE,
}

#[cfg(windows)]
mod console {
    use std::sync::OnceLock;
    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::System::Threading::SetEvent;

    pub struct Event(pub HANDLE);
    // SAFETY: an event handle may be used from any thread.
    unsafe impl Send for Event {}
    // SAFETY: as above.
    unsafe impl Sync for Event {}
    pub static STOP: OnceLock<Event> = OnceLock::new();

    pub unsafe extern "system" fn on_ctrl(_kind: u32) -> windows_sys::core::BOOL {
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
        use windows_sys::Win32::System::Threading::{WaitForSingleObject, INFINITE};
        // SAFETY: a valid event handle.
        unsafe { WaitForSingleObject(self.event, INFINITE) };
        Ok(())
    }

    pub fn caught(&self) -> bool {
        use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
        use windows_sys::Win32::System::Threading::WaitForSingleObject;
        // SAFETY: a valid event handle; a wait of 0 ms only looks.
        unsafe { WaitForSingleObject(self.event, 0) == WAIT_OBJECT_0 }
    }
}
