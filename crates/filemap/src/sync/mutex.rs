//! `NamedMutex` and its guard, and the locking shared with `SharedMutex`: the check that
//! this thread does not already hold the mutex, and abandonment reporting.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{ObjectOptions, timeout_error};
use crate::error::{Error, Result};
use crate::header::Layout;
use crate::name::{IntoName, Name};
use crate::sys::{self, CreateMode, Locked};
use crate::vocabulary::Disposition;
use crate::vocabulary::Kind;

use super::held;

/// Locks `object` for this thread. `Ok(None)`: not acquired within `timeout`. Inlined
/// (into `SharedMutex<T>`'s methods, which are made in the user's crate, too): its call
/// and `release`'s cost a `SharedMutex<u64>` lock and unlock a third more, and which
/// calls the user's crate inlined changed with code far from them (a hint was not enough:
/// with two callers there, the user's crate stopped inlining it).
#[inline(always)]
pub(crate) fn acquire(
    object: &sys::MutexObject,
    name: &Name,
    timeout: Option<Duration>,
) -> Result<Option<bool>> {
    let id = object.identity();
    if !held::claim(id) && !claim_stale(object, id) {
        return Err(claim_refused(id, name));
    }
    let locked = object.lock(timeout, name);
    if !matches!(locked, Ok(Some(_))) {
        held::forget_guarded(id);
    }
    Ok(locked?.map(|l| l == Locked::Abandoned))
}

/// `Error::WouldDeadlock` if this thread holds `object` already.
fn refuse_relock(object: &sys::MutexObject, name: &Name) -> Result<()> {
    let id = object.identity();
    if held::holds(id) && !forget_if_stale(object, id) {
        return Err(would_deadlock(name));
    }
    Ok(())
}

/// `held::claim` once more, for a mutex this thread's record says it holds but no live
/// handle does (out of the lock's fast path): see [`forget_if_stale`].
#[cold]
#[inline(never)]
fn claim_stale(object: &sys::MutexObject, id: u64) -> bool {
    held::holds(id) && forget_if_stale(object, id) && held::claim(id)
}

/// Forgets this thread's record of holding mutex `id` through a guard if no live handle
/// holds it: the guard was leaked (`mem::forget`) and its handle dropped since, which let
/// the lock go on Linux (the next locker, this thread too, takes it as abandoned). Kept,
/// the record refused every later lock of the mutex by this thread. Whether it was.
fn forget_if_stale(object: &sys::MutexObject, id: u64) -> bool {
    object.held_by_no_live_handle() && held::forget_guarded(id)
}

/// Why a lock of mutex `id` could not be claimed for this thread (out of the lock's fast
/// path): it holds the mutex already, or it is ending and holds as many as it can record.
#[cold]
#[inline(never)]
fn claim_refused(id: u64, name: &Name) -> Error {
    if held::holds(id) {
        return would_deadlock(name);
    }
    Error::Unsupported {
        what: "a ninth mutex held at once on a thread whose thread-locals are being \
               destroyed (a relock of it could not be told)",
    }
}

/// The error for a lock this thread holds already.
#[cold]
#[inline(never)]
fn would_deadlock(name: &Name) -> Error {
    Error::WouldDeadlock {
        name: name.to_string(),
    }
}

/// Unlocks what `acquire` locked (through its guard), left abandoned if `abandon`. A guard
/// copied into a child by `fork` is no lock of the child's: its drop there leaves the
/// child's list of held mutexes alone (the child may hold the same mutex through a handle
/// of its own).
#[inline]
pub(crate) fn release(object: &sys::MutexObject, abandon: bool) {
    if object.inherited() {
        return;
    }
    held::forget_guarded(object.identity());
    if abandon {
        // The next locker is told (`abandoned`) where the system allows: Linux; Windows
        // marks abandoned only the mutexes of threads that exit, and this one is released.
        object.release_abandoned();
    } else {
        object.unlock_here();
    }
}

