//! Windows synchronisation objects: the kernel's own named mutexes (`WAIT_ABANDONED` is an
//! abandoned mutex), events and semaphores, so that native Win32 programs using the same
//! names interoperate. A shared mutex is a section holding the header and the value (as
//! on Linux) plus a kernel mutex named after it (`Local\name/lock`: `/` cannot appear in
//! filemap names, so the lock's name never collides with another object).

use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_FILE_NOT_FOUND, ERROR_INVALID_HANDLE,
    ERROR_TOO_MANY_POSTS, HANDLE, WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Threading::{
    CREATE_EVENT_INITIAL_SET, CREATE_EVENT_MANUAL_RESET, CreateEventExW, CreateMutexExW,
    CreateSemaphoreExW, INFINITE, OpenEventW, OpenMutexW, OpenSemaphoreW, ReleaseMutex,
    ReleaseSemaphore, ResetEvent, SetEvent, WaitForSingleObject,
};

use super::security::{
    ObjectSecurity, Rights, check_opened_owner, check_owner, check_owner_or, owner_check_access,
    owner_sid,
};
use super::{
    Entry, RawView, create_entry, kernel_name, last_error, name_taken_by_other_type, open_entry,
    os_error, owned, raw, wide,
};
use crate::error::{Error, Result};
use crate::header::{Header, SYNC_AREA, check_kind};
use crate::name::{Name, Scope};
use crate::sys::{Bell, CreateMode, Doorbell, Locked};
use crate::vocabulary::{Access, Disposition, Kind, Protection};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::System::Memory::OpenFileMappingW;

use windows_sys::Win32::Storage::FileSystem::{READ_CONTROL, SYNCHRONIZE};
use windows_sys::Win32::System::Threading::{
    EVENT_MODIFY_STATE, MUTEX_MODIFY_STATE, SEMAPHORE_MODIFY_STATE,
};

// The access a create call asks of the object it makes or finds: what an opener asks, and
// the right to read its owner. (The plain Create*W calls ask for all access to an existing
// object, which its permissions grant nobody but Administrators and SYSTEM.)
pub(super) const MUTEX_ACCESS: u32 = SYNCHRONIZE | MUTEX_MODIFY_STATE | READ_CONTROL;
const EVENT_ACCESS: u32 = SYNCHRONIZE | EVENT_MODIFY_STATE | EVENT_QUERY_STATE | READ_CONTROL;
const SEMAPHORE_ACCESS: u32 = SYNCHRONIZE | SEMAPHORE_MODIFY_STATE | READ_CONTROL;

/// `CreateEventExW`'s flags for a reset mode and initial state.
fn event_flags(manual: bool, signalled: bool) -> u32 {
    let mut flags = 0;
    if manual {
        flags |= CREATE_EVENT_MANUAL_RESET;
    }
    if signalled {
        flags |= CREATE_EVENT_INITIAL_SET;
    }
    flags
}

/// The access right to query an event's state and type (`EVENT_QUERY_STATE`).
const EVENT_QUERY_STATE: u32 = 0x0001;

/// The header a native object would have, for the platform-neutral checks.
fn native_header(kind: Kind) -> Header {
    crate::sys::new_header(
        kind,
        SYNC_AREA as u64,
        crate::header::Flags::empty(),
        0o600,
        Protection::ReadWrite,
    )
}

fn refuse_persistent(header: &Header) -> Result<()> {
    if header.is_persistent() {
        return Err(Error::Unsupported {
            what: "persistent objects on Windows: the kernel removes a named object with its \
                   last handle",
        });
    }
    Ok(())
}

/// Creates (or opens) a native object with `create`, mapping Win32's answers to filemap's.
fn create_native(
    name: &Name,
    kind: Kind,
    mode: CreateMode,
    permissions: u32,
    create: impl FnOnce(*const u16, *const SECURITY_ATTRIBUTES) -> HANDLE,
) -> Result<(OwnedHandle, Disposition)> {
    let w = kernel_name(name);
    let security = ObjectSecurity::new(permissions, Rights::Waitable)?;
    let h = create(w.as_ptr(), security.attributes());
    let code = last_error();
    let handle = owned(h).ok_or_else(|| match code {
        ERROR_INVALID_HANDLE => name_taken_by_other_type(name, kind),
        ERROR_ACCESS_DENIED => Error::PermissionDenied {
            what: format!("creating {name}"),
        },
        _ => Error::io("create", name, os_error(code)),
    })?;
    if code == ERROR_ALREADY_EXISTS {
        if mode == CreateMode::New {
            return Err(Error::AlreadyExists {
                name: name.to_string(),
            });
        }
        check_owner(name, raw(handle.as_handle()))?;
        return Ok((handle, Disposition::Opened));
    }
    Ok((handle, Disposition::Created))
}

