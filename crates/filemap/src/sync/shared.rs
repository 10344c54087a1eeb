//! `SharedMutex<T>`: a named value of a plain-old-data type under a robust mutex, with a
//! guard that holds a copy of the value and writes it back when it unlocks. The creator
//! records `T`'s size, alignment and type name (without module paths, hashed) in the
//! header; opening it as another type is an error.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use bytemuck::Pod;

use super::mutex::{Taken, acquire, panicked_since, release};
use super::{ObjectOptions, timeout_error};
use crate::copy::{SMALL, copy_from_shared, copy_to_shared, load_small, store_small};
use crate::error::{Error, Result};
use crate::header::{Header, Layout, SYNC_AREA};
use crate::name::{IntoName, Name};
use crate::sys::{self, CreateMode};
use crate::vocabulary::Disposition;
use crate::vocabulary::Kind;

/// FNV-1a of the type's name without its module paths: the type tag recorded in the
/// header.
fn type_hash(name: &str) -> u64 {
    without_paths(name)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// A type's name (as `std::any::type_name` writes it) without the module paths of the
/// names in it: `[producer::Pose; 2]` is `[Pose; 2]`. Two programs share a value whose
/// type each defines for itself, in its own crate, under the same name.
fn without_paths(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut word = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else if c == ':' && chars.peek() == Some(&':') {
            // `word` was a path segment.
            chars.next();
            word.clear();
        } else {
            out.push_str(&word);
            word.clear();
            out.push(c);
        }
    }
    out.push_str(&word);
    out
}

fn layout_of<T>() -> Layout {
    Layout {
        size: std::mem::size_of::<T>() as u64,
        align: std::mem::align_of::<T>() as u64,
        type_hash: type_hash(std::any::type_name::<T>()),
    }
}

fn check_layout<T>(name: &Name, header: &Header) -> Result<()> {
    let want = layout_of::<T>();
    if header.layout != want {
        return Err(Error::LayoutMismatch {
            name: name.to_string(),
            expected: format!(
                "{} ({} bytes, alignment {})",
                std::any::type_name::<T>(),
                want.size,
                want.align
            ),
            found: format!(
                "value of another type (type tag {:#018x}, {} bytes, alignment {})",
                header.layout.type_hash, header.layout.size, header.layout.align
            ),
        });
    }
    Ok(())
}

/// A named value of type `T` shared between processes under a robust mutex: the classic
/// "shared int under a named mutex", typed and crash-proof.
///
/// `T` is plain old data ([`bytemuck::Pod`]): any bytes are a valid `T`, so a value left
/// half-written by a process that died is still a `T` (check it when
/// [`abandoned`](SharedMutexGuard::abandoned) says so). A guard leaked (`mem::forget`)
/// keeps the value locked while its handle lives, as [`NamedMutex`](super::NamedMutex)'s
/// does. A guard dropped as its thread unwinds from a panic writes nothing back (the
/// value stays as it was read), and leaves the mutex abandoned on Linux, as
/// `NamedMutex`'s guard does.
///
/// The value's type is checked at every open: its size, its alignment and its name,
/// without module paths (`producer::Pose` and `consumer::Pose` are one type, so that two
/// programs can each define the struct they share; `Pose` and `Position` are not). Give
/// the struct the same fields in both (`#[repr(C)]`, as `Pod` asks): the bytes are taken
/// as they are.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::sync::SharedMutex;
/// let (counter, _) = SharedMutex::<u64>::create_or_open("counter", 0)?;
/// {
///     let mut n = counter.lock()?;
///     *n += 1;
/// }
/// assert_eq!(*counter.lock()?, 1);
/// // Opening it as another type is refused.
/// assert!(matches!(
///     SharedMutex::<u32>::open("counter"),
///     Err(filemap::Error::LayoutMismatch { .. })
/// ));
/// # Ok::<(), filemap::Error>(())
/// ```
pub struct SharedMutex<T> {
    name: Name,
    object: sys::MutexObject,
    _value: PhantomData<T>,
}

impl<T> std::fmt::Debug for SharedMutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMutex")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