/// Whether a guard made when the thread was `panicking_at_lock` is dropped as its thread
/// unwinds from a panic that began since: what the mutex protects may be half changed, as
/// a thread that died holding it leaves it, and the mutex is left abandoned (as
/// `std::sync::Mutex` is poisoned). A guard taken during the unwinding (in a destructor)
/// ran its whole critical section, and is released as usual.
#[inline]
pub(crate) fn panicked_since(panicking_at_lock: bool) -> bool {
    !panicking_at_lock && std::thread::panicking()
}

/// A named, robust, cross-process mutex (Win32's `CreateMutex` / `OpenMutex`).
///
/// If the process holding it dies, the next `lock` still succeeds and says so
/// ([`MutexGuard::abandoned`], Win32's `WAIT_ABANDONED`): check the state it protects
/// before trusting it. Locking it again from the thread that holds it is
/// [`Error::WouldDeadlock`], not a hang.
///
/// A guard's lock is this thread's until the guard drops. A guard leaked (`mem::forget`)
/// keeps the mutex locked while its handle lives, even after its thread exits, as a leaked
/// `std::sync::MutexGuard` does (on Linux; Windows abandons a mutex whose owning thread
/// exits, guard or not); a thread that must be able to exit holding the mutex locks it
/// with [`lock_unguarded`](NamedMutex::lock_unguarded). A guard dropped as its thread
/// unwinds from a panic leaves the mutex abandoned on Linux: the next lock says so, as
/// `std::sync::Mutex` is poisoned (Windows marks abandoned only the mutexes of threads that
/// exit: there the guard releases it, and the next lock is told nothing); one taken during
/// the unwinding (in a destructor) is released as usual.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::NamedMutex;
/// let (m, _) = NamedMutex::create_or_open("jobs-lock")?;
/// {
///     let guard = m.lock()?;
///     assert!(!guard.abandoned());
///     assert!(matches!(m.lock(), Err(filemap::Error::WouldDeadlock { .. })));
/// } // unlocked here
/// assert!(m.try_lock()?.is_some());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct NamedMutex {
    name: Name,
    /// Shared with the list of this thread's locks taken without a guard (see `held`),
    /// which knows this handle by it, and abandons such a lock if the thread exits.
    object: Arc<sys::MutexObject>,
}