/// Why an object filemap makes beside `name` could not be made (`op`: "create the lock
/// of", say), from the system's `code`: one of another type holding its name makes `name`
/// unusable (`NameInUse`), as does one that this user may not open (`PermissionDenied`).
fn companion_error(name: &Name, op: &'static str, code: u32) -> Error {
    match code {
        ERROR_INVALID_HANDLE => Error::NameInUse {
            name: name.to_string(),
        },
        ERROR_ACCESS_DENIED => Error::PermissionDenied {
            what: format!("{op} {name}"),
        },
        _ => Error::io(op, name, os_error(code)),
    }
}

/// Opens a native object with `open`.
fn open_native(
    name: &Name,
    kind: Kind,
    open: impl FnOnce(*const u16, u32) -> HANDLE,
) -> Result<OwnedHandle> {
    let w = kernel_name(name);
    let h = open(w.as_ptr(), owner_check_access(name));
    let handle = owned(h).ok_or_else(|| match last_error() {
        ERROR_FILE_NOT_FOUND => Error::NotFound {
            name: name.to_string(),
        },
        ERROR_INVALID_HANDLE => name_taken_by_other_type(name, kind),
        ERROR_ACCESS_DENIED => Error::PermissionDenied {
            what: format!("opening {name}"),
        },
        code => Error::io("open", name, os_error(code)),
    })?;
    check_opened_owner(name, raw(handle.as_handle()))?;
    Ok(handle)
}

/// The name of the kernel mutex that guards a shared mutex's section.
fn lock_name(name: &Name) -> Vec<u16> {
    let scope = match name.scope() {
        Scope::Local => "Local",
        Scope::Global => "Global",
    };
    wide(&format!("{scope}\\{}/lock", name.base()))
}

/// A timeout in a Win32 wait's milliseconds, rounded up (a short timeout never becomes a
/// try) and cut to the longest finite wait (49.7 days: see [`wait_in_turns`]).
fn milliseconds(timeout: Option<Duration>) -> u32 {
    match timeout {
        None => INFINITE,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(u128::from(INFINITE - 1)) as u32
        }
    }
}

/// Runs `wait` (a Win32 wait, given its milliseconds) until it ends other than by timing
/// out, or `timeout` (`None`: for ever) has passed; its last code. A timeout longer than
/// one Win32 wait can take (49.7 days) is waited in turns, and one past what `Instant`
/// can count is for ever, as on Linux.
pub(super) fn wait_in_turns(timeout: Option<Duration>, mut wait: impl FnMut(u32) -> u32) -> u32 {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let code = wait(milliseconds(left));
        if code != WAIT_TIMEOUT || deadline.is_none_or(|d| Instant::now() >= d) {
            return code;
        }
    }
}

/// Waits on a handle; `Ok(None)` on timeout.
fn wait(
    handle: impl AsHandle,
    timeout: Option<Duration>,
    name: &dyn std::fmt::Display,
) -> Result<Option<Locked>> {
    let handle = raw(handle.as_handle());
    let code = wait_in_turns(timeout, |ms| {
        // SAFETY: a valid waitable handle.
        unsafe { WaitForSingleObject(handle, ms) }
    });
    match code {
        WAIT_OBJECT_0 => Ok(Some(Locked::Normally)),
        WAIT_ABANDONED => Ok(Some(Locked::Abandoned)),
        WAIT_TIMEOUT => Ok(None),
        _ => Err(Error::io("wait for", name, os_error(last_error()))),
    }
}