// SAFETY: a SharedMutex holds a handle on the object and a pointer into its mapping, which
// any thread may use; the value is only copied in and out under the cross-process lock,
// by atomic word accesses or the copy routine, sound whatever other threads or processes
// write; T: Pod has no thread affinity.
unsafe impl<T: Pod> Send for SharedMutex<T> {}
// SAFETY: `&SharedMutex` only locks and copies, as above; the guard is not Send, so the
// lock is released by the thread that took it.
unsafe impl<T: Pod> Sync for SharedMutex<T> {}

impl<T: Pod> SharedMutex<T> {
    /// Creates the named value, initialised to `initial`; [`Error::AlreadyExists`] if the
    /// name is taken.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::SharedMutex;
    /// let v = SharedMutex::create_new("doc-shared-create-new", 42u32)?;
    /// assert_eq!(*v.lock()?, 42);
    /// let again = SharedMutex::create_new("doc-shared-create-new", 0u32);
    /// assert!(matches!(again, Err(filemap::Error::AlreadyExists { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new(name: impl IntoName, initial: T) -> Result<SharedMutex<T>> {
        SharedMutex::create_new_with(name, initial, &ObjectOptions::new())
    }

    /// Creates the named value, or opens the existing one (which keeps its value).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{sync::SharedMutex, Disposition};
    /// let (a, made) = SharedMutex::create_or_open("doc-shared-create-or-open", 1u64)?;
    /// *a.lock()? = 2;
    /// let (b, found) = SharedMutex::create_or_open("doc-shared-create-or-open", 100u64)?;
    /// assert_eq!((made, found), (Disposition::Created, Disposition::Opened));
    /// assert_eq!(*b.lock()?, 2); // the existing value, not 100
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(
        name: impl IntoName,
        initial: T,
    ) -> Result<(SharedMutex<T>, Disposition)> {
        SharedMutex::create_or_open_with(name, initial, &ObjectOptions::new())
    }

    /// [`create_new`](SharedMutex::create_new) with options.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{ObjectOptions, SharedMutex};
    /// let options = ObjectOptions::new().permissions(0o660);
    /// let v = SharedMutex::create_new_with("doc-shared-create-new-with", [1u8; 8], &options)?;
    /// assert_eq!(*v.lock()?, [1; 8]);
    /// let bad = ObjectOptions::new().permissions(0o400); // the owner must keep write access
    /// let refused = SharedMutex::create_new_with("doc-shared-bad-mode", [1u8; 8], &bad);
    /// assert!(matches!(refused, Err(filemap::Error::InvalidPermissions { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_new_with(
        name: impl IntoName,
        initial: T,
        options: &ObjectOptions,
    ) -> Result<SharedMutex<T>> {
        SharedMutex::create(name.into_name()?, initial, options, CreateMode::New).map(|(m, _)| m)
    }

    /// [`create_or_open`](SharedMutex::create_or_open) with options.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::{ObjectOptions, SharedMutex};
    /// use filemap::Disposition;
    /// let options = ObjectOptions::new().permissions(0o660);
    /// let name = "doc-shared-create-or-open-with";
    /// let (_a, first) = SharedMutex::create_or_open_with(name, 7i32, &options)?;
    /// let (b, second) = SharedMutex::create_or_open_with(name, 9i32, &options)?;
    /// assert_eq!((first, second), (Disposition::Created, Disposition::Opened));
    /// assert_eq!(*b.lock()?, 7);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open_with(
        name: impl IntoName,
        initial: T,
        options: &ObjectOptions,
    ) -> Result<(SharedMutex<T>, Disposition)> {
        SharedMutex::create(name.into_name()?, initial, options, CreateMode::OrOpen)
    }

    fn create(
        name: Name,
        initial: T,
        options: &ObjectOptions,
        mode: CreateMode,
    ) -> Result<(SharedMutex<T>, Disposition)> {
        if std::mem::align_of::<T>() > SYNC_AREA {
            return Err(Error::Unsupported {
                what: "shared values aligned to more than 64 bytes",
            });
        }
        let header = options.header(
            Kind::SharedMutex,
            std::mem::size_of::<T>(),
            layout_of::<T>(),
        )?;
        let init = |at: *mut u8| {
            // SAFETY: `at` is size_of::<T>() writable bytes aligned to 64 in a new entry
            // nobody else can see yet.
            unsafe { at.cast::<T>().write(initial) }
        };
        let (object, header, disposition) = sys::MutexObject::create(&name, &header, mode, &init)?;
        check_layout::<T>(&name, &header)?;
        Ok((
            SharedMutex {
                name,
                object,
                _value: PhantomData,
            },
            disposition,
        ))
    }

    /// Opens an existing named value of type `T`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::SharedMutex;
    /// let missing = SharedMutex::<u16>::open("doc-shared-open");
    /// assert!(matches!(missing, Err(filemap::Error::NotFound { .. })));
    /// let creator = SharedMutex::create_new("doc-shared-open", 5u16)?;
    /// let opener = SharedMutex::<u16>::open("doc-shared-open")?;
    /// *creator.lock()? += 1;
    /// assert_eq!(*opener.lock()?, 6); // one value, two handles
    /// let wrong = SharedMutex::<i16>::open("doc-shared-open"); // same size, another type
    /// assert!(matches!(wrong, Err(filemap::Error::LayoutMismatch { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<SharedMutex<T>> {
        let name = name.into_name()?;
        let (object, header) = sys::MutexObject::open(&name, Kind::SharedMutex)?;
        check_layout::<T>(&name, &header)?;
        Ok(SharedMutex {
            name,
            object,
            _value: PhantomData,
        })
    }

    /// The object's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let v = filemap::sync::SharedMutex::create_new("doc-shared-name", 0u8)?;
    /// assert_eq!(v.name().to_string(), "Local\\doc-shared-name");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Waits for the lock; the guard gives the value.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::SharedMutex;
    /// let v = SharedMutex::create_new("doc-shared-lock", [0u32; 2])?;
    /// {
    ///     let mut pair = v.lock()?;
    ///     pair[0] += 1;
    ///     pair[1] += 2;
    /// } // written back and unlocked
    /// assert_eq!(*v.lock()?, [1, 2]);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<SharedMutexGuard<'_, T>> {
        let abandoned = acquire(&self.object, &self.name, None)?.expect("no timeout");
        self.guard(abandoned)
    }

    /// Locks if free now; `Ok(None)` if another holds it.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let v = filemap::sync::SharedMutex::create_new("doc-shared-try-lock", 0u64)?;
    /// let guard = v.lock()?;
    /// // Another thread (or process) finds it held.
    /// let busy = std::thread::scope(|s| s.spawn(|| v.try_lock().map(|g| g.is_none())).join());
    /// assert!(busy.unwrap()?);
    /// drop(guard);
    /// assert_eq!(v.try_lock()?.map(|g| *g), Some(0));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<SharedMutexGuard<'_, T>>> {
        acquire(&self.object, &self.name, Some(Duration::ZERO))?
            .map(|a| self.guard(a))
            .transpose()
    }

    /// Like [`lock`](SharedMutex::lock), giving up with [`Error::Timeout`] after `timeout`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::time::Duration;
    /// let v = filemap::sync::SharedMutex::create_new("doc-shared-lock-timeout", 0u64)?;
    /// let guard = v.lock()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         // The main thread holds it.
    ///         let r = v.lock_timeout(Duration::from_millis(10));
    ///         assert!(matches!(r, Err(filemap::Error::Timeout { .. })));
    ///     });
    /// });
    /// drop(guard);
    /// assert_eq!(*v.lock_timeout(Duration::from_secs(5))?, 0);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<SharedMutexGuard<'_, T>> {
        match acquire(&self.object, &self.name, Some(timeout))? {
            Some(abandoned) => self.guard(abandoned),
            None => Err(timeout_error(&self.name, timeout)),
        }
    }

    /// The guard of a lock just taken: a copy of the value, read under the lock. If the
    /// value cannot be read (the entry was truncated under it), the lock is given back and
    /// the error returned.
    ///
    /// Inlined into the lock, with the rare paths out of line: a guard built in the
    /// caller's frame is not copied out of a returned `Result` with loads wider than the
    /// stores that wrote it, which stalls the processor's store forwarding (an uncontended
    /// `SharedMutex<u64>` lock and unlock took 25 ns against 16 so, `filemap-bench
    /// --sections 4`).
    #[inline]
    fn guard(&self, abandoned: bool) -> Result<SharedMutexGuard<'_, T>> {
        let mut value = T::zeroed();
        let at = self.object.data();
        let bytes = bytemuck::bytes_of_mut(&mut value);
        if bytes.len() <= SMALL {
            // SAFETY: the value's bytes lie inside the mapped data area (its size was
            // checked against T's when the object was opened), 8-aligned (a page-aligned
            // view plus `SYNC_AREA`), and stay mapped while `self` lives; a fault there is
            // no undefined behaviour: on Linux x86_64 the fault handler rescues the area
            // (`intact` below says if it did), a Windows section cannot be cut short, and
            // elsewhere a fault ends the process, as the byte copy did before; this process
            // reaches the value only here and in the guard's drop, with the same address
            // and length; any bytes are a valid T (Pod).
            unsafe { load_small(at, bytes) };
        } else {
            self.load_large(bytes, abandoned)?;
        }
        // The memory may also have been lost (replaced by zeros) without this copy
        // faulting, if another thread's access to it faulted first.
        if let Err(lost) = self.object.intact() {
            return Err(self.give_back(lost, abandoned));
        }
        Ok(SharedMutexGuard {
            owner: self,
            value,
            read: value,
            taken: Taken::new(abandoned, std::thread::panicking()),
            _not_send: PhantomData,
        })
    }

    /// Copies a value larger than [`SMALL`] out of the shared memory into `bytes`; on a
    /// fault, gives the lock back and says where.
    #[inline(never)]
    fn load_large(&self, bytes: &mut [u8], abandoned: bool) -> Result<()> {
        let at = self.object.data();
        // SAFETY: as in `guard`, with the copy routine, sound whatever another process
        // writes meanwhile, and reporting a fault itself.
        if let Err(fault) = unsafe { copy_from_shared(at, bytes) } {
            // (Left abandoned if it was: the caller is told only of the fault.)
            release(&self.object, abandoned);
            return Err(Error::PageFault {
                name: self.name.to_string(),
                offset: fault.address.saturating_sub(at as usize) as u64,
                truncated: self.object.truncated(),
            });
        }
        Ok(())
    }

    /// Gives the lock back after the value's memory was found lost (`lost` says so).
    #[cold]
    #[inline(never)]
    fn give_back(&self, lost: Error, abandoned: bool) -> Error {
        // (Left abandoned if it was: the caller is told only of the loss.)
        release(&self.object, abandoned);
        lost
    }
}

