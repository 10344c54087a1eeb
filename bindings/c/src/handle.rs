//! The handles given to C, checked wherever C gives one back.
//!
//! Every handle points to a [`Tagged`] box: a `u32` tag naming the handle's type, then the
//! object. The tag is checked whenever a handle pointer becomes a reference (every function
//! taking a handle, a wait's objects, the `_close` functions), so a handle of one type passed
//! as another (a `filemap_inbox_sender *` as a `FILEMAP_WAIT_SENDER`, say) is
//! `FILEMAP_INVALID_ARGUMENT` naming both types, not one struct read as another. A `_close`
//! overwrites the tag before freeing, so a second close or a use after close is detected too,
//! on a best-effort basis only: the freed memory may since have been given to another handle
//! of the same type (or, for a pointer that never was a handle, hold anything).
//!
//! The C-visible types (`filemap_sender`...) stay opaque in the header: a `*mut
//! filemap_sender` points to a `Tagged<filemap_sender>`, reached only through this module.

use std::ptr;

use crate::error::{Failure, run};

/// A type whose objects are handed to C as handles.
pub(crate) trait Handle: Sized {
    /// The tag of its handles, distinct from every other handle type's.
    const TAG: u32;
    /// Its C name, for messages.
    const NAME: &'static str;
}

/// What a handle points to: its type's tag first (at offset 0, whatever `T` is), then the
/// object.
#[repr(C)]
struct Tagged<T> {
    tag: u32,
    object: T,
}

/// The tag a handle is given as it is closed (the allocator may overwrite it afterwards:
/// any tag that is no live type's reads as closed or foreign).
const CLOSED: u32 = 0x464D_48FF;

// Every handle type's tag and C name. The tags are "FMH" and a number: unlikely as the
// first bytes of anything else.
const TYPES: &[(u32, &str)] = &[
    (0x464D_4801, "filemap_mapping"),
    (0x464D_4802, "filemap_view"),
    (0x464D_4803, "filemap_mutex"),
    (0x464D_4804, "filemap_event"),
    (0x464D_4805, "filemap_semaphore"),
    (0x464D_4806, "filemap_sender"),
    (0x464D_4807, "filemap_receiver"),
    (0x464D_4808, "filemap_publisher"),
    (0x464D_4809, "filemap_subscriber"),
    (0x464D_480A, "filemap_inbox"),
    (0x464D_480B, "filemap_inbox_sender"),
    (0x464D_480C, "filemap_server"),
    (0x464D_480D, "filemap_client"),
];

/// The tag [`TYPES`] gives the handle type called `name`; evaluated at compile time, where
/// a name it lacks is an error.
pub(crate) const fn tag_of(name: &str) -> u32 {
    let mut i = 0;
    while i < TYPES.len() {
        let (tag, known) = TYPES[i];
        if known.len() == name.len() {
            let mut j = 0;
            while j < name.len() && known.as_bytes()[j] == name.as_bytes()[j] {
                j += 1;
            }
            if j == name.len() {
                return tag;
            }
        }
        i += 1;
    }
    panic!("a handle type that the list of handle types lacks")
}

/// Makes a C-visible type a handle type, with the tag [`TYPES`] gives its name, and checks
/// what the header promises of its handles' threads: `shared` ones may be used by several
/// threads at once (`Sync`), and every one may pass between threads (`Send`).
macro_rules! handle_type {
    ($name:ident, shared) => {
        $crate::handle::handle_type!($name);
        const _: () = {
            const fn shared<T: Send + Sync>() {}
            shared::<$name>()
        };
    };
    ($name:ident, movable) => {
        $crate::handle::handle_type!($name);
        const _: () = {
            const fn movable<T: Send>() {}
            movable::<$name>()
        };
    };
    ($name:ident) => {
        impl $crate::handle::Handle for $name {
            const TAG: u32 = $crate::handle::tag_of(stringify!($name));
            const NAME: &'static str = stringify!($name);
        }
        // Evaluated now (a check of the crate sees a name the list lacks, not only a build).
        const _: u32 = <$name as $crate::handle::Handle>::TAG;
    };
}
pub(crate) use handle_type;

