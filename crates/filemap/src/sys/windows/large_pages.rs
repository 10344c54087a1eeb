//! Windows large pages: the system's large-page size, and whether this process may make
//! sections on them. A section on large pages (`SEC_LARGE_PAGES`) needs
//! `SeLockMemoryPrivilege`, which an administrator grants to an account ("Lock pages in
//! memory") and which a process must enable in its token before it makes one; `may_create`
//! enables it, once, if the token holds it. Mapping a view of one needs no privilege.
//!
//! Wine grants no privileges (`AdjustTokenPrivileges` answers `ERROR_NOT_ALL_ASSIGNED`)
//! and ignores `SEC_LARGE_PAGES`: the tests reach the large-page path there by pretending
//! the privilege is held (`FILEMAP_TEST_PRETEND_LARGE_PAGES`, read only in test builds,
//! which have the `fuzzing` feature), on ordinary pages.

use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{ERROR_SUCCESS, HANDLE, LUID};
use windows_sys::Win32::Security::{
    AdjustTokenPrivileges, LUID_AND_ATTRIBUTES, LookupPrivilegeValueW, SE_PRIVILEGE_ENABLED,
    TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES, TOKEN_QUERY,
};
use windows_sys::Win32::System::Memory::GetLargePageMinimum;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::{last_error, owned, raw, wide};

/// The system's large-page size, by which objects on large pages are laid out (a process
/// needs no privilege to map one another made).
pub(crate) fn size() -> Option<u64> {
    static SIZE: OnceLock<Option<u64>> = OnceLock::new();
    *SIZE.get_or_init(|| {
        // SAFETY: no arguments; 0 when the processor has no large pages.
        let minimum = unsafe { GetLargePageMinimum() } as u64;
        match usable_size(minimum) {
            None if pretend() => Some(2 << 20),
            size => size,
        }
    })
}

/// Whether this process may make a section on large pages: its token holds
/// `SeLockMemoryPrivilege`, enabled here on the first call.
pub(crate) fn may_create() -> bool {
    static MAY: OnceLock<bool> = OnceLock::new();
    *MAY.get_or_init(|| pretend() || enable_lock_memory_privilege())
}

/// The large-page size the system reports, if it is one a section can be laid out in: a
/// power of two of at least the allocation granularity (64 KiB).
fn usable_size(minimum: u64) -> Option<u64> {
    (minimum.is_power_of_two() && minimum >= super::allocation_granularity()).then_some(minimum)
}

#[cfg(feature = "fuzzing")]
fn pretend() -> bool {
    std::env::var_os("FILEMAP_TEST_PRETEND_LARGE_PAGES").is_some()
}

#[cfg(not(feature = "fuzzing"))]
fn pretend() -> bool {
    false
}

/// Enables `SeLockMemoryPrivilege` in this process's token; false if the token does not
/// hold it (`AdjustTokenPrivileges` succeeds then, but reports `ERROR_NOT_ALL_ASSIGNED`).
fn enable_lock_memory_privilege() -> bool {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; `token` receives a new handle.
    let opened = unsafe {
        OpenProcessToken(
            GetCurrentProcess(),
            TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY,
            &mut token,
        )
    };
    let Some(token) = owned(token).filter(|_| opened != 0) else {
        return false;
    };
    let name = wide("SeLockMemoryPrivilege");
    let mut luid = LUID {
        LowPart: 0,
        HighPart: 0,
    };
    // SAFETY: a valid NUL-terminated privilege name; `luid` receives its identifier.
    if unsafe { LookupPrivilegeValueW(std::ptr::null(), name.as_ptr(), &mut luid) } == 0 {
        return false;
    }
    let privileges = TOKEN_PRIVILEGES {
        PrivilegeCount: 1,
        Privileges: [LUID_AND_ATTRIBUTES {
            Luid: luid,
            Attributes: SE_PRIVILEGE_ENABLED,
        }],
    };
    // SAFETY: a token opened with TOKEN_ADJUST_PRIVILEGES; `privileges` is one valid entry;
    // no previous state is asked for.
    let adjusted = unsafe {
        AdjustTokenPrivileges(
            raw(std::os::windows::io::AsHandle::as_handle(&token)),
            0,
            &privileges,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    adjusted != 0 && last_error() == ERROR_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::usable_size;

    #[test]
    fn only_power_of_two_sizes_of_a_granule_or_more_are_used() {
        assert_eq!(usable_size(2 << 20), Some(2 << 20));
        assert_eq!(usable_size(1 << 30), Some(1 << 30));
        assert_eq!(usable_size(0), None);
        assert_eq!(usable_size(4096), None);
        assert_eq!(usable_size(3 << 20), None);
    }
}