/// The locked value of a [`SharedMutex`]: a copy read when the lock was taken, written
/// back (if it changed) and unlocked when the guard drops.
///
/// Working on a copy keeps safe code sound even if a process that ignores the lock writes
/// the value meanwhile: Rust may assume a `&T` does not change, which memory another
/// process can write does not promise. The copy costs `size_of::<T>()` bytes each way; for
/// large values, [`as_ptr`](SharedMutexGuard::as_ptr) reaches the shared bytes in place
/// (with the trust that takes). The guard holds two `T`s on the stack (the value and the
/// value as read, to write back only a change), so keep `T` to a size the stack can hold.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let v = filemap::sync::SharedMutex::<[u32; 4]>::create_new("shared-guard-demo", [0; 4])?;
/// let mut g = v.lock()?;
/// g[2] = 7; // changes the copy; written back when `g` drops
/// assert_eq!(*g, [0, 0, 7, 0]);
/// drop(g);
/// assert_eq!(*v.lock()?, [0, 0, 7, 0]);
/// # Ok::<(), filemap::Error>(())
/// ```
#[must_use = "the value is unlocked as soon as the guard is dropped"]
pub struct SharedMutexGuard<'a, T: Pod> {
    owner: &'a SharedMutex<T>,
    value: T,
    /// The value as read: only a changed value is written back, so a lock that only looks
    /// does not dirty the shared cache line for the other processes.
    read: T,
    /// Abandoned or not, and whether the thread was unwinding from a panic when it took
    /// the lock (see `mutex::Taken`).
    taken: Taken,
    _not_send: PhantomData<*const ()>,
}