impl NamedMutex {
    /// Creates a named mutex; [`Error::AlreadyExists`] if the name is taken.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedMutex;
    /// let m = NamedMutex::create_new("doc-mutex-create-new")?;
    /// assert!(m.try_lock()?.is_some()); // created unlocked
    /// let again = NamedMutex::create_new("doc-mutex-create-new");
    /// assert!(matches!(again, Err(filemap::Error::AlreadyExists { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new(name: impl IntoName) -> Result<NamedMutex> {
        NamedMutex::create_new_with(name, &ObjectOptions::new())
    }

    /// Creates a named mutex or opens the existing one.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{sync::NamedMutex, Disposition};
    /// let (a, made) = NamedMutex::create_or_open("doc-mutex-create-or-open")?;
    /// let (b, found) = NamedMutex::create_or_open("doc-mutex-create-or-open")?;
    /// assert_eq!((made, found), (Disposition::Created, Disposition::Opened));
    /// let _guard = a.lock()?;
    /// // One mutex: through the other handle this thread would lock it twice.
    /// assert!(matches!(b.try_lock(), Err(filemap::Error::WouldDeadlock { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName) -> Result<(NamedMutex, Disposition)> {
        NamedMutex::create_or_open_with(name, &ObjectOptions::new())
    }

    /// [`create_new`](NamedMutex::create_new) with options.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{NamedMutex, ObjectOptions};
    /// let options = ObjectOptions::new().permissions(0o660);
    /// let m = NamedMutex::create_new_with("doc-mutex-create-new-with", &options)?;
    /// assert!(m.try_lock()?.is_some());
    /// let bad = ObjectOptions::new().permissions(0o200); // owner write without read
    /// let refused = NamedMutex::create_new_with("doc-mutex-bad-mode", &bad);
    /// assert!(matches!(refused, Err(filemap::Error::InvalidPermissions { mode: 0o200 })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new_with(name: impl IntoName, options: &ObjectOptions) -> Result<NamedMutex> {
        NamedMutex::create(name.into_name()?, options, CreateMode::New).map(|(m, _)| m)
    }

    /// [`create_or_open`](NamedMutex::create_or_open) with options.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{NamedMutex, ObjectOptions};
    /// use filemap::Disposition;
    /// let options = ObjectOptions::new().permissions(0o660);
    /// let name = "doc-mutex-create-or-open-with";
    /// let (_a, first) = NamedMutex::create_or_open_with(name, &options)?;
    /// let (_b, second) = NamedMutex::create_or_open_with(name, &options)?;
    /// assert_eq!((first, second), (Disposition::Created, Disposition::Opened));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open_with(
        name: impl IntoName,
        options: &ObjectOptions,
    ) -> Result<(NamedMutex, Disposition)> {
        NamedMutex::create(name.into_name()?, options, CreateMode::OrOpen)
    }

    fn create(
        name: Name,
        options: &ObjectOptions,
        mode: CreateMode,
    ) -> Result<(NamedMutex, Disposition)> {
        let header = options.header(Kind::Mutex, 0, Layout::default())?;
        let (object, _, disposition) = sys::MutexObject::create(&name, &header, mode, &|_| {})?;
        Ok((
            NamedMutex {
                name,
                object: Arc::new(object),
            },
            disposition,
        ))
    }

    /// Opens an existing named mutex.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{EventReset, NamedEvent, NamedMutex};
    /// let missing = NamedMutex::open("doc-mutex-open");
    /// assert!(matches!(missing, Err(filemap::Error::NotFound { .. })));
    /// let _m = NamedMutex::create_new("doc-mutex-open")?;
    /// assert_eq!(NamedMutex::open("doc-mutex-open")?.name().base(), "doc-mutex-open");
    /// // A name held by another kind of object is not a mutex.
    /// let _e = NamedEvent::create_new("doc-mutex-open-event", EventReset::Auto, false)?;
    /// let wrong = NamedMutex::open("doc-mutex-open-event");
    /// assert!(matches!(wrong, Err(filemap::Error::KindMismatch { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<NamedMutex> {
        let name = name.into_name()?;
        let (object, _) = sys::MutexObject::open(&name, Kind::Mutex)?;
        Ok(NamedMutex {
            name,
            object: Arc::new(object),
        })
    }

    /// The mutex's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::sync::NamedMutex::create_new("doc-mutex-name")?;
    /// assert_eq!(m.name().to_string(), "Local\\doc-mutex-name");
    /// assert_eq!(m.name().scope(), filemap::Scope::Local);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Makes the children that `command` spawns hold the mutex object (not the lock)
    /// for as long as they run, so that if this process dies holding the lock while they
    /// still run, the next locker learns it was [abandoned](MutexGuard::abandoned) rather
    /// than finding a new, innocent mutex. `filemap lock NAME -- COMMAND` does this. Keep
    /// the returned guard until the child is spawned.
    ///
    /// ```
    /// # // The child: this program again, which waits until its input closes.
    /// # if std::env::var_os("DOC_MUTEX_CHILD").is_some() {
    /// #     std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new()).unwrap();
    /// #     return Ok(());
    /// # }
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::NamedMutex;
    /// use std::process::{Command, Stdio};
    /// let m = NamedMutex::create_new("doc-mutex-share-lifetime")?;
    /// let mut child = {
    ///     // A worker that runs until its input closes.
    ///     let mut worker = Command::new(std::env::current_exe().unwrap());
    ///     worker.env("DOC_MUTEX_CHILD", "1").stdin(Stdio::piped());
    ///     let _shared = m.share_lifetime_with(&mut worker)?;
    ///     worker.spawn().unwrap()
    /// }; // spawned, and the command dropped: this process's copies of the handle close
    /// drop(m); // and so does its own last handle
    /// assert!(NamedMutex::open("doc-mutex-share-lifetime").is_ok()); // the child keeps it
    /// drop(child.stdin.take()); // the worker ends
    /// assert!(child.wait().unwrap().success());
    /// let gone = NamedMutex::open("doc-mutex-share-lifetime");
    /// assert!(matches!(gone, Err(filemap::Error::NotFound { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn share_lifetime_with(
        &self,
        command: &mut std::process::Command,
    ) -> Result<crate::SharedHandles> {
        let handle = self.object.handoff()?;
        crate::share::inherit_quietly(command, vec![handle], self.object.entry())
    }

    /// Waits until the mutex is free and locks it.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::sync::NamedMutex::create_new("doc-mutex-lock")?;
    /// let guard = m.lock()?;
    /// assert!(!guard.abandoned());
    /// // Held: another thread (or process) cannot take it until the guard drops.
    /// let busy = std::thread::scope(|s| s.spawn(|| m.try_lock().map(|g| g.is_none())).join());
    /// assert!(busy.unwrap()?);
    /// drop(guard);
    /// assert!(m.try_lock()?.is_some());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<MutexGuard<'_>> {
        let abandoned = acquire(&self.object, &self.name, None)?.expect("no timeout");
        Ok(self.guard(abandoned))
    }

    /// Locks the mutex if it is free now; `Ok(None)` if another holds it.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::mpsc::channel;
    /// let m = filemap::sync::NamedMutex::create_new("doc-mutex-try-lock")?;
    /// let ((locked, is_locked), (done, is_done)) = (channel(), channel::<()>());
    /// let m = &m;
    /// let busy = std::thread::scope(|s| {
    ///     s.spawn(move || {
    ///         let _guard = m.lock().unwrap();
    ///         locked.send(()).unwrap();
    ///         let _ = is_done.recv(); // holds the lock until told
    ///     });
    ///     is_locked.recv().unwrap();
    ///     let busy = m.try_lock().map(|g| g.is_none());
    ///     done.send(()).unwrap();
    ///     busy
    /// });
    /// assert!(busy?); // `None` while the other thread held it
    /// assert!(m.try_lock()?.is_some()); // free again
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<MutexGuard<'_>>> {
        Ok(acquire(&self.object, &self.name, Some(Duration::ZERO))?.map(|a| self.guard(a)))
    }

    /// Like [`lock`](NamedMutex::lock), giving up with [`Error::Timeout`] after `timeout`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::time::Duration;
    /// let m = filemap::sync::NamedMutex::create_new("doc-mutex-lock-timeout")?;
    /// let guard = m.lock()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         // The main thread holds it.
    ///         let r = m.lock_timeout(Duration::from_millis(10));
    ///         assert!(matches!(r, Err(filemap::Error::Timeout { .. })));
    ///     });
    /// });
    /// drop(guard);
    /// assert!(m.lock_timeout(Duration::from_secs(5)).is_ok());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_>> {
        match acquire(&self.object, &self.name, Some(timeout))? {
            Some(abandoned) => Ok(self.guard(abandoned)),
            None => Err(timeout_error(&self.name, timeout)),
        }
    }

    /// Locks the mutex without a guard, for callers that cannot hold one (bindings to C
    /// or Python, Win32-style code): it stays locked until [`release`](NamedMutex::release)
    /// through this handle on this thread. If the thread exits first, the next owner sees
    /// the mutex abandoned, as with Win32; so it does if the handle is dropped first, or
    /// the process exits (on Windows, after a dropped handle, once the locking thread has
    /// exited too), as with Win32's `CloseHandle` on an owned mutex. Returns whether it
    /// was abandoned; [`Error::Timeout`] after `timeout`
    /// (`None` waits for ever), [`Error::WouldDeadlock`] if this thread holds it already,
    /// [`Error::Unsupported`] on a thread that is ending (from a thread-local's destructor
    /// that runs after filemap's own), where nothing could release the lock (the lock is
    /// let go at once: the mutex is left free, or abandoned still if it was taken
    /// abandoned).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::time::Duration;
    /// let m = filemap::sync::NamedMutex::create_new("unguarded-demo")?;
    /// let abandoned = m.lock_unguarded(Some(Duration::from_secs(1)))?; // WaitForSingleObject
    /// assert!(!abandoned);
    /// m.release()?;                                                     // ReleaseMutex
    /// assert!(m.release().is_err()); // not held any more
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn lock_unguarded(&self, timeout: Option<Duration>) -> Result<bool> {
        match acquire(&self.object, &self.name, timeout)? {
            Some(abandoned) => {
                if !held::make_unguarded(self.object.identity(), &self.object) {
                    // A thread that is ending (a later thread-local's destructor): nothing
                    // would release the lock, nor abandon it at the thread's end. (Left
                    // abandoned if it was: the caller is told only of this error.)
                    release(&self.object, abandoned);
                    return Err(Error::Unsupported {
                        what: "an unguarded lock on a thread whose thread-locals are being destroyed",
                    });
                }
                Ok(abandoned)
            }
            None => Err(timeout_error(
                &self.name,
                timeout.expect("only a timed wait ends without the lock"),
            )),
        }
    }

    /// Unlocks the mutex that this thread locked with
    /// [`lock_unguarded`](NamedMutex::lock_unguarded) (Win32's `ReleaseMutex`);
    /// [`Error::NotOwner`] if this thread does not hold it that way (a lock held through a
    /// guard is unlocked by dropping the guard).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::sync::NamedMutex::create_new("doc-mutex-release")?;
    /// assert!(matches!(m.release(), Err(filemap::Error::NotOwner { .. }))); // not locked
    /// let guard = m.lock()?;
    /// assert!(matches!(m.release(), Err(filemap::Error::NotOwner { .. }))); // a guard's lock
    /// drop(guard);
    /// m.lock_unguarded(None)?;
    /// m.release()?;
    /// assert!(m.try_lock()?.is_some());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        if !held::forget_unguarded(self.object.identity(), &self.object) {
            return Err(Error::NotOwner {
                name: self.name.to_string(),
            });
        }
        self.object.unlock();
        Ok(())
    }

    /// The system's object (for a wait on many objects).
    pub(crate) fn object(&self) -> &sys::MutexObject {
        &self.object
    }

    /// `Error::WouldDeadlock` if this thread holds the mutex (before a wait on many
    /// objects that includes it).
    pub(crate) fn refuse_relock(&self) -> Result<()> {
        refuse_relock(&self.object, &self.name)
    }

    /// The guard of a lock that a wait on many objects took for this thread.
    pub(crate) fn taken(&self, abandoned: bool) -> MutexGuard<'_> {
        // (Taken already: on an ending thread that holds eight, where it cannot be
        // recorded, a relock of it waits rather than being refused.)
        let _ = held::push_guarded(self.object.identity());
        self.guard(abandoned)
    }

    #[inline]
    fn guard(&self, abandoned: bool) -> MutexGuard<'_> {
        MutexGuard {
            mutex: self,
            taken: Taken::new(abandoned, std::thread::panicking()),
            _not_send: PhantomData,
        }
    }
}

