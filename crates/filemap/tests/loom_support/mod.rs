//! What the loom models share: the futex, as the kernel makes it.

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::{Condvar, Mutex};

/// A futex: `wait` sleeps while the word holds `expected` (compared under the lock),
/// `wake` wakes every sleeper.
#[derive(Default)]
pub struct Futex {
    lock: Mutex<()>,
    sleepers: Condvar,
}

impl Futex {
    pub fn wait(&self, word: &AtomicU32, expected: u32) {
        let guard = self.lock.lock().unwrap();
        if word.load(Ordering::Relaxed) == expected {
            drop(self.sleepers.wait(guard).unwrap());
        }
    }

    pub fn wake(&self) {
        let _guard = self.lock.lock().unwrap();
        self.sleepers.notify_all();
    }
}