fn fnv(bytes: &[u16]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Identifies the kernel object named `kernel_name` (`Local\...` or `Global\...`) within
/// this process: a hash of its name, a `Local\` name taken as the `Global\` one in session
/// 0, where services run and the two are one object (so that locking a mutex through
/// both names on one thread is the relock it is, not a second, recursive hold).
fn identity_of(kernel_name: &[u16]) -> u64 {
    identity_in_session(kernel_name, super::listing::session_id())
}

/// [`identity_of`] in session `session`.
fn identity_in_session(kernel_name: &[u16], session: u32) -> u64 {
    let local: Vec<u16> = "Local\\".encode_utf16().collect();
    match kernel_name.strip_prefix(local.as_slice()) {
        Some(rest) if session == 0 => {
            let global: Vec<u16> = "Global\\"
                .encode_utf16()
                .chain(rest.iter().copied())
                .collect();
            fnv(&global)
        }
        _ => fnv(kernel_name),
    }
}

/// A kernel mutex, and for shared mutexes the section with the value.
#[derive(Debug)]
pub(crate) struct MutexObject {
    pub(super) mutex: OwnedHandle,
    // The value's view (dropped before the entry that keeps the section alive).
    data: Option<(RawView, Entry)>,
    identity: u64,
}

impl MutexObject {
    pub(crate) fn create(
        name: &Name,
        header: &Header,
        mode: CreateMode,
        init_data: &dyn Fn(*mut u8),
    ) -> Result<(MutexObject, Header, Disposition)> {
        refuse_persistent(header)?;
        if header.kind == Kind::Mutex {
            // SAFETY: a valid NUL-terminated name and security attributes; not initially
            // owned.
            let (mutex, disposition) =
                create_native(name, Kind::Mutex, mode, header.mode, |w, sa| unsafe {
                    CreateMutexExW(sa, w, 0, MUTEX_ACCESS)
                })?;
            let identity = identity_of(&kernel_name(name));
            return Ok((
                MutexObject {
                    mutex,
                    data: None,
                    identity,
                },
                header.clone(),
                disposition,
            ));
        }
        let init = |at: *mut u8| {
            // SAFETY: the data area is SYNC_AREA bytes plus the user's value.
            init_data(unsafe { at.add(SYNC_AREA) });
            Ok(())
        };
        // The lock exists before the section's header is published, so an opener that
        // finds the header always finds the lock.
        let lock = lock_name(name);
        let security = ObjectSecurity::new(header.mode, Rights::Waitable)?;
        // SAFETY: a valid NUL-terminated name and security attributes; not initially owned;
        // the handle is owned by `owned`.
        let mutex =
            owned(unsafe { CreateMutexExW(security.attributes(), lock.as_ptr(), 0, MUTEX_ACCESS) })
                .ok_or_else(|| companion_error(name, "create the lock of", last_error()))?;
        companion_owner_check(name, &mutex)?;
        let expected = header.kind;
        let (entry, header, disposition) = create_entry(name, header, mode, (Some(&init), None))?;
        check_kind(name, &header, expected)?;
        let object = MutexObject::with_section(name, entry, &header, mutex, &lock)?;
        Ok((object, header, disposition))
    }

    /// A shared value's object: its section's data area and its lock `mutex`, named `lock`.
    fn with_section(
        name: &Name,
        entry: Entry,
        header: &Header,
        mutex: OwnedHandle,
        lock: &[u16],
    ) -> Result<MutexObject> {
        let view = entry.section()?.map(
            header.data_offset,
            header.size as usize,
            Access::Write,
            false,
            name,
        )?;
        // The lock's words and a small value are read in place (see `ChannelMemory::map`).
        refuse_reserved(&view, header.size, name)?;
        Ok(MutexObject {
            mutex,
            data: Some((view, entry)),
            identity: identity_of(lock),
        })
    }

    pub(crate) fn open(name: &Name, expected: Kind) -> Result<(MutexObject, Header)> {
        if expected == Kind::Mutex {
            // Only what a wait needs: `ReleaseMutex` needs ownership, no access right (and
            // `MUTEX_MODIFY_STATE` is a reserved one, which the least permissions a native
            // program gives its mutex, `SYNCHRONIZE`, do not grant: Win32's own
            // `OpenMutex(SYNCHRONIZE)` opens such a mutex).
            // SAFETY: a valid NUL-terminated name.
            let mutex = open_native(name, Kind::Mutex, |w, owner| unsafe {
                OpenMutexW(SYNCHRONIZE | owner, 0, w)
            })?;
            let identity = identity_of(&kernel_name(name));
            return Ok((
                MutexObject {
                    mutex,
                    data: None,
                    identity,
                },
                native_header(Kind::Mutex),
            ));
        }
        let (entry, header) = open_entry_as(name, expected)?;
        check_kind(name, &header, expected)?;
        let lock = lock_name(name);
        // SAFETY: a valid NUL-terminated name; the handle is owned by `owned`.
        let h = unsafe { OpenMutexW(SYNCHRONIZE | owner_check_access(name), 0, lock.as_ptr()) };
        // The creator makes the lock before it publishes the section, and every handle
        // holds both: a section without its lock is one whose last handle is closing (or
        // an opener holds it for a moment while the object goes away), so it is not there.
        let mutex = owned(h).ok_or_else(|| match last_error() {
            ERROR_FILE_NOT_FOUND => Error::NotFound {
                name: name.to_string(),
            },
            ERROR_ACCESS_DENIED => Error::PermissionDenied {
                what: format!("opening the lock of {name}"),
            },
            code => Error::io("open the lock of", name, os_error(code)),
        })?;
        // A `Local\` lock must be this user's, as its creator checks (another user could
        // make one under the name while the last holder closes, and hold it for ever).
        check_opened_owner(name, raw(mutex.as_handle()))?;
        let object = MutexObject::with_section(name, entry, &header, mutex, &lock)?;
        Ok((object, header))
    }

    pub(crate) fn lock(&self, timeout: Option<Duration>, name: &Name) -> Result<Option<Locked>> {
        wait(&self.mutex, timeout, name)
    }

    /// Whether this is a copy of another process's handle: never (Windows has no `fork`).
    pub(crate) fn inherited(&self) -> bool {
        false
    }

    pub(crate) fn unlock(&self) {
        // SAFETY: called only by the guard of a lock this thread holds.
        unsafe { ReleaseMutex(raw(self.mutex.as_handle())) };
    }

    /// The same as [`unlock`](MutexObject::unlock) (Windows has no `fork`).
    #[inline]
    pub(crate) fn unlock_here(&self) {
        self.unlock();
    }

    /// Nothing to do: the system abandons a mutex whose owning thread exits.
    pub(crate) fn abandon_for_exiting_thread(&self) {}

    /// Unlocks the mutex (for a guard dropped as its thread unwinds from a panic): the
    /// system marks abandoned only the mutexes of threads that exit, and this thread may
    /// live on (a panic caught), so the next locker is not told.
    pub(crate) fn release_abandoned(&self) {
        self.unlock();
    }

    pub(crate) fn data(&self) -> *mut u8 {
        match &self.data {
            // SAFETY: the data area is SYNC_AREA bytes plus the user's value.
            Some((view, _)) => unsafe { view.ptr().add(SYNC_AREA) },
            None => std::ptr::null_mut(),
        }
    }

    /// Whether the section is shorter than its data area: never (sections keep their size).
    pub(crate) fn truncated(&self) -> bool {
        false
    }

    /// Always intact: a pagefile section cannot be cut short while mapped.
    pub(crate) fn intact(&self) -> Result<()> {
        Ok(())
    }

    pub(crate) fn identity(&self) -> u64 {
        self.identity
    }

    /// Never: a thread that holds the kernel mutex holds it until it releases it or exits,
    /// whatever became of the handle it locked it through.
    pub(crate) fn held_by_no_live_handle(&self) -> bool {
        false
    }

    /// A handle that keeps the object alive in another process.
    pub(crate) fn handoff(&self) -> Result<super::OsHandle> {
        super::duplicate(self.mutex.as_handle())
    }

    /// No entry to pass on (the kernel keeps the mutex alive with any handle).
    pub(crate) fn entry(&self) -> Option<&super::Entry> {
        None
    }
}

/// A kernel event.
#[derive(Debug)]
pub(crate) struct EventObject {
    pub(super) handle: OwnedHandle,
    name: String,
    /// The reset mode, asked of the kernel once.
    manual: std::sync::OnceLock<Option<bool>>,
}

impl EventObject {
    /// Identifies the object within this process: its name (a kernel object's name is
    /// its own while any handle to it is open).
    pub(crate) fn identity(&self) -> u64 {
        identity_of(&self.name.encode_utf16().collect::<Vec<u16>>())
    }

    pub(crate) fn create(
        name: &Name,
        header: &Header,
        mode: CreateMode,
        manual: bool,
        signalled: bool,
    ) -> Result<(EventObject, Header, Disposition)> {
        refuse_persistent(header)?;
        // SAFETY: a valid NUL-terminated name and security attributes.
        let (handle, disposition) =
            create_native(name, Kind::Event, mode, header.mode, |w, sa| unsafe {
                CreateEventExW(sa, w, event_flags(manual, signalled), EVENT_ACCESS)
            })?;
        let object = EventObject {
            handle,
            name: name.to_string(),
            manual: std::sync::OnceLock::new(),
        };
        Ok((object, header.clone(), disposition))
    }

    pub(crate) fn open(name: &Name) -> Result<(EventObject, Header)> {
        // With the right to ask its reset mode (`reset_mode`) where the event's permissions
        // grant it; else with what a wait, a set and a reset need, as a native program
        // gives them (`SYNCHRONIZE | EVENT_MODIFY_STATE`, which Win32's own `OpenEvent`
        // with those rights opens): its reset mode is then not known.
        let open = |query: u32| {
            // SAFETY: a valid NUL-terminated name.
            open_native(name, Kind::Event, |w, owner| unsafe {
                OpenEventW(SYNCHRONIZE | EVENT_MODIFY_STATE | query | owner, 0, w)
            })
        };
        let handle = match open(EVENT_QUERY_STATE) {
            Err(Error::PermissionDenied { .. }) => open(0)?,
            opened => opened?,
        };
        let object = EventObject {
            handle,
            name: name.to_string(),
            manual: std::sync::OnceLock::new(),
        };
        Ok((object, native_header(Kind::Event)))
    }

    pub(crate) fn set(&self) -> Result<()> {
        // SAFETY: a valid event handle.
        if unsafe { SetEvent(raw(self.handle.as_handle())) } == 0 {
            return Err(Error::io("set", &self.name, os_error(last_error())));
        }
        Ok(())
    }

    pub(crate) fn reset(&self) -> Result<()> {
        // SAFETY: a valid event handle.
        if unsafe { ResetEvent(raw(self.handle.as_handle())) } == 0 {
            return Err(Error::io("reset", &self.name, os_error(last_error())));
        }
        Ok(())
    }

    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        Ok(wait(&self.handle, timeout, &self.name)?.is_some())
    }

    /// Whether the event is manual-reset, as the kernel says (`NtQueryEvent`, once).
    pub(crate) fn is_manual(&self) -> Option<bool> {
        *self.manual.get_or_init(|| self.query_manual())
    }

    fn query_manual(&self) -> Option<bool> {
        #[repr(C)]
        struct EventBasicInformation {
            event_type: i32,
            event_state: i32,
        }
        #[link(name = "ntdll")]
        unsafe extern "system" {
            fn NtQueryEvent(
                handle: HANDLE,
                class: u32,
                information: *mut EventBasicInformation,
                length: u32,
                returned: *mut u32,
            ) -> i32;
        }
        let mut info = EventBasicInformation {
            event_type: -1,
            event_state: 0,
        };
        // SAFETY: a valid event handle (one opened without query access makes the call
        // fail, and nothing is read); `info` is the structure of the basic information
        // class (0), of the size given.
        let status = unsafe {
            NtQueryEvent(
                raw(self.handle.as_handle()),
                0,
                &mut info,
                std::mem::size_of::<EventBasicInformation>() as u32,
                std::ptr::null_mut(),
            )
        };
        // NotificationEvent (0) is manual reset, SynchronizationEvent (1) auto.
        (status >= 0 && (0..=1).contains(&info.event_type)).then_some(info.event_type == 0)
    }
}

