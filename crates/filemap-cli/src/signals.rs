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
