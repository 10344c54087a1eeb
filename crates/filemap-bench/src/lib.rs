//! Shared pieces of filemap's benchmarks: the peers and floors they compare against, over
//! memory the caller provides (a filemap view, so that a re-executed child process can map
//! the same memory by name).
//!
//! - [`RawRobustMutex`]: a process-shared robust pthread mutex, the raw mechanism under
//!   `filemap::sync::NamedMutex` on Linux;
//! - [`FutexPair`]: two futex words for a raw futex ping-pong between two processes, the
//!   floor under filemap's events.
//!
//! Linux only: the peers are Linux mechanisms.
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicU32, Ordering};

/// A robust, process-shared pthread mutex at a fixed place in shared memory.
pub struct RawRobustMutex {
    at: *mut libc::pthread_mutex_t,
}

// SAFETY: the mutex is process-shared and usable from any thread.
unsafe impl Send for RawRobustMutex {}
// SAFETY: as above.
unsafe impl Sync for RawRobustMutex {}

impl RawRobustMutex {
    /// Initialises a mutex at `at`.
    ///
    /// # Safety
    /// `at` must point to at least 64 writable, 8-aligned bytes of shared memory that
    /// outlive every use, and no process may use the mutex while it is initialised.
    pub unsafe fn init(at: *mut u8) -> RawRobustMutex {
        // SAFETY: the caller's contract.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
            libc::pthread_mutex_init(at.cast(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
        }
        RawRobustMutex { at: at.cast() }
    }

    /// Uses a mutex another process initialised at `at`.
    ///
    /// # Safety
    /// As for [`RawRobustMutex::init`], and the mutex there must be initialised.
    pub unsafe fn attach(at: *mut u8) -> RawRobustMutex {
        RawRobustMutex { at: at.cast() }
    }

    pub fn lock(&self) {
        // SAFETY: initialised (constructor contracts); EOWNERDEAD is made consistent.
        unsafe {
            if libc::pthread_mutex_lock(self.at) == libc::EOWNERDEAD {
                libc::pthread_mutex_consistent(self.at);
            }
        }
    }

    pub fn unlock(&self) {
        // SAFETY: called after `lock` by the same thread.
        unsafe { libc::pthread_mutex_unlock(self.at) };
    }
}

/// Two futex words (on separate cache lines) for a ping-pong between two processes.
pub struct FutexPair<'a> {
    words: [&'a AtomicU32; 2],
}

impl<'a> FutexPair<'a> {
    /// The pair at `a` and `b` (in shared memory, e.g. from `View::atomic_u32`).
    pub fn new(a: &'a AtomicU32, b: &'a AtomicU32) -> FutexPair<'a> {
        FutexPair { words: [a, b] }
    }

    /// Sets word `i` to `value` and wakes its sleeper.
    pub fn post(&self, i: usize, value: u32) {
        let w = self.words[i];
        w.store(value, Ordering::Release);
        let _ = rustix::thread::futex::wake(w, rustix::thread::futex::Flags::empty(), 1);
    }

    /// Sleeps until word `i` holds `value`.
    pub fn wait_for(&self, i: usize, value: u32) {
        let w = self.words[i];
        loop {
            let now = w.load(Ordering::Acquire);
            if now == value {
                return;
            }
            let _ =
                rustix::thread::futex::wait(w, rustix::thread::futex::Flags::empty(), now, None);
        }
    }
}
