//! Mappings (`filemap_mapping`) and views (`filemap_view`): Win32's
//! `CreateFileMapping` / `OpenFileMapping` / `MapViewOfFile` / `FlushViewOfFile`.

use std::ffi::{c_char, c_void};
use std::mem::MaybeUninit;

use filemap_core::{Access, Disposition, Mapping, Protection, View};

use crate::error::{
    Failure, bytes_arg, check_out, filemap_status, path_arg, put, put_optional, run, slice_arg_mut,
    str_arg,
};
use crate::handle::{free, handle_type, new_handle, shared};

/// A mapping object (opaque). Usable from several threads at once.
pub struct filemap_mapping(Mapping);
handle_type!(filemap_mapping, shared);

/// A view of a mapping (opaque). Usable from several threads at once (what they read
/// and write through it is theirs to synchronise).
pub struct filemap_view(View);
handle_type!(filemap_view, shared);

/// `access`: the most the mapping allows (for a view), or write (for an open).
pub const FILEMAP_ACCESS_DEFAULT: u32 = 0;
/// `access`: read only.
pub const FILEMAP_ACCESS_READ: u32 = 1;
/// `access`: read and write, seen by every view in every process.
pub const FILEMAP_ACCESS_WRITE: u32 = 2;
/// `access`: copy-on-write (the view's changes stay private to it).
pub const FILEMAP_ACCESS_COPY: u32 = 3;

fn access_arg(access: u32) -> Result<Option<Access>, Failure> {
    match access {
        FILEMAP_ACCESS_DEFAULT => Ok(None),
        FILEMAP_ACCESS_READ => Ok(Some(Access::Read)),
        FILEMAP_ACCESS_WRITE => Ok(Some(Access::Write)),
        FILEMAP_ACCESS_COPY => Ok(Some(Access::Copy)),
        other => Err(Failure::invalid(format!(
            "access must be one of FILEMAP_ACCESS_DEFAULT, _READ, _WRITE, _COPY, not {other}"
        ))),
    }
}

fn boxed(m: Mapping) -> *mut filemap_mapping {
    new_handle(filemap_mapping(m))
}

/// Creates a named memory-backed object of `size` bytes (zero-filled) and stores its handle
/// in `*out`. `FILEMAP_ALREADY_EXISTS` if the name is taken.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mapping_create_new(
    name: *const c_char,
    size: u64,
    out: *mut *mut filemap_mapping,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let m = Mapping::create_new(name, size)?;
        // SAFETY: the caller's contract for `out`.
        unsafe { put(out, boxed(m), "out") }
    })
}

/// Creates the named object, or opens it if it exists (it keeps its own size);
/// `*created` (if not NULL) says which.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mapping_create_or_open(
    name: *const c_char,
    size: u64,
    out: *mut *mut filemap_mapping,
    created: *mut bool,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let (m, d) = Mapping::create_or_open(name, size)?;
        // SAFETY: the caller's contract for `out` (checked non-NULL) and `created`.
        unsafe {
            put(out, boxed(m), "out")?;
            put_optional(created, d == Disposition::Created);
        }
        Ok(())
    })
}

/// Opens an existing named object; `access` is the most its views may do
/// (`FILEMAP_ACCESS_DEFAULT` is write). `FILEMAP_NOT_FOUND` if no object has the name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mapping_open(
    name: *const c_char,
    access: u32,
    out: *mut *mut filemap_mapping,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let access = access_arg(access)?.unwrap_or(Access::Write);
        check_out(out, "out")?;
        let m = Mapping::open_with(name, access)?;
        // SAFETY: the caller's contract for `out`.
        unsafe { put(out, boxed(m), "out") }
    })
}

/// Maps a file (`CreateFile` + `CreateFileMapping`): `size` 0 maps the file's size, a
/// larger one grows the file; `name` (NULL: none) also publishes it under a name;
/// `readonly` opens the file read-only (then a size larger than the file is
/// `FILEMAP_ACCESS_DENIED`: growing it needs a writable file). `path` is taken as its bytes
/// on Unix (a file name need not be UTF-8 there) and as UTF-8 on Windows (not the ANSI
/// code page).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mapping_from_path(
    path: *const c_char,
    size: u64,
    name: *const c_char,
    readonly: bool,
    out: *mut *mut filemap_mapping,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `path` and `name`.
        let path = unsafe { path_arg(path, "path") }?;
        let mut options = Mapping::from_path(path);
        if size != 0 {
            options = options.size(size);
        }
        if !name.is_null() {
            // SAFETY: as above.
            options = options.name(unsafe { str_arg(name, "name") }?);
        }
        if readonly {
            options = options.protection(Protection::ReadOnly);
        }
        check_out(out, "out")?;
        let m = options.create()?;
        // SAFETY: the caller's contract for `out`.
        unsafe { put(out, boxed(m), "out") }
    })
}

/// The object's size in bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mapping_size(
    mapping: *mut filemap_mapping,
    size: *mut u64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `mapping` and `size`.
        let m = unsafe { shared(mapping, "mapping") }?;
        unsafe { put(size, m.0.len(), "size") }
    })
}

/// Closes a mapping handle (NULL: nothing). Its views stay valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_mapping_close(mapping: *mut filemap_mapping) {
    // SAFETY: NULL or a handle from this library, closed once (the caller's contract).
    unsafe { free(mapping) }
}