// Each tag names one type, and none is the closed one.
const _: () = {
    let mut i = 0;
    while i < TYPES.len() {
        assert!(TYPES[i].0 != CLOSED);
        let mut j = i + 1;
        while j < TYPES.len() {
            assert!(TYPES[i].0 != TYPES[j].0);
            j += 1;
        }
        i += 1;
    }
};

/// What a tag says a handle is, for a message.
fn describe(tag: u32) -> String {
    if tag == CLOSED {
        return "a closed handle".into();
    }
    match TYPES.iter().find(|(t, _)| *t == tag) {
        Some((_, name)) => format!("a {name}"),
        None => "no live handle (one already closed, or not a filemap handle)".into(),
    }
}

/// A new handle owning `object`, to be freed by [`free`].
pub(crate) fn new_handle<T: Handle>(object: T) -> *mut T {
    Box::into_raw(Box::new(Tagged {
        tag: T::TAG,
        object,
    }))
    .cast()
}

/// The box behind a handle that must not be NULL, its tag checked.
///
/// # Safety
/// `handle` is NULL or points to at least 4 readable bytes (a handle from this library, of
/// any type, not freed).
unsafe fn checked<T: Handle>(handle: *mut T, what: &str) -> Result<*mut Tagged<T>, Failure> {
    if handle.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    let tagged = handle.cast::<Tagged<T>>();
    if !tagged.is_aligned() {
        return Err(Failure::invalid(format!(
            "{what} is not a {}: it is a misaligned pointer",
            T::NAME
        )));
    }
    // SAFETY: non-NULL, aligned, and readable (the caller's contract); every handle's tag is
    // a `u32` at offset 0 (`Tagged` is `repr(C)`), read as a plain integer, so a handle of
    // another type is read as itself.
    let tag = unsafe { tagged.cast::<u32>().read() };
    if tag != T::TAG {
        return Err(Failure::invalid(format!(
            "{what} is not a {} but {}",
            T::NAME,
            describe(tag)
        )));
    }
    Ok(tagged)
}

/// Checks that `handle` is a live handle of type `T` (not NULL), without using it.
///
/// # Safety
/// As [`shared`].
pub(crate) unsafe fn check<T: Handle>(handle: *mut T, what: &str) -> Result<(), Failure> {
    // SAFETY: the caller's contract.
    unsafe { checked(handle, what) }.map(drop)
}

/// A shared reference behind a handle that must not be NULL (for handles that several
/// threads may use at once); `FILEMAP_INVALID_ARGUMENT` for a handle of another type.
///
/// # Safety
/// `handle` is NULL or a live handle of this library (of any type).
pub(crate) unsafe fn shared<'a, T: Handle>(handle: *mut T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller's contract; the tag says it is a `Tagged<T>`.
    Ok(unsafe { &(*checked(handle, what)?).object })
}

/// The object behind a handle that must not be NULL; `FILEMAP_INVALID_ARGUMENT` for a
/// handle of another type.
///
/// # Safety
/// `handle` is NULL or a live handle of this library (of any type) that no other thread
/// uses meanwhile.
pub(crate) unsafe fn handle<'a, T: Handle>(
    handle: *mut T,
    what: &str,
) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller's contract; the tag says it is a `Tagged<T>`.
    Ok(unsafe { &mut (*checked(handle, what)?).object })
}

/// Frees a handle (NULL: nothing). A handle of another type, or one already closed (as far
/// as its tag tells), is left alone, and the thread's last error says so; a panic while
/// dropping the object is caught (and becomes the last error too).
///
/// # Safety
/// `handle` is NULL or a handle from this library that no other thread uses.
pub(crate) unsafe fn free<T: Handle>(handle: *mut T) {
    if handle.is_null() {
        return;
    }
    let _ = run(|| {
        // SAFETY: the caller's contract.
        let tagged = unsafe { checked(handle, "the handle to close") }?;
        // SAFETY: a live `Tagged<T>` from `new_handle`, freed here once. The volatile write
        // is not optimised away as a store to memory about to be freed.
        unsafe {
            ptr::write_volatile(ptr::addr_of_mut!((*tagged).tag), CLOSED);
            drop(Box::from_raw(tagged));
        }
        Ok(())
    });
}