/// A kernel semaphore.
#[derive(Debug)]
pub(crate) struct SemaphoreObject {
    pub(super) handle: OwnedHandle,
    name: String,
    max: Option<u32>,
}

impl SemaphoreObject {
    /// Identifies the object within this process: its name (a kernel object's name is
    /// its own while any handle to it is open).
    pub(crate) fn identity(&self) -> u64 {
        identity_of(&self.name.encode_utf16().collect::<Vec<u16>>())
    }

    pub(crate) fn create(
        name: &Name,
        header: &Header,
        mode: CreateMode,
        initial: u32,
        max: u32,
    ) -> Result<(SemaphoreObject, Header, Disposition)> {
        refuse_persistent(header)?;
        // SAFETY: a valid NUL-terminated name and security attributes; counts checked by
        // the caller.
        let (handle, disposition) =
            create_native(name, Kind::Semaphore, mode, header.mode, |w, sa| unsafe {
                CreateSemaphoreExW(sa, initial as i32, max as i32, w, 0, SEMAPHORE_ACCESS)
            })?;
        let object = SemaphoreObject {
            handle,
            name: name.to_string(),
            max: (disposition == Disposition::Created).then_some(max),
        };
        Ok((object, header.clone(), disposition))
    }

    pub(crate) fn open(name: &Name) -> Result<(SemaphoreObject, Header)> {
        // SAFETY: a valid NUL-terminated name.
        let handle = open_native(name, Kind::Semaphore, |w, owner| unsafe {
            OpenSemaphoreW(SYNCHRONIZE | SEMAPHORE_MODIFY_STATE | owner, 0, w)
        })?;
        let object = SemaphoreObject {
            handle,
            name: name.to_string(),
            max: None,
        };
        Ok((object, native_header(Kind::Semaphore)))
    }