/// Maps a view of `len` bytes at `offset` (any offset; `len` 0: to the end), with
/// `access` one of `FILEMAP_ACCESS_*` (`_DEFAULT`: the most the mapping allows).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_view_map(
    mapping: *mut filemap_mapping,
    offset: u64,
    len: u64,
    access: u32,
    out: *mut *mut filemap_view,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `mapping`.
        let m = unsafe { shared(mapping, "mapping") }?;
        let mut b = m.0.view().offset(offset);
        if len != 0 {
            b = b.len(len);
        }
        if let Some(access) = access_arg(access)? {
            b = b.access(access);
        }
        check_out(out, "out")?;
        let view = b.map()?;
        // SAFETY: the caller's contract for `out`.
        unsafe { put(out, new_handle(filemap_view(view)), "out") }
    })
}

/// The view's first byte (NULL for a NULL view, or for a handle that is no view: then
/// `filemap_last_error_message` says why), for reading in place while the view is mapped,
/// and writing if the view is writable (a write through a read-only view's pointer is an
/// access violation: SIGSEGV). Other processes may write the same bytes meanwhile:
/// synchronise with them (a named mutex, an event) as with any shared memory. Memory used
/// through this pointer is plain memory: if another process truncates the view's file,
/// touching it ends this process (SIGBUS on Linux), where `filemap_view_read` and
/// `filemap_view_write` return `FILEMAP_PAGE_FAULT` (on x86_64).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_view_data(view: *mut filemap_view) -> *mut c_void {
    let mut data = std::ptr::null_mut();
    // A NULL view fails too, so that the last error says so.
    let _ = run(|| {
        // SAFETY: the caller's contract for `view`.
        data = unsafe { shared(view, "view") }?.0.as_mut_ptr().cast();
        Ok(())
    });
    data
}

/// The view's length in bytes (0 for a NULL view, or for a handle that is no view: then
/// `filemap_last_error_message` says why).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_view_size(view: *mut filemap_view) -> usize {
    let mut size = 0;
    // A NULL view fails too, so that the last error says so.
    let _ = run(|| {
        // SAFETY: the caller's contract for `view`.
        size = unsafe { shared(view, "view") }?.0.len();
        Ok(())
    });
    size
}

/// The view's access (`*access`: `FILEMAP_ACCESS_READ`, `_WRITE` or `_COPY`): whether
/// `filemap_view_data`'s pointer may be written through (`_WRITE`, `_COPY`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_view_access(
    view: *mut filemap_view,
    access: *mut u32,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `view`.
        let v = unsafe { shared(view, "view") }?;
        // (Written byte-wise: a packed struct's field may be passed, as docs/c.md says.)
        let value = match v.0.access() {
            Access::Read => FILEMAP_ACCESS_READ,
            Access::Write => FILEMAP_ACCESS_WRITE,
            Access::Copy => FILEMAP_ACCESS_COPY,
        };
        // SAFETY: `put` refuses NULL; otherwise valid for a write (the caller's contract).
        unsafe { put(access, value, "access") }
    })
}

/// Copies `len` bytes at `offset` of the view into `buffer`: sound whatever other
/// processes write into the view meanwhile; `FILEMAP_PAGE_FAULT` (not a crash) if the
/// memory is gone (on x86_64: elsewhere the process dies of SIGBUS; and see "Faults" in
/// docs/c.md for a program with signal handlers of its own). As with `memcpy`, nobody may
/// write `buffer` during the call, so it must not lie in a view of shared memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_view_read(
    view: *mut filemap_view,
    offset: usize,
    buffer: *mut c_void,
    len: usize,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `view`.
        let v = unsafe { shared(view, "view") }?;
        // SAFETY: `buffer` is NULL or valid for writes of `len` bytes that nobody else uses
        // during the call (the caller's contract; they need not be initialised: a fresh
        // `malloc`); NULL and lengths too large are refused.
        let buf = unsafe { slice_arg_mut(buffer.cast::<MaybeUninit<u8>>(), len, "buffer") }?;
        v.0.read_at_uninit(offset, buf)?;
        Ok(())
    })
}

/// Copies `len` bytes from `data` into the view at `offset`. As with `memcpy`, nobody may
/// write `data` during the call, so it must not lie in a view of shared memory (copy
/// between views through a buffer of your own).
/// Every byte of `data` must have been written: `memset` a struct before filling it in, or
/// its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_view_write(
    view: *mut filemap_view,
    offset: usize,
    data: *const c_void,
    len: usize,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `view`.
        let v = unsafe { shared(view, "view") }?;
        // SAFETY: the caller's contract for `data` and `len`.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        Ok(v.0.write_at(offset, data)?)
    })
}

/// Flushes the view to its file and the file to its device (`FlushViewOfFile` +
/// `FlushFileBuffers`): durable when it returns. A read view has nothing to flush, and a
/// copy view's changes are its own (never written to the file): for both this does
/// nothing and succeeds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_view_flush(view: *mut filemap_view) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `view`.
        let v = unsafe { shared(view, "view") }?;
        Ok(v.0.flush()?)
    })
}

/// Unmaps a view (NULL: nothing); its data pointer is invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_view_unmap(view: *mut filemap_view) {
    // SAFETY: NULL or a handle from this library, unmapped once (the caller's contract).
    unsafe { free(view) }
}
