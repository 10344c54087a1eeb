//! Views (`MapViewOfFile`): the view builder (offset, length, access, address), sound
//! copies in and out of memory that other processes may be writing, aligned atomics, raw
//! access, flushing, and the `Virtual*` toolbox: protection changes, advice, locking.

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::copy::{Fault, copy_racy, copy_to_shared};
use crate::error::{Error, Result};
use crate::object::Object;
use crate::sys;
use crate::vocabulary::{Access, Advice, Protect, Protection};

mod words;

/// The alignment of view offsets in the underlying system call: the page size on Linux,
/// 64 KiB on Windows. Views accept any offset; filemap aligns internally.
///
/// ```
/// let g = filemap::allocation_granularity();
/// assert!(g.is_power_of_two() && g >= 4096);
/// ```
pub fn allocation_granularity() -> u64 {
    sys::allocation_granularity()
}

/// The size of a memory page (the unit of [`View::modified_pages`]): 4096 on x86_64;
/// 16 KiB and 64 KiB page kernels exist elsewhere.
///
/// ```
/// assert!(filemap::page_size().is_power_of_two());
/// ```
pub fn page_size() -> u64 {
    sys::page_size()
}

/// Builds a view of a mapping: access, offset, length, populate. Made by
/// [`Mapping::view`](crate::Mapping::view).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::{Access, Mapping};
/// let m = Mapping::create_new("view-builder-demo", 100_000)?;
/// // any offset: filemap aligns the underlying mapping itself
/// let v = m.view().access(Access::Write).offset(70_001).len(100).populate(true).map()?;
/// assert_eq!((v.offset(), v.len()), (70_001, 100));
/// // length 0 means "to the end"
/// assert_eq!(m.view().offset(99_000).map()?.len(), 1_000);
/// // past the end is an error, not a crash
/// assert!(matches!(
///     m.view().offset(99_999).len(2).map(),
///     Err(filemap::Error::OutOfRange { .. })
/// ));
/// # Ok::<(), filemap::Error>(())
/// ```
#[must_use = "a view builder does nothing until .map() is called"]
pub struct ViewBuilder<'a> {
    object: &'a Arc<Object>,
    access: Option<Access>,
    offset: u64,
    len: u64,
    populate: bool,
    address: Option<usize>,
}

impl<'a> ViewBuilder<'a> {
    pub(crate) fn new(object: &'a Arc<Object>) -> ViewBuilder<'a> {
        ViewBuilder {
            object,
            access: None,
            offset: 0,
            len: 0,
            populate: false,
            address: None,
        }
    }

    /// Places the view's first byte at `address` (`MapViewOfFileEx`), or fails with
    /// [`Error::AddressInUse`] if anything is mapped there: an existing mapping is never
    /// replaced. `address` minus the offset's remainder modulo
    /// [`allocation_granularity`] must be a multiple of it ([`Error::AddressMisaligned`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("at-address-demo", 1 << 20)?;
    /// let first = m.view().map()?;
    /// let wanted = first.as_ptr() as usize; // a free, aligned address once unmapped
    /// drop(first);
    /// let v = m.view().at_address(wanted).map()?;
    /// assert_eq!(v.as_ptr() as usize, wanted);
    /// // The range is taken now: a second view there is refused, not placed over it.
    /// assert!(matches!(
    ///     m.view().at_address(wanted).map(),
    ///     Err(filemap::Error::AddressInUse { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn at_address(mut self, address: usize) -> Self {
        self.address = Some(address);
        self
    }

