//! Waiting for the user to stop a long-running command (`filemap hold`): SIGINT or SIGTERM
//! on Unix, Ctrl-C or a console close on Windows.

/// SIGINT and SIGTERM, caught from [`Termination::catch`] on by handlers that write a byte
/// into a socket pair, so that they are received by [`Termination::wait`] rather than
/// ending the process. Catch them before telling anyone the process is ready, so that an
/// early signal is not lost.
#[cfg(unix)]
pub struct Termination {
    caught: std::os::unix::net::UnixStream,
}

#[cfg(unix)]
impl Termination {
    pub fn catch() -> std::io::Result<Termination> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::low_level::pipe;
        let (caught, write) = std::os::unix::net::UnixStream::pair()?;
        pipe::register(SIGINT, write.try_clone()?)?;
        pipe::register(SIGTERM, write)?;
        Ok(Termination { caught })
    }

    /// Waits until one of the signals arrives (or already has).
    pub fn wait(mut self) -> std::io::Result<()> {
        use std::io::Read;
        self.caught.read_exact(&mut [0u8])
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
}