/// Holds a [`NamedMutex`] locked; unlocks it when dropped (on the thread that locked it).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let m = filemap::sync::NamedMutex::create_new("guard-demo")?;
/// let guard = m.lock()?;
/// if guard.abandoned() {
///     // WAIT_ABANDONED: check the state the mutex protects before trusting it
/// }
/// drop(guard); // unlocks
/// # Ok::<(), filemap::Error>(())
/// ```
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
#[derive(Debug)]
pub struct MutexGuard<'a> {
    mutex: &'a NamedMutex,
    taken: Taken,
    _not_send: PhantomData<*const ()>,
}

/// How a guard's lock was taken: abandoned or not, and whether the thread was unwinding
/// from a panic then (see `panicked_since`). One enum, not two flags: with a second flag
/// in the guard, a `NamedMutex` lock and unlock took twice as long (section 4 of
/// docs/benchmarks.md, `filemap-bench --sections 4`: 26 ns against 13 on one machine).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Taken {
    Clean,
    Abandoned,
    CleanWhilePanicking,
    AbandonedWhilePanicking,
}

impl Taken {
    #[inline]
    pub(crate) fn new(abandoned: bool, panicking: bool) -> Taken {
        match (abandoned, panicking) {
            (false, false) => Taken::Clean,
            (true, false) => Taken::Abandoned,
            (false, true) => Taken::CleanWhilePanicking,
            (true, true) => Taken::AbandonedWhilePanicking,
        }
    }

