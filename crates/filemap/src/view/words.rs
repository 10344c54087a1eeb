//! A view's aligned words: the guarded operations (`load_u32`, `store_u32`,
//! `fetch_add_u32`, ...) that report a fault in the view's memory as [`Error::PageFault`]
//! instead of the process dying of it, and, `unsafe`, Rust's own atomic references in
//! place (`atomic_u32`).
//!
//! "Aligned" is said of the word's address: an offset in a view that starts at an aligned
//! offset in its object (as views at offset 0 do) is aligned when the offset is; in a view
//! that starts 4 bytes into its object, offset 4 is 8-byte aligned and offset 0 is not
//! ([`Error::Misaligned`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::View;
use crate::error::{Error, Result};
use crate::word::{WordOp, word32, word64};

impl View {
    fn atomic_ptr<T>(&self, offset: usize) -> Result<*mut T> {
        let size = std::mem::size_of::<T>();
        self.check_range(offset, size)?;
        // SAFETY: in range (checked above).
        let p = unsafe { self.ptr.add(offset) };
        if (p as usize) % std::mem::align_of::<T>() != 0 {
            return Err(Error::Misaligned {
                offset: offset as u64,
                align: std::mem::align_of::<T>() as u64,
            });
        }
        Ok(p.cast())
    }