    /// Adds `n`; `Ok(Err(max))` if that would pass the maximum (`ERROR_TOO_MANY_POSTS`).
    pub(crate) fn release(&self, n: u32) -> Result<std::result::Result<u32, Option<u32>>> {
        // More than a LONG holds passes any maximum a semaphore can have.
        let Ok(n) = i32::try_from(n) else {
            return Ok(Err(self.max));
        };
        let mut previous = 0i32;
        // SAFETY: a valid semaphore handle; `previous` receives the old count.
        if unsafe { ReleaseSemaphore(raw(self.handle.as_handle()), n, &mut previous) } == 0 {
            let code = last_error();
            if code == ERROR_TOO_MANY_POSTS {
                return Ok(Err(self.max));
            }
            return Err(Error::io("release", &self.name, os_error(code)));
        }
        Ok(Ok(previous as u32))
    }

    pub(crate) fn acquire(&self, timeout: Option<Duration>) -> Result<bool> {
        Ok(wait(&self.handle, timeout, &self.name)?.is_some())
    }

    /// Windows does not tell a semaphore's count.
    pub(crate) fn count(&self) -> Option<u32> {
        None
    }

    pub(crate) fn max(&self) -> Option<u32> {
        self.max
    }
}

impl ChannelMemory {
    /// Whether the object has lost its name: never here (a name goes only with its object's
    /// last handle).
    pub(crate) fn name_removed(&self) -> bool {
        false
    }
}