    /// The view's access (default: [`Mapping::default_access`](crate::Mapping::default_access)).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-builder-access", 4096)?;
    /// let r = m.view().access(Access::Read).map()?;
    /// assert!(matches!(r.write_at(0, b"x"), Err(filemap::Error::ViewNotWritable { .. })));
    /// let c = m.view().access(Access::Copy).map()?;
    /// c.write_at(0, b"mine")?; // stays in this view
    /// assert_eq!(r.read_vec(0, 4)?, [0; 4]);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn access(mut self, access: Access) -> Self {
        self.access = Some(access);
        self
    }

    /// Where the view starts in the object, in bytes (any value).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-builder-offset", 10_000)?;
    /// m.view().map()?.write_at(5000, b"here")?;
    /// let v = m.view().offset(5000).map()?; // aligned to nothing: fine
    /// assert_eq!((v.offset(), v.len()), (5000, 5000));
    /// assert_eq!(v.read_vec(0, 4)?, b"here");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The view's length in bytes; 0 (the default) means to the end of the object.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-builder-len", 10_000)?;
    /// assert_eq!(m.view().len(100).map()?.len(), 100);
    /// assert_eq!(m.view().offset(4000).map()?.len(), 6000); // to the end
    /// assert!(matches!(
    ///     m.view().offset(4000).len(6001).map(),
    ///     Err(filemap::Error::OutOfRange { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn len(mut self, len: u64) -> Self {
        self.len = len;
        self
    }

    /// Fault every page in now (`MAP_POPULATE`) rather than on first touch. A copy view's
    /// pages are faulted in for reading (Linux 5.14 and later; earlier ones populate
    /// nothing): they stay the object's until the view writes them.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-builder-populate", 1 << 20)?;
    /// let w = m.view().map()?;
    /// w.write_at(4096, b"warm")?;
    /// assert_eq!(m.view().populate(true).map()?.read_vec(4096, 4)?, b"warm");
    /// // A populated copy view still shows the object's pages until it writes them.
    /// let c = m.view().access(Access::Copy).populate(true).map()?;
    /// w.write_at(0, b"later")?;
    /// assert_eq!(c.read_vec(0, 5)?, b"later");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn populate(mut self, populate: bool) -> Self {
        self.populate = populate;
        self
    }

    /// Maps the view.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-builder-map", 4096)?;
    /// let v = m.view().map()?;
    /// assert_eq!((v.offset(), v.len(), v.access()), (0, 4096, Access::Write));
    /// assert!(matches!(m.view().offset(4096).map(), Err(filemap::Error::OutOfRange { .. })));
    /// let ro = Mapping::open_with("doc-builder-map", Access::Read)?;
    /// assert!(matches!(
    ///     ro.view().access(Access::Write).map(),
    ///     Err(filemap::Error::AccessNotAllowed { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn map(self) -> Result<View> {
        let object = self.object;
        let access = self.access.unwrap_or_else(|| object.default_access());
        check_access(object, access)?;
        let size = object.header.size;
        let len = if self.len == 0 {
            size.saturating_sub(self.offset)
        } else {
            self.len
        };
        match self.offset.checked_add(len) {
            Some(end) if end <= size && len > 0 => {}
            _ => {
                return Err(Error::OutOfRange {
                    offset: self.offset,
                    len,
                    size,
                });
            }
        }
        let granule = object.granule();
        let aligned = self.offset - self.offset % granule;
        let delta = (self.offset - aligned) as usize;
        let map_len = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(delta))
            .and_then(|l| {
                // Huge-page mappings are whole huge pages.
                if object.on_huge_pages() {
                    l.checked_next_multiple_of(granule as usize)
                } else {
                    Some(l)
                }
            })
            .ok_or(Error::InvalidSize {
                size: len,
                problem: "larger than this process's address space",
            })?;
        let at = match self.address {
            None => None,
            Some(addr) => {
                // The first page at address 0 is "anywhere" to Windows and a mapping of
                // the null page on Linux: neither is a place, and both are refused.
                if addr <= delta {
                    return Err(Error::InvalidSetting {
                        setting: "view address",
                        value: addr as u64,
                        allowed: "an address past the first page (its start, less the offset's \
                                  remainder modulo the allocation granularity, may not be 0)",
                    });
                }
                if (addr - delta) as u64 % granule != 0 {
                    return Err(Error::AddressMisaligned {
                        addr,
                        offset: self.offset,
                        granularity: granule,
                    });
                }
                Some((addr - delta) as *mut u8)
            }
        };
        let raw = object.section.map_at(
            object.base + aligned,
            map_len,
            access,
            self.populate,
            at,
            &object.describe(),
        )?;
        if object.header.is_large_pages() {
            raw.advise_huge_pages();
        }
        // SAFETY: `delta < map_len`, so the pointer stays inside the new mapping.
        let ptr = unsafe { raw.ptr().add(delta) };
        Ok(View {
            ptr,
            len: len as usize,
            delta,
            offset: self.offset,
            access,
            protect: match access {
                Access::Read => Protect::ReadOnly,
                Access::Write | Access::Copy => Protect::ReadWrite,
            },
            raw,
            object: self.object.clone(),
            locked: Mutex::new(false),
        })
    }
}

fn check_access(object: &Object, access: Access) -> Result<()> {
    if access != Access::Write {
        return Ok(());
    }
    let reason = if object.header.protection != Protection::ReadWrite {
        format!(
            "{} has {} protection",
            object.describe(),
            object.header.protection
        )
    } else if !object.writable {
        format!("this handle on {} was opened read-only", object.describe())
    } else {
        return Ok(());
    };
    Err(Error::AccessNotAllowed {
        requested: access,
        reason,
    })
}

/// A mapped view of a mapping object (`MapViewOfFile`); unmapped on drop.
///
/// A view keeps its object alive: the mapping handle can be dropped first.
///
/// Other processes can write the same memory at any moment, so a view never hands out a
/// plain `&[u8]` safely. It offers:
///
/// - [`read_at`](View::read_at) / [`write_at`](View::write_at): copies that are sound even
///   while others write (byte-wise atomic copies; the bytes read may mix old and new data
///   if a writer is active: coordinate with a lock or an atomic flag);
/// - the guarded word operations ([`load_u32`](View::load_u32),
///   [`fetch_add_u64`](View::fetch_add_u64), ...): aligned atomic words at an offset, for
///   flags, counters and sequence numbers, a fault under them an error;
/// - [`as_ptr`](View::as_ptr) and the `unsafe` [`as_slice`](View::as_slice) /
///   [`as_mut_slice`](View::as_mut_slice), [`atomic_u32`](View::atomic_u32) /
///   [`atomic_u64`](View::atomic_u64) (Rust's own atomics in place), whose contracts the
///   caller keeps.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use std::sync::atomic::Ordering;
/// let m = filemap::Mapping::create_new("view-demo", 4096)?;
/// let v = m.view().map()?;
/// drop(m); // the view keeps the object alive
/// v.write_at(8, b"payload")?;
/// v.store_u32(0, 1, Ordering::Release)?;
/// let mut buf = [0u8; 7];
/// v.read_at(8, &mut buf)?;
/// assert_eq!(&buf, b"payload");
/// # Ok::<(), filemap::Error>(())
/// ```
pub struct View {
    /// First byte of the view (inside `raw`).
    ptr: *mut u8,
    len: usize,
    /// Distance from the start of `raw` to `ptr`.
    delta: usize,
    offset: u64,
    access: Access,
    /// The current page protection.
    protect: Protect,
    raw: sys::RawView,
    object: Arc<Object>,
    /// Whether [`lock`](View::lock) locked the view's pages (and `unlock` did not unlock
    /// them since); held across the system calls of `lock`, `unlock` and `advise_range`,
    /// so that calls from several threads keep it true to the pages.
    locked: Mutex<bool>,
}

