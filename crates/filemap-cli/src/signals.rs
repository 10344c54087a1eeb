//! Waiting for the user to stop a long-running command (`filemap hold`): SIGINT or SIGTERM
//! on Unix, Ctrl-C or a console close on Windows.

/// Blocks until SIGINT or SIGTERM arrives. Call before starting any thread: the signals
/// are blocked in this thread (and so in threads it starts) and received synchronously,
/// so the caller can release what it holds before exiting.
#[cfg(unix)]
pub fn wait_for_termination() -> std::io::Result<()> {
    // SAFETY: plain libc calls on a local, initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        let mut sig = 0;
        let r = libc::sigwait(&set, &mut sig);
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
    }
    Ok(())
}

/// Blocks until Ctrl-C, Ctrl-Break or the console closing (`SetConsoleCtrlHandler`).
#[cfg(windows)]
pub fn wait_for_termination() -> std::io::Result<()> {
    use std::sync::OnceLock;
    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
    use windows_sys::Win32::System::Threading::{
        CreateEventW, SetEvent, WaitForSingleObject, INFINITE,
    };

    struct Event(HANDLE);
    // SAFETY: an event handle may be used from any thread.
    unsafe impl Send for Event {}
    // SAFETY: as above.
    unsafe impl Sync for Event {}
    static STOP: OnceLock<Event> = OnceLock::new();

    unsafe extern "system" fn on_ctrl(_kind: u32) -> windows_sys::core::BOOL {
        if let Some(e) = STOP.get() {
            // SAFETY: a valid event handle created below and never closed.
            unsafe { SetEvent(e.0) };
        }
        1
    }

    // SAFETY: an unnamed manual-reset event; the handle lives for the process.
    let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
    if event.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let event = STOP.get_or_init(|| Event(event)).0;
    // SAFETY: registers a handler function that lives for the whole program.
    if unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a valid event handle.
    unsafe { WaitForSingleObject(event, INFINITE) };
    Ok(())
}