impl<T: Pod> SharedMutexGuard<'_, T> {
    /// True if the previous owner died holding the lock: the value may be half-updated.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// // Two counters that must stay equal: updated one after the other, under the lock.
    /// let v = filemap::sync::SharedMutex::create_new("doc-shared-abandoned", [0u32; 2])?;
    /// let mut pair = v.lock()?;
    /// if pair.abandoned() {
    ///     // A process died holding the lock, perhaps between the two writes: repair.
    ///     pair[1] = pair[0];
    /// }
    /// assert!(!pair.abandoned()); // here nobody died holding it
    /// pair[0] += 1;
    /// pair[1] += 1;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn abandoned(&self) -> bool {
        self.taken.abandoned()
    }

    /// The value in shared memory, in place. Reading or writing through it while this
    /// guard lives is up to the caller: sound when every process that can write the object
    /// takes the lock first (trusted peers). What is written through it directly may be
    /// overwritten by the guard's copy when the guard drops, if the copy was changed too.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let v = filemap::sync::SharedMutex::create_new("doc-shared-as-ptr", 5u64)?;
    /// {
    ///     let g = v.lock()?;
    ///     // SAFETY: every process that writes this value takes the lock first.
    ///     unsafe { g.as_ptr().write(6) };
    ///     assert_eq!(*g, 5); // the guard's copy, read when the lock was taken
    /// } // the copy was not changed: nothing is written back
    /// assert_eq!(*v.lock()?, 6);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut T {
        self.owner.object.data().cast()
    }
}