    /// The `u32` at `offset` as one of Rust's atomics, shared with every process that maps
    /// it. The offset must be 4-byte aligned (its address: see the module's note) and the
    /// view writable.
    ///
    /// Operations on the reference are as fast as atomics come, but it is a Rust reference
    /// into memory that others can change under it, so it is `unsafe`: the guarded
    /// operations ([`load_u32`](View::load_u32), [`store_u32`](View::store_u32),
    /// [`fetch_add_u32`](View::fetch_add_u32),
    /// [`compare_exchange_u32`](View::compare_exchange_u32), [`swap_u32`](View::swap_u32))
    /// are the safe way, and return [`Error::PageFault`] where this reference would end the
    /// process.
    ///
    /// # Safety
    /// While the reference lives:
    /// - in this process, its four bytes are reached only as this word: through references
    ///   from `atomic_u32` at this same place, or the guarded `*_u32` operations at this
    ///   offset; never as part of a 64-bit word, by a byte copy (`read_at`, `write_at`) or
    ///   through a slice (Rust's memory model makes racing atomics of different sizes
    ///   undefined behaviour, and the compiler may read through a reference at any time);
    /// - the memory stays backed: no process cuts the file or entry short of it (an access
    ///   through the reference would then end this process with SIGBUS; it is not caught).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-atomic-u32", 4096)?;
    /// let v = m.view().map()?;
    /// // SAFETY: bytes 0..4 are reached only as this word, and this process's own
    /// // mapping is not cut short while the reference lives.
    /// unsafe { v.atomic_u32(0)? }.store(7, Ordering::Release);
    /// assert_eq!(v.load_u32(0, Ordering::Acquire)?, 7); // the word in the shared memory
    /// // SAFETY: refused before any reference exists.
    /// assert!(matches!(unsafe { v.atomic_u32(2) }, Err(filemap::Error::Misaligned { align: 4, .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub unsafe fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32> {
        self.check_writable()?;
        let p = self.atomic_ptr::<AtomicU32>(offset)?;
        // SAFETY: aligned, in range, writable, and mapped for as long as the returned
        // reference (tied to `self`) lives; AtomicU32 has the layout of u32 and any bit
        // pattern is valid; no access of another size or kind races it, and the memory
        // stays backed (the caller's contract).
        Ok(unsafe { &*p })
    }

    /// The `u64` at `offset` as one of Rust's atomics (8-byte aligned, writable view), as
    /// [`atomic_u32`](View::atomic_u32) gives a `u32`; the guarded `*_u64` operations
    /// ([`load_u64`](View::load_u64), [`fetch_add_u64`](View::fetch_add_u64), ...) are the
    /// safe way.
    ///
    /// # Safety
    /// As for [`atomic_u32`](View::atomic_u32), for its eight bytes: reached in this process
    /// only as this 64-bit word while the reference lives, and backed.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-atomic-u64", 4096)?;
    /// let (a, b) = (m.view().map()?, m.view().map()?);
    /// // SAFETY: bytes 8..16 are reached only as this word (through either view), and the
    /// // mapping is not cut short while the references live.
    /// unsafe { a.atomic_u64(8)? }.fetch_add(5, Ordering::AcqRel);
    /// assert_eq!(unsafe { b.atomic_u64(8)? }.load(Ordering::Acquire), 5); // one word
    /// // SAFETY: refused before any reference exists.
    /// assert!(matches!(unsafe { a.atomic_u64(4) }, Err(filemap::Error::Misaligned { align: 8, .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub unsafe fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64> {
        self.check_writable()?;
        let p = self.atomic_ptr::<AtomicU64>(offset)?;
        // SAFETY: as in `atomic_u32` (the caller's contract, for these eight bytes).
        Ok(unsafe { &*p })
    }

    /// Atomically loads the `u32` at `offset` (4-byte aligned); works on read-only views.
    /// [`Error::PageFault`] if the memory cannot be read.
    ///
    /// Every operation of this family is at least as strong as the ordering asked for
    /// (on x86_64 each is one instruction: a load is an acquire load, and every write is
    /// sequentially consistent). As with Rust's atomics, a load cannot have release
    /// ordering: `Release` and `AcqRel` are [`Error::Unsupported`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("counters", 4096)?;
    /// let v = m.view().map()?;
    /// v.store_u32(8, 41, Ordering::Release)?;
    /// assert_eq!(v.fetch_add_u32(8, 1, Ordering::AcqRel)?, 41);
    /// assert_eq!(v.load_u32(8, Ordering::Acquire)?, 42);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn load_u32(&self, offset: usize, order: Ordering) -> Result<u32> {
        check_load(order)?;
        let p = self.atomic_ptr::<AtomicU32>(offset)?.cast::<u32>();
        // SAFETY: aligned, in range, mapped while `self` lives, readable.
        unsafe { word32(p, WordOp::Load, 0, 0) }.map_err(|f| self.fault_error(f, offset))
    }

    /// Atomically loads the `u64` at `offset` (8-byte aligned); as [`load_u32`](View::load_u32).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-load-u64", 4096)?;
    /// m.view().map()?.store_u64(16, u64::MAX - 1, Ordering::Release)?;
    /// let r = m.view().access(filemap::Access::Read).map()?; // a read-only view will do
    /// assert_eq!(r.load_u64(16, Ordering::Acquire)?, u64::MAX - 1);
    /// assert!(matches!(
    ///     r.load_u64(16, Ordering::Release),
    ///     Err(filemap::Error::Unsupported { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn load_u64(&self, offset: usize, order: Ordering) -> Result<u64> {
        check_load(order)?;
        let p = self.atomic_ptr::<AtomicU64>(offset)?.cast::<u64>();
        // SAFETY: as in `load_u32`.
        unsafe { word64(p, WordOp::Load, 0, 0) }.map_err(|f| self.fault_error(f, offset))
    }

    /// Atomically stores `value` at `offset` (4-byte aligned, writable view). A store
    /// cannot have acquire ordering: `Acquire` and `AcqRel` are [`Error::Unsupported`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-store-u32", 4096)?;
    /// let v = m.view().map()?;
    /// v.store_u32(4, 0xfeed, Ordering::Release)?;
    /// assert_eq!(v.load_u32(4, Ordering::Acquire)?, 0xfeed);
    /// assert!(matches!(
    ///     v.store_u32(4, 1, Ordering::Acquire),
    ///     Err(filemap::Error::Unsupported { .. })
    /// ));
    /// assert_eq!(v.load_u32(4, Ordering::Relaxed)?, 0xfeed); // the refused store wrote nothing
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn store_u32(&self, offset: usize, value: u32, order: Ordering) -> Result<()> {
        check_store(order)?;
        self.swap_u32(offset, value, Ordering::SeqCst).map(drop)
    }

    /// Atomically stores `value` at `offset` (8-byte aligned, writable view). A store
    /// takes `Relaxed`, `Release` or `SeqCst`, as [`store_u32`](View::store_u32) does
    /// (`Acquire` and `AcqRel` are [`Error::Unsupported`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-store-u64", 4096)?;
    /// let v = m.view().map()?;
    /// v.store_u64(8, 1 << 40, Ordering::Release)?;
    /// assert_eq!(v.load_u64(8, Ordering::Acquire)?, 1 << 40);
    /// let r = m.view().access(filemap::Access::Read).map()?;
    /// assert!(matches!(
    ///     r.store_u64(8, 0, Ordering::Release),
    ///     Err(filemap::Error::ViewNotWritable { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn store_u64(&self, offset: usize, value: u64, order: Ordering) -> Result<()> {
        check_store(order)?;
        self.swap_u64(offset, value, Ordering::SeqCst).map(drop)
    }

    /// Atomically replaces the `u32` at `offset` with `value`; the old value.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-swap-u32", 4096)?;
    /// let v = m.view().map()?;
    /// v.store_u32(0, 1, Ordering::Release)?;
    /// assert_eq!(v.swap_u32(0, 2, Ordering::AcqRel)?, 1);
    /// assert_eq!(v.load_u32(0, Ordering::Acquire)?, 2);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn swap_u32(&self, offset: usize, value: u32, _order: Ordering) -> Result<u32> {
        self.word32(offset, WordOp::Swap, value, 0)
    }

    /// Atomically replaces the `u64` at `offset` with `value`; the old value.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-swap-u64", 4096)?;
    /// let v = m.view().map()?;
    /// v.store_u64(0, 1 << 33, Ordering::Release)?;
    /// assert_eq!(v.swap_u64(0, 1 << 34, Ordering::AcqRel)?, 1 << 33);
    /// assert_eq!(v.load_u64(0, Ordering::Acquire)?, 1 << 34);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn swap_u64(&self, offset: usize, value: u64, _order: Ordering) -> Result<u64> {
        self.word64(offset, WordOp::Swap, value, 0)
    }

    /// Atomically adds `value` (wrapping) to the `u32` at `offset`; the old value.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-fetch-add-u32", 4096)?;
    /// let v = m.view().map()?;
    /// v.store_u32(0, u32::MAX, Ordering::Release)?;
    /// assert_eq!(v.fetch_add_u32(0, 2, Ordering::AcqRel)?, u32::MAX);
    /// assert_eq!(v.load_u32(0, Ordering::Acquire)?, 1); // wrapped
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn fetch_add_u32(&self, offset: usize, value: u32, _order: Ordering) -> Result<u32> {
        self.word32(offset, WordOp::Add, value, 0)
    }

    /// Atomically adds `value` (wrapping) to the `u64` at `offset`; the old value.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering;
    /// let m = filemap::Mapping::create_new("doc-view-fetch-add-u64", 4096)?;
    /// let v = m.view().map()?;
    /// assert_eq!(v.fetch_add_u64(8, 1 << 32, Ordering::AcqRel)?, 0);
    /// assert_eq!(v.fetch_add_u64(8, u64::MAX, Ordering::AcqRel)?, 1 << 32);
    /// assert_eq!(v.load_u64(8, Ordering::Acquire)?, (1 << 32) - 1); // wrapped
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn fetch_add_u64(&self, offset: usize, value: u64, _order: Ordering) -> Result<u64> {
        self.word64(offset, WordOp::Add, value, 0)
    }

    /// Stores `new` at `offset` if the `u32` there is `current`: `Ok(Ok(current))` if it
    /// did, `Ok(Err(actual))` if the word held `actual` instead, as
    /// [`AtomicU32::compare_exchange`] answers. The failure ordering cannot be `Release`
    /// or `AcqRel` ([`Error::Unsupported`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering::{Acquire, Relaxed};
    /// let m = filemap::Mapping::create_new("claim", 4096)?;
    /// let v = m.view().map()?;
    /// assert_eq!(v.compare_exchange_u32(0, 0, 7, Acquire, Relaxed)?, Ok(0));
    /// assert_eq!(v.compare_exchange_u32(0, 0, 9, Acquire, Relaxed)?, Err(7));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn compare_exchange_u32(
        &self,
        offset: usize,
        current: u32,
        new: u32,
        _success: Ordering,
        failure: Ordering,
    ) -> Result<std::result::Result<u32, u32>> {
        check_load(failure)?;
        let old = self.word32(offset, WordOp::CompareExchange, current, new)?;
        Ok(if old == current { Ok(old) } else { Err(old) })
    }

    /// The 8-byte [`compare_exchange_u32`](View::compare_exchange_u32).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::sync::atomic::Ordering::{Acquire, Relaxed};
    /// let m = filemap::Mapping::create_new("doc-view-compare-exchange-u64", 4096)?;
    /// let v = m.view().map()?;
    /// assert_eq!(v.compare_exchange_u64(8, 0, 1 << 33, Acquire, Relaxed)?, Ok(0));
    /// assert_eq!(v.compare_exchange_u64(8, 0, 5, Acquire, Relaxed)?, Err(1 << 33));
    /// assert_eq!(v.load_u64(8, Relaxed)?, 1 << 33);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn compare_exchange_u64(
        &self,
        offset: usize,
        current: u64,
        new: u64,
        _success: Ordering,
        failure: Ordering,
    ) -> Result<std::result::Result<u64, u64>> {
        check_load(failure)?;
        let old = self.word64(offset, WordOp::CompareExchange, current, new)?;
        Ok(if old == current { Ok(old) } else { Err(old) })
    }

    /// A writing operation on the `u32` at `offset`.
    fn word32(&self, offset: usize, op: WordOp, a: u32, b: u32) -> Result<u32> {
        self.check_writable()?;
        let p = self.atomic_ptr::<AtomicU32>(offset)?.cast::<u32>();
        // SAFETY: aligned, in range, writable (checked above) and mapped while `self`
        // lives; the routine is sound whatever other processes do to the word meanwhile.
        unsafe { word32(p, op, a, b) }.map_err(|f| self.fault_error(f, offset))
    }

    /// A writing operation on the `u64` at `offset`.
    fn word64(&self, offset: usize, op: WordOp, a: u64, b: u64) -> Result<u64> {
        self.check_writable()?;
        let p = self.atomic_ptr::<AtomicU64>(offset)?.cast::<u64>();
        // SAFETY: as in `word32`.
        unsafe { word64(p, op, a, b) }.map_err(|f| self.fault_error(f, offset))
    }
}

/// Refuses orderings a load cannot have (Rust's atomics panic on them).
fn check_load(order: Ordering) -> Result<()> {
    match order {
        Ordering::Release | Ordering::AcqRel => Err(Error::Unsupported {
            what: "a load with release ordering",
        }),
        _ => Ok(()),
    }
}

/// Refuses orderings a store cannot have.
fn check_store(order: Ordering) -> Result<()> {
    match order {
        Ordering::Acquire | Ordering::AcqRel => Err(Error::Unsupported {
            what: "a store with acquire ordering",
        }),
        _ => Ok(()),
    }
}