/// A channel's data area, mapped, with its two wake-up events (`Local\name/rx` and
/// `Local\name/tx`: cross-process waits use named events, since `WaitOnAddress` works
/// within one process only).
#[derive(Debug)]
pub(crate) struct ChannelMemory {
    view: RawView,
    _entry: Entry,
    len: u64,
    /// The entry's permissions, for the events made beside it.
    permissions: u32,
    name: Name,
    /// Identifies the object within this process (see [`ChannelMemory::identity`]).
    identity: u64,
    receiver_event: OwnedHandle,
    sender_event: OwnedHandle,
    /// The numbered slots' events (a topic's subscribers, an inbox's senders), by slot,
    /// made when first used.
    subscriber_events: std::sync::Mutex<Vec<Option<OwnedHandle>>>,
    /// The owner of the section, when it is another user's `Global\` object this process
    /// opened: its events may be that user's too (see `auto_event`).
    section_owner: Option<String>,
}

/// An endpoint's claim on its role: it holds the only handle on a named event
/// (`Local\name/sender` or `.../receiver`), which disappears with its process.
#[derive(Debug)]
pub(crate) struct EndpointLock {
    _event: OwnedHandle,
}

fn derived(name: &Name, suffix: &str) -> Vec<u16> {
    let scope = match name.scope() {
        Scope::Local => "Local",
        Scope::Global => "Global",
    };
    wide(&format!("{scope}\\{}/{suffix}", name.base()))
}

/// The auto-reset event `suffix` beside `name`, made or opened. One found must be this
/// user's (see [`companion_owner_check`]), or `also`'s: the owner of another user's
/// `Global\` object this process opened, whose events its creator made; or anyone's
/// (`anyones`: a slot's event of a `Global\` object its permissions share with others,
/// which the first of them to use the slot makes).
fn auto_event(
    name: &Name,
    suffix: &str,
    permissions: u32,
    also: Option<&str>,
    anyones: bool,
) -> Result<OwnedHandle> {
    let w = derived(name, suffix);
    let security = ObjectSecurity::new(permissions, Rights::Waitable)?;
    // SAFETY: a valid NUL-terminated name and security attributes; an auto-reset event,
    // initially unset.
    let h = unsafe {
        CreateEventExW(
            security.attributes(),
            w.as_ptr(),
            event_flags(false, false),
            EVENT_ACCESS,
        )
    };
    let event = owned(h)
        .ok_or_else(|| companion_error(name, "create the wake-up event of", last_error()))?;
    if last_error() == ERROR_ALREADY_EXISTS && !anyones {
        check_owner_or(name, raw(event.as_handle()), also)?;
    }
    Ok(event)
}

/// For an object filemap makes beside `name` (its lock, its wake-up events, its endpoints'
/// events), just created or found (`last_error` still tells which): one found must be this
/// user's (or SYSTEM's, or the Administrators group's) too, or a squatter could hold the
/// object's lock or endpoints for ever. `Error::ForeignOwner` otherwise.
pub(super) fn companion_owner_check(name: &Name, handle: &OwnedHandle) -> Result<()> {
    if last_error() == ERROR_ALREADY_EXISTS {
        check_owner(name, raw(handle.as_handle()))?;
    }
    Ok(())
}

/// The owner of the section `name` if it is not this user's (nor SYSTEM's, nor the
/// Administrators group's): `None` if it is, or if its owner cannot be read (its
/// permissions grant no `READ_CONTROL`: its events must then be this user's).
fn foreign_owner(name: &Name) -> Option<String> {
    let w = kernel_name(name);
    // SAFETY: a valid NUL-terminated name; the handle is owned by `owned`.
    let section = owned(unsafe { OpenFileMappingW(READ_CONTROL, 0, w.as_ptr()) })?;
    let handle = raw(section.as_handle());
    match super::security::trusted_owner(handle) {
        Ok(false) => owner_sid(handle),
        _ => None,
    }
}