impl<T: Pod> Deref for SharedMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Pod> DerefMut for SharedMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for SharedMutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMutexGuard")
            .field("value", &self.value)
            .field("abandoned", &self.taken.abandoned())
            .finish()
    }
}

impl<T: Pod> Drop for SharedMutexGuard<'_, T> {
    fn drop(&mut self) {
        // A child's copy of its parent's guard (made by `fork`) holds no lock: it writes
        // nothing back (the parent, or a later owner, may hold the mutex by now). Nor does
        // a guard dropped as its thread unwinds from a panic: its value may be half
        // changed, and the shared one stays as it was read (the mutex is left abandoned,
        // on Linux: see `release`). (A guard taken during the unwinding, in a destructor,
        // ran its whole critical section: written back, as usual.)
        let panicked = panicked_since(self.taken.panicking_at_lock());
        if bytemuck::bytes_of(&self.value) != bytemuck::bytes_of(&self.read)
            && !self.owner.object.inherited()
            && !panicked
        {
            // A fault here (the entry truncated under the value) loses the change: there is
            // no memory left to hold it, and a drop cannot report it.
            let bytes = bytemuck::bytes_of(&self.value);
            if bytes.len() <= SMALL {
                // SAFETY: as in `SharedMutex::guard`: mapped, in bounds, aligned, rescued,
                // and reached with the same address and length only.
                unsafe { store_small(self.as_ptr().cast(), bytes) };
            } else {
                // SAFETY: as in `SharedMutex::guard`: mapped and in bounds, and the copy
                // routine is sound against other writers.
                let _ = unsafe { copy_to_shared(self.as_ptr().cast(), bytes) };
            }
        }
        release(&self.owner.object, panicked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_tags_leave_module_paths_out() {
        for (name, plain) in [
            ("u64", "u64"),
            ("producer::Pose", "Pose"),
            ("[producer::sensors::Pose; 2]", "[Pose; 2]"),
            ("(u32, consumer::Pose)", "(u32, Pose)"),
            ("common::Pair<app::A, [u8; 4]>", "Pair<A, [u8; 4]>"),
        ] {
            assert_eq!(without_paths(name), plain);
        }
        assert_eq!(type_hash("producer::Pose"), type_hash("consumer::Pose"));
        assert_ne!(type_hash("producer::Pose"), type_hash("producer::Pos"));
    }
}