// SAFETY: a View refers to memory mapped in this process that stays mapped while the View
// lives; every safe accessor reaches that memory through the copy and word routines (on
// x86_64 assembly outside Rust's memory model, as another process's accesses are;
// elsewhere Rust atomics), never through a Rust reference, so sharing it between threads
// cannot create data races beyond those the unsafe accessors' callers accept.
unsafe impl Send for View {}
// SAFETY: as above.
unsafe impl Sync for View {}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("object", &self.object.describe())
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("access", &self.access)
            .finish()
    }
}

impl View {
    /// The view's length in bytes.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-view-len", 10_000)?;
    /// assert_eq!(m.view().map()?.len(), 10_000);
    /// assert_eq!(m.view().offset(1).map()?.len(), 9_999);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: views have at least one byte.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-view-is-empty", 4096)?;
    /// assert!(!m.view().map()?.is_empty());
    /// // An empty view is refused when it would be mapped.
    /// assert!(matches!(m.view().offset(4096).map(), Err(filemap::Error::OutOfRange { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the view starts in its object.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-view-offset", 100_000)?;
    /// let v = m.view().offset(70_001).map()?;
    /// assert_eq!(v.offset(), 70_001); // as asked, not rounded down
    /// // The view's own offsets count from there.
    /// m.view().map()?.write_at(70_001, b"x")?;
    /// assert_eq!(v.read_vec(0, 1)?, b"x");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The view's access.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping, Protection};
    /// let m = Mapping::options()
    ///     .size(4096)
    ///     .protection(Protection::WriteCopy)
    ///     .create_new("doc-view-access")?;
    /// assert_eq!(m.view().map()?.access(), Access::Copy); // the default for write-copy
    /// assert_eq!(m.view().access(Access::Read).map()?.access(), Access::Read);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn access(&self) -> Access {
        self.access
    }

    /// A pointer to the view's first byte. Valid for [`len`](View::len) bytes while the
    /// view lives; writable only if the view's access is write or copy.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-view-as-ptr", 8192)?;
    /// let v = m.view().offset(100).map()?;
    /// v.write_at(0, b"A")?;
    /// // SAFETY: the byte is in the view, and nothing writes it meanwhile.
    /// assert_eq!(unsafe { v.as_ptr().read() }, b'A');
    /// // The view's first byte, wherever its offset falls in the underlying mapping.
    /// assert_eq!(v.as_ptr() as u64 % filemap::allocation_granularity(), 100);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// A mutable pointer to the view's first byte (see [`as_ptr`](View::as_ptr)).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-view-as-mut-ptr", 4096)?;
    /// let v = m.view().map()?;
    /// // SAFETY: in the view, which is writable; nothing else uses these bytes meanwhile.
    /// unsafe { v.as_mut_ptr().add(8).copy_from_nonoverlapping(b"raw".as_ptr(), 3) };
    /// assert_eq!(v.read_vec(8, 3)?, b"raw");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Error::OutOfRange {
                offset: offset as u64,
                len: len as u64,
                size: self.len as u64,
            }),
        }
    }

    fn check_writable(&self) -> Result<()> {
        match self.protect {
            Protect::ReadWrite => Ok(()),
            Protect::ReadOnly | Protect::ReadExecute => Err(Error::ViewNotWritable {
                access: self.access,
            }),
        }
    }

    /// The view's current protection.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping, Protect};
    /// let m = Mapping::create_new("doc-view-protection", 4096)?;
    /// let mut v = m.view().map()?;
    /// assert_eq!(v.protection(), Protect::ReadWrite);
    /// v.protect(Protect::ReadOnly)?;
    /// assert_eq!(v.protection(), Protect::ReadOnly);
    /// assert_eq!(m.view().access(Access::Read).map()?.protection(), Protect::ReadOnly);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn protection(&self) -> Protect {
        self.protect
    }

    /// Changes the view's protection (`VirtualProtect`): read-only and read-execute for
    /// any view, read-write for write and copy views only. A view is never writable and
    /// executable at once.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Protect;
    /// let m = filemap::Mapping::options()
    ///     .size(4096)
    ///     .executable(true)
    ///     .create_new("protect-demo")?;
    /// let mut v = m.view().map()?;
    /// v.write_at(0, b"code")?;
    /// v.protect(Protect::ReadExecute)?; // W^X: no longer writable
    /// assert!(v.write_at(0, b"x").is_err());
    /// v.protect(Protect::ReadWrite)?;
    /// v.write_at(0, b"more")?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn protect(&mut self, protect: Protect) -> Result<()> {
        if protect == Protect::ReadExecute && !self.object.header.is_executable() {
            return Err(Error::NotExecutable {
                name: self.object.describe().to_string(),
            });
        }
        if protect == Protect::ReadWrite && self.access == Access::Read {
            return Err(Error::AccessNotAllowed {
                requested: Access::Write,
                reason: "the view was mapped for reading; map a write or copy view".into(),
            });
        }
        self.raw.protect(&sys::ViewProtection {
            protect,
            copy_on_write: self.access == Access::Copy,
        })?;
        self.protect = protect;
        Ok(())
    }

    /// Advice about the whole view (see [`Advice`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Advice, Mapping};
    /// let m = Mapping::create_new("doc-view-advise", 1 << 16)?;
    /// let v = m.view().map()?;
    /// v.write_at(0, b"kept")?;
    /// v.advise(Advice::DontNeed)?; // drops the pages; the object keeps the data
    /// assert_eq!(v.read_vec(0, 4)?, b"kept");
    /// // A copy view's pages are its changes: not to be dropped.
    /// let c = m.view().access(Access::Copy).map()?;
    /// assert!(matches!(c.advise(Advice::DontNeed), Err(filemap::Error::Unsupported { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn advise(&self, advice: Advice) -> Result<()> {
        self.advise_range(0, self.len, advice)
    }

    /// Advice about `len` bytes at `offset` (from the view's start).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Advice, Mapping};
    /// let m = Mapping::create_new("doc-view-advise-range", 1 << 16)?;
    /// let v = m.view().offset(100).map()?;
    /// v.advise_range(10, 4096, Advice::WillNeed)?; // any range: widened to whole pages
    /// assert!(matches!(
    ///     v.advise_range(v.len() - 10, 11, Advice::Random),
    ///     Err(filemap::Error::OutOfRange { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn advise_range(&self, offset: usize, len: usize, advice: Advice) -> Result<()> {
        self.check_range(offset, len)?;
        if advice == Advice::DontNeed && self.access == Access::Copy {
            return Err(Error::Unsupported {
                what: "DontNeed advice on a copy view: it would discard the view's changes",
            });
        }
        // (Linux refuses to drop locked pages; Windows' way to drop pages would unlock
        // them: refused on both, alike.)
        let locked = self.lock_state();
        if advice == Advice::DontNeed && *locked {
            return Err(Error::Unsupported {
                what: "DontNeed advice on a locked view (unlock it first)",
            });
        }
        // (An empty range advises nothing: widened, it would reach back to its page's start.)
        if len == 0 {
            return Ok(());
        }
        let (start, span) = self.page_span(offset, len);
        self.raw.advise(start, span, advice)
    }

    /// Locks the view's pages in memory (`VirtualLock`, `mlock`): they stay resident
    /// until [`unlock`](View::unlock) or the view is dropped. [`Error::LockLimit`] if a
    /// limit forbids it. A copy view's pages stay the object's until the view writes them
    /// (Linux faults them in for reading and locks them as they are, `MLOCK_ONFAULT`, where
    /// a plain `mlock` would write a private copy of each: before Linux 5.14, which cannot
    /// fault pages in for reading alone, a copy view's pages are locked as they are
    /// touched; Wine's `VirtualLock` does copy them, real Windows' does not).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Advice, Mapping};
    /// let m = Mapping::create_new("doc-view-lock", 4096)?;
    /// let v = m.view().map()?;
    /// v.lock()?;
    /// // Locked pages stay: advice to drop them is refused.
    /// assert!(matches!(v.advise(Advice::DontNeed), Err(filemap::Error::Unsupported { .. })));
    /// v.unlock()?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn lock(&self) -> Result<()> {
        let (start, span) = self.page_span(0, self.len);
        let mut locked = self.lock_state();
        if let Err(e) = self
            .raw
            .lock(start, span, self.access == Access::Copy, *locked)
        {
            // Pages past storage cut short cannot be brought in to lock (Linux says there
            // is no memory for them): said as what it is.
            return Err(self.cut_short().unwrap_or(e));
        }
        *locked = true;
        Ok(())
    }

    /// Whether the view's pages are locked, held until the guard goes (a panic while it
    /// was held left it as true as any other exit: it is taken as it is).
    fn lock_state(&self) -> MutexGuard<'_, bool> {
        self.locked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Error::PageFault`] (`truncated`) if the object's storage is now shorter than the
    /// view (another process cut its file short).
    fn cut_short(&self) -> Option<Error> {
        self.cut_short_in(0, self.len)
    }

    /// [`cut_short`](View::cut_short) for the `len` bytes at view offset `offset`.
    fn cut_short_in(&self, offset: usize, len: usize) -> Option<Error> {
        let end = self.object.base + self.offset + (offset + len) as u64;
        let stored = self.object.section.stored_len().filter(|len| *len < end)?;
        Some(Error::PageFault {
            name: self.object.describe().to_string(),
            offset: stored.saturating_sub(self.object.base + self.offset),
            truncated: true,
        })
    }

    /// Unlocks what [`lock`](View::lock) locked.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Advice, Mapping};
    /// let m = Mapping::create_new("doc-view-unlock", 4096)?;
    /// let v = m.view().map()?;
    /// v.lock()?;
    /// assert!(v.advise(Advice::DontNeed).is_err());
    /// v.unlock()?;
    /// v.advise(Advice::DontNeed)?; // the pages may go again
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn unlock(&self) -> Result<()> {
        let (start, span) = self.page_span(0, self.len);
        let mut locked = self.lock_state();
        self.raw.unlock(start, span)?;
        *locked = false;
        Ok(())
    }

    /// The page-aligned span of the mapped region covering `len` bytes at view `offset`.
    /// On explicit huge pages, whole huge pages: the system refuses to advise or lock part
    /// of one (the region is mapped in whole granules, so the span stays inside it).
    fn page_span(&self, offset: usize, len: usize) -> (usize, usize) {
        let start = self.delta + offset;
        if self.object.on_huge_pages() {
            let huge = self.object.granule() as usize;
            let aligned = start - start % huge;
            let end = (start + len).next_multiple_of(huge);
            return (aligned, end - aligned);
        }
        let page = sys::page_size() as usize;
        let aligned = start - start % page;
        (aligned, start + len - aligned)
    }

    /// Copies `buf.len()` bytes at `offset` (from the view's start) into `buf`.
    ///
    /// Sound while other processes write the same bytes; a concurrent writer may leave a
    /// mix of old and new bytes in `buf`. If the memory behind the view cannot be had (the
    /// file was truncated, the storage failed), the copy stops with
    /// [`Error::PageFault`] instead of the process dying of SIGBUS (Linux: unless the
    /// calling thread blocks SIGBUS and SIGSEGV, as one that reads its signals with
    /// `sigwait` may; the kernel then runs no handler, and the process ends).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-view-read-at", 4096)?;
    /// let v = m.view().map()?;
    /// v.write_at(10, b"abc")?;
    /// let mut buf = [0u8; 3];
    /// v.read_at(10, &mut buf)?;
    /// assert_eq!(&buf, b"abc");
    /// // Past the view's end: an error, not a crash.
    /// assert!(matches!(v.read_at(4094, &mut buf), Err(filemap::Error::OutOfRange { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        // SAFETY: `buf` is valid for writes of its length and borrowed uniquely.
        unsafe { self.read_into(offset, buf.as_mut_ptr(), buf.len()) }
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`, which need not be initialised (a
    /// `Vec`'s spare capacity, say, or a buffer from foreign code), and returns them, now
    /// initialised. As [`read_at`](View::read_at) otherwise; on an error, `buf` is left
    /// partly written.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    ///
    /// let m = Mapping::create_new("uninit-demo", 4096)?;
    /// let view = m.view().map()?;
    /// view.write_at(0, b"hello")?;
    /// let mut out: Vec<u8> = Vec::with_capacity(5);
    /// let read = view.read_at_uninit(0, &mut out.spare_capacity_mut()[..5])?;
    /// assert_eq!(read, b"hello");
    /// // SAFETY: `read_at_uninit` initialised the first five bytes.
    /// unsafe { out.set_len(5) };
    /// assert_eq!(out, b"hello");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn read_at_uninit<'b>(
        &self,
        offset: usize,
        buf: &'b mut [MaybeUninit<u8>],
    ) -> Result<&'b mut [u8]> {
        let (ptr, len) = (buf.as_mut_ptr().cast::<u8>(), buf.len());
        // SAFETY: `buf` is valid for writes of its length and borrowed uniquely.
        unsafe { self.read_into(offset, ptr, len) }?;
        // SAFETY: the copy wrote every one of the `len` bytes (it returned no fault), so
        // they are initialised; the borrow of `buf` is handed on.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }

    /// Copies `len` bytes at view `offset` to `dst`.
    ///
    /// # Safety
    /// `dst` is valid for writes of `len` bytes, and nothing else uses them meanwhile.
    unsafe fn read_into(&self, offset: usize, dst: *mut u8, len: usize) -> Result<()> {
        self.check_range(offset, len)?;
        let src = self.ptr.wrapping_add(offset);
        let shared = src as usize..src as usize + len;
        // SAFETY: the range is inside the mapping (checked above), which stays mapped while
        // `self` lives; the copy routine is sound against concurrent writers; `dst` is the
        // caller's.
        unsafe { copy_racy(dst, src, len, shared) }.map_err(|fault| self.fault_error(fault, offset))
    }

    /// Copies `data` into the view at `offset`. Fails on a read-only view.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-view-write-at", 4096)?;
    /// let w = m.view().map()?;
    /// let r = m.view().access(Access::Read).map()?;
    /// w.write_at(100, b"seen by every view")?;
    /// assert_eq!(r.read_vec(100, 4)?, b"seen");
    /// assert!(matches!(r.write_at(0, b"x"), Err(filemap::Error::ViewNotWritable { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_range(offset, data.len())?;
        // SAFETY: the range is inside the mapping, which is writable (checked above) and
        // stays mapped while `self` lives; the copy routine is sound against concurrent
        // writers.
        unsafe { copy_to_shared(self.ptr.add(offset), data) }
            .map_err(|fault| self.fault_error(fault, offset))
    }

    /// The error for a copy that started at view offset `at` and faulted: where in the
    /// view it stopped, and whether the storage is now shorter than the view.
    fn fault_error(&self, fault: Fault, at: usize) -> Error {
        let offset = fault
            .address
            .checked_sub(self.ptr as usize)
            .filter(|o| *o < self.len)
            .unwrap_or(at);
        // Where in the object it faulted: a fault there comes of a cut only if the storage
        // now ends at or before it (the page holding the new end stays mapped).
        let at_in_object = self.object.base + self.offset + offset as u64;
        Error::PageFault {
            name: self.object.describe().to_string(),
            offset: offset as u64,
            truncated: self
                .object
                .section
                .stored_len()
                .is_some_and(|len| len <= at_in_object),
        }
    }

    /// Reads `len` bytes at `offset` into a new vector (see [`read_at`](View::read_at)).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-view-read-vec", 4096)?;
    /// let v = m.view().map()?;
    /// v.write_at(0, b"vector")?;
    /// assert_eq!(v.read_vec(0, 6)?, b"vector");
    /// assert!(matches!(v.read_vec(4000, 100), Err(filemap::Error::OutOfRange { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn read_vec(&self, offset: usize, len: usize) -> Result<Vec<u8>> {
        // Before the allocation: a length past the view is an error, not an abort; so is
        // one this process cannot hold.
        self.check_range(offset, len)?;
        let mut v = Vec::new();
        crate::copy::reserve_for_copy(&mut v, len, "a view's bytes")?;
        // (Into the spare room, not zeros written first: each page is touched once.)
        self.read_at_uninit(offset, &mut v.spare_capacity_mut()[..len])?;
        // SAFETY: the read initialised the first `len` bytes, within the capacity.
        unsafe { v.set_len(len) };
        Ok(v)
    }

    /// The view's bytes as a slice.
    ///
    /// # Safety
    ///
    /// While the slice lives, no process (this one included, through another view or
    /// thread) may write these bytes: Rust assumes a `&[u8]` never changes. Use it for
    /// data that is no longer written (a finished file, data published before a flag you
    /// observed with acquire ordering) or when you coordinate writers yourself. For a
    /// file-backed view, the file must not be truncated while the slice lives: a fault in
    /// the slice is a plain memory access that nothing turns into an error (SIGBUS ends the
    /// process), unlike the copies of [`read_at`](View::read_at).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-view-as-slice", 4096)?;
    /// let v = m.view().len(16).map()?;
    /// v.write_at(0, b"finished data")?;
    /// // SAFETY: nothing writes the view's bytes while the slice lives.
    /// let bytes = unsafe { v.as_slice() };
    /// assert_eq!(bytes.len(), 16);
    /// assert_eq!(&bytes[..13], b"finished data");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the memory is mapped and initialised for `len` bytes while `self` lives;
        // the caller promises no concurrent writes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The view's bytes as a mutable slice. Fails on a read-only view.
    ///
    /// # Safety
    ///
    /// While the slice lives, no other process, thread or view may read or write these
    /// bytes (the same rules as [`as_slice`](View::as_slice), plus exclusivity).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-view-as-mut-slice", 4096)?;
    /// let mut v = m.view().len(8).map()?;
    /// // SAFETY: nothing else reads or writes these bytes while the slice lives.
    /// unsafe { v.as_mut_slice()? }.copy_from_slice(b"12345678");
    /// assert_eq!(v.read_vec(0, 8)?, b"12345678");
    /// let mut r = m.view().access(Access::Read).map()?;
    /// // SAFETY: as above (and no slice is made: the view is read-only).
    /// let refused = unsafe { r.as_mut_slice() };
    /// assert!(matches!(refused, Err(filemap::Error::ViewNotWritable { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        self.check_writable()?;
        // SAFETY: mapped, writable, `len` bytes; `&mut self` excludes other uses of this
        // view and the caller promises exclusivity against everyone else.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) })
    }

    /// Writes the view's changes to the object's storage and waits until they are durable
    /// (`FlushViewOfFile` + `FlushFileBuffers`): the data and, if the file grew, its size.
    /// A no-op for read and copy views (copy views never write to the object).
    /// [`Error::PageFault`] (`truncated`) if another process cut the file short of the
    /// flushed range: what this view wrote past the new end is not stored (the writes
    /// themselves may have succeeded, in the page that holds the new end).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-view-flush.bin");
    /// std::fs::write(&path, [0u8; 4096]).unwrap();
    /// let m = Mapping::from_path(&path).create()?;
    /// let v = m.view().map()?;
    /// v.write_at(0, b"durable")?;
    /// v.flush()?; // on the disk now
    /// drop((v, m));
    /// assert_eq!(&std::fs::read(&path).unwrap()[..7], b"durable");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        self.flush_range(0, self.len)
    }

    /// Like [`flush`](View::flush) for `len` bytes at `offset` (from the view's start).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-view-flush-range.bin");
    /// std::fs::write(&path, [0u8; 8192]).unwrap();
    /// let v = Mapping::from_path(&path).create()?.view().map()?;
    /// v.write_at(4096, b"second page")?;
    /// v.flush_range(4096, 11)?;
    /// assert_eq!(&std::fs::read(&path).unwrap()[4096..4107], b"second page");
    /// assert!(matches!(v.flush_range(8000, 200), Err(filemap::Error::OutOfRange { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn flush_range(&self, offset: usize, len: usize) -> Result<()> {
        self.check_range(offset, len)?;
        if self.access != Access::Write || len == 0 {
            return Ok(());
        }
        let (start, span) = self.page_span(offset, len);
        self.raw.sync(start, span)?;
        if self.object.header.is_file_backed() {
            self.object.section.sync_data(&self.object.describe())?;
            // Bytes written past the file's end (in the page that holds a new end another
            // process cut it to) are not stored, though the system says the flush went
            // well: said, not lost in silence.
            if let Some(cut) = self.cut_short_in(offset, len) {
                return Err(cut);
            }
        }
        Ok(())
    }

    /// For a copy view: the offsets (in the object) of the pages this view has written,
    /// each [`page_size`](crate::page_size) long, in order. Linux reads
    /// `/proc/self/pagemap`; Windows asks `VirtualQuery` which pages were copied (with
    /// those it found before a [`protect`](View::protect), which makes copied pages look
    /// like untouched ones). Where the system cannot tell (Wine), the pages whose contents
    /// differ from the object's are reported instead, compared so that another process's
    /// writes do not make a page the view's (each page's bytes are read between two reads
    /// of the object's): a guess all the same while others write the page faster than it
    /// is read, or in pieces that the view's bytes happen to match.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let page = filemap::page_size();
    /// let m = Mapping::create_new("doc-view-modified-pages", 4 * page)?;
    /// let c = m.view().access(Access::Copy).map()?;
    /// assert!(c.modified_pages()?.is_empty());
    /// c.write_at(2 * page as usize + 10, b"x")?;
    /// assert_eq!(c.modified_pages()?, [2 * page]);
    /// // Only copy views have pages of their own.
    /// assert!(m.view().map()?.modified_pages().is_err());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn modified_pages(&self) -> Result<Vec<u64>> {
        self.check_copy("modified_pages on a view that is no copy view (Access::Copy)")?;
        let page = crate::page_size();
        let region_start = self.offset - self.delta as u64;
        let view_end = self.offset + self.len as u64;
        let in_view = |p: &u64| *p + page > self.offset && *p < view_end;
        match self.raw.private_pages()? {
            Some(pages) => Ok(pages
                .into_iter()
                .map(|i| region_start + (i as u64) * page)
                .filter(in_view)
                .collect()),
            None => self.pages_differing_from_object(page),
        }
    }

    /// The pages of this view whose bytes differ from the object's (the fallback of
    /// `modified_pages`). A page the view never wrote is the object's own page, so its
    /// bytes are the object's at any one moment, but the view's and the object's are read
    /// one after the other while other processes may write them: each page's view bytes
    /// are read between two reads of the object's, and the page counts as unwritten if
    /// they match either (a private page that happens to match is one whose commit would
    /// change nothing). When neither matches and the object's changed in between, the
    /// comparison is made again, a few times; a page written by others throughout counts
    /// as the view's, so that nothing the view wrote is lost.
    fn pages_differing_from_object(&self, page: u64) -> Result<Vec<u64>> {
        const LOOKS: usize = 8;
        let object = ViewBuilder::new(&self.object)
            .access(Access::Read)
            .offset(self.offset)
            .len(self.len as u64)
            .map()?;
        let page_len = page as usize;
        let (mut mine, mut before, mut after) = (
            vec![0u8; page_len],
            vec![0u8; page_len],
            vec![0u8; page_len],
        );
        let mut changed = Vec::new();
        let mut p = self.offset - self.offset % page;
        while p < self.offset + self.len as u64 {
            let start = p.max(self.offset);
            let end = (p + page).min(self.offset + self.len as u64);
            let (at, n) = ((start - self.offset) as usize, (end - start) as usize);
            for look in 1..=LOOKS {
                object.read_at(at, &mut before[..n])?;
                self.read_at(at, &mut mine[..n])?;
                object.read_at(at, &mut after[..n])?;
                if mine[..n] == before[..n] || mine[..n] == after[..n] {
                    break;
                }
                if before[..n] == after[..n] || look == LOOKS {
                    changed.push(p);
                    break;
                }
            }
            p += page;
        }
        Ok(changed)
    }

    /// For a copy view: writes exactly the pages it has changed back to the object and
    /// flushes them (the tutorials' "copy the changed pages to a second, writable view,
    /// then flush", done for you), then drops its private copies, so that the view shows
    /// the object again and [`modified_pages`](View::modified_pages) is empty. Needs a
    /// handle that can write the object. Returns how many pages were written. A page is
    /// written whole: its bytes the view did not change go back as the view has them (as
    /// the object held them when the view first wrote to that page), over anything
    /// another process wrote there since. [`Error::PageFault`] (`truncated`) if the
    /// object's storage is now shorter than the view (another process cut its file short):
    /// the system dropped the view's changes past the new end with the storage, so nothing
    /// is written and the error says so. [`Error::Unsupported`] on a view that is no copy
    /// view (so for [`modified_pages`](View::modified_pages) and
    /// [`discard`](View::discard)).
    ///
    /// The storage under the pages is allocated before any is written (on Linux; Windows
    /// allocates a file's pages as they are written): a file system out of space fails the
    /// commit with nothing written. An I/O error part way leaves the
    /// pages before it written ([`Error::PageFault`]'s offset says where it stopped), and
    /// the view's changes as they were: a commit again writes them all again.
    ///
    /// A limit (Linux): a file cut short and grown back before the commit takes the view's
    /// changes past the cut with it, and the commit cannot tell: it finds those pages
    /// unchanged. (Windows refuses to cut a mapped file short.) Cooperating processes keep
    /// the file whole with a share mode ([`FileOptions::share`](crate::FileOptions::share)).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-view-commit", 8192)?;
    /// let mut c = m.view().access(Access::Copy).map()?;
    /// c.write_at(0, b"draft")?;
    /// assert_eq!(m.view().map()?.read_vec(0, 5)?, [0; 5]); // private so far
    /// assert_eq!(c.commit()?, 1); // one page written back
    /// assert_eq!(m.view().map()?.read_vec(0, 5)?, b"draft");
    /// assert!(c.modified_pages()?.is_empty());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn commit(&mut self) -> Result<usize> {
        self.check_copy("commit on a view that is no copy view (Access::Copy)")?;
        // The pages first, then the storage's length: storage cut short before the pages
        // were looked at (their changes gone with it) is seen; cut after, its pages fault
        // when read below, an error too.
        let pages = self.modified_pages()?;
        if let Some(cut) = self.cut_short() {
            return Err(cut);
        }
        if !pages.is_empty() {
            let page = crate::page_size();
            let view_end = self.offset + self.len as u64;
            // The view that writes them, first: a handle that may not write is refused
            // before anything is allocated.
            let target = ViewBuilder::new(&self.object)
                .access(Access::Write)
                .offset(self.offset)
                .len(self.len as u64)
                .map()?;
            // The storage under every page to write is allocated next, so that a file
            // system out of space fails the commit before anything is written (a write
            // into a hole of a sparse file would fault there, half the pages written).
            if self.object.header.is_file_backed() || self.object.header.is_reserve() {
                let mut runs: Vec<(u64, u64)> = Vec::new();
                for p in &pages {
                    let (start, end) = ((*p).max(self.offset), (p + page).min(view_end));
                    match runs.last_mut() {
                        Some(run) if run.1 == start => run.1 = end,
                        _ => runs.push((start, end)),
                    }
                }
                for (start, end) in runs {
                    let at = self.object.base + start;
                    self.object
                        .section
                        .commit(at, end - start, &self.object.describe())?;
                }
            }
            let mut buf = vec![0u8; page as usize];
            for p in &pages {
                let start = (*p).max(self.offset);
                let end = (p + page).min(view_end);
                let at = (start - self.offset) as usize;
                let n = (end - start) as usize;
                self.read_at(at, &mut buf[..n])?;
                target.write_at(at, &buf[..n])?;
            }
            target.flush()?;
        }
        self.discard()?;
        Ok(pages.len())
    }

    /// For a copy view: drops the changes it made, so that it shows the object's current
    /// contents again (`MADV_DONTNEED` on Linux; on Windows the view is mapped again and
    /// may move: [`as_ptr`](View::as_ptr) can change). A view locked in memory stays
    /// locked.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-view-discard", 4096)?;
    /// let w = m.view().map()?;
    /// w.write_at(0, b"object")?;
    /// let mut c = m.view().access(Access::Copy).map()?;
    /// c.write_at(0, b"scratch")?;
    /// c.discard()?;
    /// assert_eq!(c.read_vec(0, 6)?, b"object"); // the object's bytes again
    /// w.write_at(0, b"newer!")?;
    /// assert_eq!(c.read_vec(0, 6)?, b"newer!"); // and it follows the object again
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn discard(&mut self) -> Result<()> {
        self.check_copy("discard on a view that is no copy view (Access::Copy)")?;
        let aligned = self.offset - self.delta as u64;
        let locked = (*self.lock_state()).then(|| self.page_span(0, self.len));
        self.raw.discard_private(&sys::CopyViewSource {
            section: &self.object.section,
            offset: self.object.base + aligned,
            protect: self.protect,
            locked,
        })?;
        // SAFETY: `delta` is inside the (possibly new) region of the same length.
        self.ptr = unsafe { self.raw.ptr().add(self.delta) };
        Ok(())
    }

    /// [`Error::Unsupported`] (saying `what`) unless this is a copy view: another view has
    /// no pages of its own (a wrong kind of view, not an access refused).
    fn check_copy(&self, what: &'static str) -> Result<()> {
        if self.access != Access::Copy {
            return Err(Error::Unsupported { what });
        }
        Ok(())
    }

    /// Starts writing the view's changes back without waiting (file-backed views);
    /// [`Error::PageFault`] as [`flush`](View::flush) says.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("doc-view-flush-async.bin");
    /// std::fs::write(&path, [0u8; 4096]).unwrap();
    /// let m = Mapping::from_path(&path).create()?;
    /// let v = m.view().map()?;
    /// v.write_at(0, b"soon on disk")?;
    /// v.flush_async()?; // returns without waiting for the disk
    /// // Readers of the file see the bytes at once (through the system's cache)...
    /// assert_eq!(&std::fs::read(&path).unwrap()[..12], b"soon on disk");
    /// v.flush()?; // ...and flush waits until they are durable.
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn flush_async(&self) -> Result<()> {
        if self.access != Access::Write || !self.object.header.is_file_backed() {
            return Ok(());
        }
        self.object.section.start_writeback(&sys::WritebackRange {
            view: self.ptr,
            len: self.len,
            offset: self.object.base + self.offset,
        })?;
        // As `flush` says.
        self.cut_short().map_or(Ok(()), Err)
    }
}