/// `Error::Corrupt` if the data area `view` (of `len` bytes) is not all committed memory.
/// The words of a channel's rings and of a mutex's lock (and a shared value's small value)
/// are read and written in place, outside the guarded copy routines: a page only reserved
/// there (a `SEC_RESERVE` section another program made under the name, committed no
/// further than its header) would end the process at its first touch. filemap's own
/// objects are committed whole.
fn refuse_reserved(view: &RawView, len: u64, name: &Name) -> Result<()> {
    if !super::creation::committed(view.ptr(), len as usize) {
        return Err(Error::Corrupt {
            name: name.to_string(),
            problem: "its data area is reserved, not committed memory (a section filemap did \
                      not make)"
                .into(),
        });
    }
    Ok(())
}

impl ChannelMemory {
    /// Whether the section is shorter than its data area: never (sections keep their size).
    pub(crate) fn truncated(&self) -> bool {
        false
    }

    /// Where the data area now ends if it was cut short: never (sections keep their size).
    pub(crate) fn cut_at(&self) -> Option<u64> {
        None
    }

    /// Where the memory was lost: never (a pagefile section cannot be cut short while
    /// mapped, so its pages cannot go away).
    #[inline]
    pub(crate) fn lost(&self) -> Option<u64> {
        None
    }