    #[inline]
    pub(crate) fn abandoned(self) -> bool {
        matches!(self, Taken::Abandoned | Taken::AbandonedWhilePanicking)
    }

    #[inline]
    pub(crate) fn panicking_at_lock(self) -> bool {
        matches!(
            self,
            Taken::CleanWhilePanicking | Taken::AbandonedWhilePanicking
        )
    }
}

impl MutexGuard<'_> {
    /// True if the previous owner died while holding the mutex (`WAIT_ABANDONED`): the
    /// state it protects may be half-updated. The mutex itself works normally.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::time::Duration;
    /// let m = filemap::sync::NamedMutex::create_new("doc-mutex-abandoned")?;
    /// assert!(!m.lock()?.abandoned());
    /// // A thread that exits holding the lock abandons it, as a process that dies does.
    /// std::thread::scope(|s| s.spawn(|| m.lock_unguarded(None).map(|_| ())).join().unwrap())?;
    /// let guard = m.lock_timeout(Duration::from_secs(5))?;
    /// assert!(guard.abandoned());
    /// drop(guard);
    /// assert!(!m.lock()?.abandoned()); // reported once; the mutex works normally
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn abandoned(&self) -> bool {
        self.taken.abandoned()
    }

    /// Keeps the mutex locked past the guard, to be unlocked by
    /// [`NamedMutex::release`] on this thread, as if taken by
    /// [`NamedMutex::lock_unguarded`] (for bindings, after a wait on many objects took
    /// it). Returns whether it was abandoned. On a thread that is ending (see
    /// `lock_unguarded`), the lock goes with the guard instead.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::sync::NamedMutex::create_new("into-unguarded-demo")?;
    /// let abandoned = m.lock()?.into_unguarded();
    /// assert!(!abandoned);
    /// assert!(matches!(m.try_lock(), Err(filemap::Error::WouldDeadlock { .. }))); // still held
    /// m.release()?; // unlocks
    /// assert!(m.try_lock()?.is_some());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn into_unguarded(self) -> bool {
        // (A guard copied into a child by `fork` holds nothing there: see `release`.)
        let abandoned = self.taken.abandoned();
        if !self.mutex.object.inherited()
            && !held::make_unguarded(self.mutex.object.identity(), &self.mutex.object)
        {
            // A thread that is ending: the lock is released here, as nothing would release
            // it later (a `release` then finds it not held); left abandoned if it was (the
            // caller holds nothing to check the state with).
            let guard = std::mem::ManuallyDrop::new(self);
            let abandon = abandoned || panicked_since(guard.taken.panicking_at_lock());
            release(&guard.mutex.object, abandon);
            return abandoned;
        }
        std::mem::forget(self);
        abandoned
    }
}

impl Drop for MutexGuard<'_> {
    fn drop(&mut self) {
        release(
            &self.mutex.object,
            panicked_since(self.taken.panicking_at_lock()),
        );
    }
}