    /// Maps the data area of the entry `name` and makes (or opens) its wake-up events.
    /// `opened`: the entry was there, made by whoever made it (for a `Global\` name,
    /// possibly another user, whose events are let be as its section is).
    fn map(name: &Name, entry: Entry, header: &Header, opened: bool) -> Result<ChannelMemory> {
        let section_owner = if opened && name.scope() == Scope::Global {
            foreign_owner(name)
        } else {
            None
        };
        let view = entry.section()?.map(
            header.data_offset,
            header.size as usize,
            Access::Write,
            false,
            name,
        )?;
        refuse_reserved(&view, header.size, name)?;
        Ok(ChannelMemory {
            view,
            _entry: entry,
            len: header.size,
            name: name.clone(),
            identity: identity_of(&kernel_name(name)),
            receiver_event: auto_event(name, "rx", header.mode, section_owner.as_deref(), false)?,
            sender_event: auto_event(name, "tx", header.mode, section_owner.as_deref(), false)?,
            permissions: header.mode,
            section_owner,
            subscriber_events: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn base(&self) -> *mut u8 {
        self.view.ptr()
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Identifies the object within this process: its name, as for a mutex (a section's
    /// name is its own while any handle to it is open).
    pub(crate) fn identity(&self) -> u64 {
        self.identity
    }

    /// The bell's wake-up event: the two a channel has, or a numbered slot's, made (or
    /// opened) the first time it is rung or waited on. `None` if that failed. The lock on
    /// the slots' events is held only to find the handle, never while it is waited on.
    pub(super) fn event(&self, bell: Bell) -> Option<BorrowedHandle<'_>> {
        match bell {
            Bell::Receiver => Some(self.receiver_event.as_handle()),
            Bell::Sender => Some(self.sender_event.as_handle()),
            Bell::Slot(slot) => {
                let mut events = self
                    .subscriber_events
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let slot = slot as usize;
                if events.len() <= slot {
                    events.resize_with(slot + 1, || None);
                }
                if events[slot].is_none() {
                    events[slot] = auto_event(
                        &self.name,
                        &format!("slot{slot}"),
                        self.permissions,
                        self.section_owner.as_deref(),
                        // (Those the permissions let in are no squatters.)
                        self.name.scope() == Scope::Global && self.permissions & 0o066 != 0,
                    )
                    .ok();
                }
                let handle = raw(events[slot].as_ref()?.as_handle());
                // SAFETY: a slot's event, once made, is neither replaced nor closed until
                // `self` is dropped (growing the list moves the owner, not the handle), so
                // the handle stays open for the borrow of `self`.
                Some(unsafe { BorrowedHandle::borrow_raw(handle) })
            }
        }
    }

    /// Sleeps on the side's event while the doorbell's word holds `expected`, at most
    /// `timeout`.
    pub(crate) fn wait_word(&self, bell: &Doorbell<'_>, expected: u32, timeout: Duration) {
        if bell.word.load(std::sync::atomic::Ordering::Acquire) == expected {
            match self.event(bell.bell) {
                Some(event) => {
                    let _ = wait(event, Some(timeout), &self.name);
                }
                // No event to sleep on: nap instead (the caller's loop checks again).
                None => std::thread::sleep(timeout.min(Duration::from_millis(1))),
            }
        }
    }

    /// Wakes the side (sets its event).
    pub(crate) fn wake_word(&self, bell: &Doorbell<'_>) {
        if let Some(event) = self.event(bell.bell) {
            // SAFETY: a valid event handle.
            unsafe { SetEvent(raw(event)) };
        }
    }

    fn endpoint_suffix(byte: u8) -> String {
        match byte {
            0 => "sender".into(),
            1 => "receiver".into(),
            other => format!("endpoint{other}"),
        }
    }

    /// Takes the endpoint's role; `None` if a live endpoint holds it.
    pub(crate) fn lock_endpoint(&self, byte: u8) -> Result<Option<EndpointLock>> {
        let w = derived(&self.name, &Self::endpoint_suffix(byte));
        // The event's existence is the role's liveness: only its user may open it (with
        // read access, another user could hold it open and keep a dead endpoint alive).
        // Others see it exist all the same (`endpoint_alive`).
        let security = ObjectSecurity::new(self.permissions & 0o700, Rights::Waitable)?;
        // A peer testing liveness holds the event for an instant: try a few times.
        for _ in 0..5 {
            // SAFETY: a valid NUL-terminated name and security attributes.
            let h = unsafe {
                CreateEventExW(
                    security.attributes(),
                    w.as_ptr(),
                    event_flags(true, false),
                    EVENT_ACCESS,
                )
            };
            let code = last_error();
            if h.is_null() && code == ERROR_ACCESS_DENIED {
                // Another user's live endpoint holds the role: its event is there. (If it
                // is not, this process may not make events at all.)
                if self.endpoint_alive(byte) {
                    return Ok(None);
                }
                return Err(Error::io(
                    "create the endpoint event of",
                    &self.name,
                    os_error(code),
                ));
            }
            let event = owned(h).ok_or_else(|| {
                Error::io("create the endpoint event of", &self.name, os_error(code))
            })?;
            if code != ERROR_ALREADY_EXISTS {
                return Ok(Some(EndpointLock { _event: event }));
            }
            // A live endpoint's event, unless a squatter made it.
            check_owner(&self.name, raw(event.as_handle()))?;
            drop(event);
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(None)
    }

    /// Whether a live endpoint holds that role (its event still exists).
    pub(crate) fn endpoint_alive(&self, byte: u8) -> bool {
        let w = derived(&self.name, &Self::endpoint_suffix(byte));
        // SAFETY: a valid NUL-terminated name; the handle is closed at once by `owned`.
        // An event this user may not open (with read access only) is there all the same.
        owned(unsafe { OpenEventW(SYNCHRONIZE, 0, w.as_ptr()) }).is_some()
            || last_error() == ERROR_ACCESS_DENIED
    }
}

/// Creates (or opens) a channel's entry whose data area `init` prepares.
pub(crate) fn create_sync(
    name: &Name,
    header: &Header,
    mode: CreateMode,
    init: &dyn Fn(*mut u8) -> Result<()>,
) -> Result<(ChannelMemory, Header, Disposition)> {
    refuse_persistent(header)?;
    let expected = header.kind;
    let (entry, header, disposition) = create_entry(name, header, mode, (Some(init), None))?;
    check_kind(name, &header, expected)?;
    let opened = disposition == Disposition::Opened;
    Ok((
        ChannelMemory::map(name, entry, &header, opened)?,
        header,
        disposition,
    ))
}

/// Opens the entry `name` (read-write) for an object of kind `expected`: a name another
/// kind of object holds is said not to be that.
fn open_entry_as(name: &Name, expected: Kind) -> Result<(Entry, Header)> {
    open_entry(name, true).map_err(|e| match e {
        Error::KindMismatch { name, found, .. } => Error::KindMismatch {
            name,
            found,
            expected,
        },
        e => e,
    })
}

/// Opens a channel's entry (or a topic's, an inbox's, a service's: `expected`, what a name
/// another kind of object holds is said not to be).
pub(crate) fn open_sync(name: &Name, expected: Kind) -> Result<(ChannelMemory, Header)> {
    let (entry, header) = open_entry_as(name, expected)?;
    check_kind(name, &header, expected)?;
    Ok((ChannelMemory::map(name, entry, &header, true)?, header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_are_global_ones_in_session_zero() {
        let wide = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
        let (local, global) = (wide("Local\\jobs/lock"), wide("Global\\jobs/lock"));
        assert_eq!(
            identity_in_session(&local, 0),
            identity_in_session(&global, 0)
        );
        assert_ne!(
            identity_in_session(&local, 1),
            identity_in_session(&global, 1)
        );
        assert_eq!(identity_in_session(&global, 1), fnv(&global));
    }
}
