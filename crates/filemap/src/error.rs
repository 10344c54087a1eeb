//! `filemap::Error`: every way a filemap call can fail, each variant naming what was
//! involved (the name, the path, the offset, the size, the kind found).
//!
//! Operating-system failures that have no more specific variant become [`Error::Io`],
//! which still says which operation failed and on what. [`HumanDuration`] is how every
//! message says how long something took.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::vocabulary::{Access, Kind, MAX_NAME_LEN, ShareMode};

/// The result type of filemap operations.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// fn first_byte(name: &str) -> filemap::Result<u8> {
///     let m = filemap::Mapping::open(name)?;
///     Ok(m.view().len(1).map()?.read_vec(0, 1)?[0])
/// }
/// let m = filemap::Mapping::create_new("doc-error-result", 4096)?;
/// m.view().map()?.write_at(0, &[7])?;
/// assert_eq!(first_byte("doc-error-result")?, 7);
/// assert!(matches!(first_byte("doc-error-missing"), Err(filemap::Error::NotFound { .. })));
/// # Ok::<(), filemap::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What is wrong with a name passed to filemap (see [`crate::Name`]).
///
/// ```
/// use filemap::{Error, Name, NameProblem};
/// match Name::new("Local\\a/b") {
///     Err(Error::InvalidName { problem: NameProblem::Slash { position }, .. }) => assert_eq!(position, 7),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name (after any `Local\` or `Global\` prefix) is empty.
    Empty,
    /// The name is longer than [`crate::Name::MAX_LEN`] bytes.
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// The name contains NUL or another control character.
    ControlCharacter {
        /// Byte position of the character.
        position: usize,
    },
    /// The name contains `/`.
    Slash {
        /// Byte position of the slash.
        position: usize,
    },
    /// The name contains a `\` that is not the one after a `Local` or `Global` prefix.
    Backslash {
        /// Byte position of the backslash.
        position: usize,
    },
    /// The name starts with a prefix other than `Local\` or `Global\`.
    UnknownPrefix {
        /// The prefix found (without its backslash).
        prefix: String,
    },
    /// The name is `.` or `..`, which name directories, not objects (a foreign segment's
    /// name is a file name in `/dev/shm`).
    DotName,
    /// A foreign segment's name that starts with `filemap.`, which is how filemap's own
    /// entries' file names start (in `/dev/shm` they share the directory): a segment of that
    /// name would be taken for a broken entry, and an entry opened as a segment would skip
    /// filemap's checks. Open a filemap object by its filemap name.
    EntryFileName,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("the name is empty"),
            NameProblem::TooLong { len } => write!(
                f,
                "the name is {len} bytes long; at most {} are allowed",
                MAX_NAME_LEN
            ),
            NameProblem::ControlCharacter { position } => {
                write!(f, "control character at byte {position}")
            }
            NameProblem::Slash { position } => write!(f, "'/' at byte {position} is not allowed"),
            NameProblem::Backslash { position } => write!(
                f,
                "'\\' at byte {position} is only allowed after a Local or Global prefix"
            ),
            NameProblem::UnknownPrefix { prefix } => write!(
                f,
                "unknown prefix {}: use Local\\ (the default) or Global\\",
                Quoted(prefix)
            ),
            NameProblem::DotName => f.write_str(". and .. name directories, not objects"),
            NameProblem::EntryFileName => f.write_str(
                "names that start with filemap. are filemap's own entries' (use the object's \
                 filemap name)",
            ),
        }
    }
}

/// What is wrong with the file behind a named file-backed mapping.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// # #[cfg(unix)] {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("data");
/// std::fs::write(&path, [0u8; 4096]).unwrap();
/// let _m = filemap::Mapping::from_path(&path).name("backing-demo").create()?;
/// std::fs::remove_file(&path).unwrap();
/// assert!(matches!(
///     filemap::Mapping::open("backing-demo"),
///     Err(filemap::Error::BackingFile { problem: filemap::BackingFileProblem::Missing, .. })
/// ));
/// # }
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackingFileProblem {
    /// The file no longer exists at the recorded path.
    Missing,
    /// A different file now has the recorded path (device or inode changed).
    Replaced,
    /// The file is now shorter than the mapping.
    TooShort {
        /// The file's current length.
        file_len: u64,
    },
}

impl fmt::Display for BackingFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackingFileProblem::Missing => f.write_str("the file no longer exists"),
            BackingFileProblem::Replaced => {
                f.write_str("a different file now has that path (device or inode changed)")
            }
            BackingFileProblem::TooShort { file_len } => {
                write!(f, "the file is now only {file_len} bytes long")
            }
        }
    }
}

/// Everything that can go wrong in filemap.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// let err = filemap::Mapping::open("no-such-object").unwrap_err();
/// assert!(matches!(err, filemap::Error::NotFound { .. }));
/// assert_eq!(err.to_string(), "no object named Local\\no-such-object");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name is not valid; `problem` says why.
    #[error("invalid name {}: {problem}", Quoted(name))]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },

    /// No object has that name (`OpenFileMapping` failing with `ERROR_FILE_NOT_FOUND`).
    #[error("no object named {name}")]
    NotFound {
        /// The name looked up.
        name: String,
    },

    /// `create_new` found the name taken (by a live or persistent object).
    #[error("an object named {name} already exists")]
    AlreadyExists {
        /// The name that is taken.
        name: String,
    },

    /// The name belongs to an object of another kind (`ERROR_INVALID_HANDLE` on Windows).
    #[error("{name} is {}, not {}", found.with_article(), expected.with_article())]
    KindMismatch {
        /// The name.
        name: String,
        /// The kind of the existing object.
        found: Kind,
        /// The kind the caller asked for.
        expected: Kind,
    },

    /// A file-backed mapping of size 0 (the file's size) over an empty file
    /// (`ERROR_FILE_INVALID` on Windows).
    #[error("cannot map the empty file {path}: give a size to extend it")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },

    /// A file that cannot be mapped whatever the size: a directory, or (Linux) a device, a
    /// pipe, a socket or a file of a kernel pseudo file system such as /proc or /sys.
    #[error("cannot map {path}: {why}")]
    NotMappable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: &'static str,
    },

    /// A mapping must grow its file, but the file or the protection is read-only.
    #[error(
        "the file {path} is {file_len} bytes long and the mapping asks for {size}: \
         extending it needs read-write protection and a writable file"
    )]
    CannotExtend {
        /// The file.
        path: PathBuf,
        /// Its current length.
        file_len: u64,
        /// The size asked for.
        size: u64,
    },

    /// The file was opened read-only but the mapping asks for read-write protection.
    #[error("the file {path} is not open for writing, so it cannot back a read-write mapping")]
    FileNotWritable {
        /// The file.
        path: PathBuf,
    },

    /// The file behind a named file-backed mapping is not the one the mapping recorded.
    #[error("{name} maps {path}, but {problem}")]
    BackingFile {
        /// The mapping's name.
        name: String,
        /// The recorded path.
        path: PathBuf,
        /// What changed.
        problem: BackingFileProblem,
    },

    /// A size is zero, too large, or otherwise unusable.
    #[error("invalid size {size}: {problem}")]
    InvalidSize {
        /// The size given.
        size: u64,
        /// Why it cannot be used.
        problem: &'static str,
    },

    /// A range (a view, a read, a write, a flush) reaches past the end of the object or view.
    #[error("the range at offset {offset} of length {len} does not fit in {size} bytes")]
    OutOfRange {
        /// Start of the range.
        offset: u64,
        /// Its length.
        len: u64,
        /// The size of what it must fit in.
        size: u64,
    },

    /// A view's access does not fit what the object's protection and the handle allow.
    #[error("{requested} access is not allowed on this mapping: {reason}")]
    AccessNotAllowed {
        /// The access asked for.
        requested: Access,
        /// Why not: the object's protection or the handle's open mode.
        reason: String,
    },

    /// Another cooperating filemap user maps the file in a conflicting share mode.
    #[error("{path} is mapped by another process in a conflicting share mode (asked for {mode:?})")]
    ShareViolation {
        /// The file.
        path: PathBuf,
        /// The share mode asked for.
        mode: ShareMode,
    },

    /// A view of an object that was not created executable was asked to become executable.
    #[error("{name} was not created executable: create it with .executable(true)")]
    NotExecutable {
        /// The object.
        name: String,
    },

    /// A write through a view mapped for reading only.
    #[error("the view is mapped for {access} access and cannot be written")]
    ViewNotWritable {
        /// The view's access.
        access: Access,
    },

    /// An atomic accessor at an offset whose address is not aligned for its type (a view
    /// that starts at an unaligned offset in its object moves its aligned offsets with it).
    #[error("offset {offset} of the view is not at an address aligned to {align} bytes")]
    Misaligned {
        /// The offset given (in the view).
        offset: u64,
        /// The alignment the type needs.
        align: u64,
    },

    /// There is not enough memory or disk space to allocate the object, or its file system
    /// cannot hold a file that large (ext4's largest file is 16 TiB).
    #[error("not enough space for {size} bytes in {place}")]
    NoSpace {
        /// Where the space was needed (namespace directory, file, or memory).
        place: String,
        /// How many bytes were asked for.
        size: u64,
    },

    /// The entry exists but is not a usable filemap object; `problem` says what is wrong.
    #[error("{name}: corrupt entry: {problem}")]
    Corrupt {
        /// The name (or entry path).
        name: String,
        /// What was wrong.
        problem: String,
    },

    /// The entry is another user's: a Local name someone else pre-created, or a Global
    /// name another user (not root) took before a create call (`create_new`,
    /// `create_or_open`) of this user: someone squatting the name. Opening another user's
    /// Global object with `open` is allowed, as far as its permissions say.
    #[error("{name} is owned by {owner}, not by this user ({me}): refusing to use it")]
    ForeignOwner {
        /// The name.
        name: String,
        /// The object's owner: `uid N` on Linux, a SID (`S-1-5-...`) on Windows.
        owner: String,
        /// This process's user, in the same form.
        me: String,
    },

    /// An entry's permissions are wider than its creator asked for.
    #[error(
        "{name} has permissions {mode:03o}, wider than the {expected:03o} its creator asked for: \
         refusing to use it"
    )]
    InsecurePermissions {
        /// The name.
        name: String,
        /// The entry's permissions. On Windows (a file-backed object's header section that
        /// others may write), the recorded ones plus the write bits its security
        /// descriptor grants: group write for a user or group, other write for everyone
        /// (Everyone, Authenticated Users, Users, Interactive).
        mode: u32,
        /// The permissions recorded in its header.
        expected: u32,
    },

    /// The namespace directory (`FILEMAP_DIR`) lets other users remove or replace the
    /// names in it: it is writable by them without the sticky bit (which `/dev/shm` has),
    /// or owned by another user (not root).
    #[error("the namespace directory {path} {problem}: refusing to use it")]
    InsecureDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// The entry is a symbolic link; filemap never follows them.
    #[error(
        "{name} is a symbolic link: refusing to follow it (not filemap's: remove the link \
         from the namespace directory by hand)"
    )]
    Symlink {
        /// The name.
        name: String,
    },

    /// The operating system refused access to the object.
    #[error("permission denied: {what}")]
    PermissionDenied {
        /// What was refused (the name or path, and the operation).
        what: String,
    },

    /// A shared handle could not be picked up in a child or from a socket.
    #[error("no shared handle {key}: {problem}")]
    SharedHandle {
        /// The key or channel the handle was expected on.
        key: String,
        /// What was missing or wrong.
        problem: String,
    },

    /// `at_address`: something is already mapped in the range (never replaced).
    #[error("cannot place a view of {len} bytes at {addr:#x}: the range is already in use")]
    AddressInUse {
        /// The address asked for.
        addr: usize,
        /// The length of the mapping.
        len: usize,
    },

    /// `at_address`: the address cannot hold the view's first byte (the mapping must start
    /// on an allocation-granularity boundary).
    #[error(
        "cannot place the view at {addr:#x}: a view at offset {offset} must start {} bytes past a \
         multiple of {granularity}",
        offset % granularity
    )]
    AddressMisaligned {
        /// The address asked for.
        addr: usize,
        /// The view's offset in its object.
        offset: u64,
        /// The allocation granularity.
        granularity: u64,
    },

    /// Locking pages in memory was refused (a limit such as `RLIMIT_MEMLOCK`).
    #[error("cannot lock {len} bytes in memory: {reason}")]
    LockLimit {
        /// How many bytes.
        len: u64,
        /// The system's reason.
        reason: String,
    },

    /// The channel's peer is gone (closed, or its process died) and nothing more can
    /// arrive or be taken.
    #[error("{name}: the other end of the channel is gone")]
    Disconnected {
        /// The channel.
        name: String,
    },

    /// A channel already has a live endpoint of that kind.
    #[error("{name} already has a {endpoint}: only one at a time")]
    EndpointTaken {
        /// The channel.
        name: String,
        /// "sender" or "receiver".
        endpoint: &'static str,
    },

    /// A topic subscriber fell so far behind that the publisher wrote over messages it had
    /// not read (only under `SlowSubscribers::DropOldest`); it goes on at the oldest
    /// message still there.
    #[error("{name}: this subscriber fell behind and missed {missed} messages")]
    Lagged {
        /// The topic.
        name: String,
        /// How many messages it missed.
        missed: u64,
    },

    /// Every slot of a topic, an inbox or a service is taken by a live endpoint.
    #[error("{name} has no free {party} slot: all {slots} are taken")]
    NoFreeSlot {
        /// The topic, inbox or service.
        name: String,
        /// Whose slots: `"subscriber"`, `"sender"` or `"client"`.
        party: &'static str,
        /// How many slots it has.
        slots: u32,
    },

    /// A setting outside what is allowed (a topic's subscriber slots, for example).
    #[error("{setting} {value} is out of range: {allowed}")]
    InvalidSetting {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: u64,
        /// What is allowed.
        allowed: &'static str,
    },

    /// A message larger than the channel can carry.
    #[error("a message of {len} bytes does not fit in {name}, which carries at most {max}")]
    MessageTooLarge {
        /// The channel.
        name: String,
        /// The message's length.
        len: usize,
        /// The largest message the channel carries.
        max: usize,
    },

    /// A wait (lock, event, semaphore) did not succeed within its timeout.
    #[error("timed out after {} waiting for {what}", HumanDuration(*.after))]
    Timeout {
        /// What was waited for (the object's name).
        what: String,
        /// The timeout.
        after: std::time::Duration,
    },

    /// This thread already holds the mutex: locking it again would never return.
    #[error("this thread already holds {name}: locking it again would deadlock")]
    WouldDeadlock {
        /// The mutex's name.
        name: String,
    },

    /// `NamedMutex::release` on a mutex this thread does not hold through
    /// `lock_unguarded` (Win32's `ERROR_NOT_OWNER`).
    #[error("this thread does not hold {name}, so it cannot release it")]
    NotOwner {
        /// The mutex's name.
        name: String,
    },

    /// `release` would raise a semaphore past its maximum count (`ERROR_TOO_MANY_POSTS`).
    #[error("releasing {release} would raise {name} past its maximum count{}", max.map(|m| format!(" of {m}")).unwrap_or_default())]
    SemaphoreFull {
        /// The semaphore's name.
        name: String,
        /// How many units the caller tried to release.
        release: u32,
        /// The maximum count, if the system says.
        max: Option<u32>,
    },

    /// A semaphore's counts are unusable: the maximum is 0 or above 2^31 - 1 (Win32's
    /// `LONG`), or the initial count exceeds it.
    #[error(
        "invalid semaphore counts: initial {initial}, maximum {max} (need 0 <= initial <= maximum, 1 <= maximum <= 2147483647)"
    )]
    InvalidCount {
        /// The initial count given.
        initial: u32,
        /// The maximum count given.
        max: u32,
    },

    /// A typed object was opened as another type (size, alignment or type name differ).
    #[error("{name} holds a {found}, not a {expected}")]
    LayoutMismatch {
        /// The object's name.
        name: String,
        /// The type asked for (name, size, alignment).
        expected: String,
        /// The type recorded by its creator.
        found: String,
    },

    /// Permissions that are not `0o600` plus any of the group and other bits.
    #[error(
        "invalid permissions {mode:o}: they must be within 777 and include owner read-write (600)"
    )]
    InvalidPermissions {
        /// The permissions given.
        mode: u32,
    },

    /// Other processes kept removing and re-creating the name while this one tried to
    /// open or create it, and it gave up.
    #[error(
        "{name}: gave up after {attempts} attempts: other processes kept removing and re-creating the name"
    )]
    NameContended {
        /// The name.
        name: String,
        /// How many times it tried.
        attempts: u32,
    },

    /// Another process held the entry's lifetime lock exclusively for longer than a
    /// handle deciding whether it is the last ever takes (a process stopped there, or one
    /// that locks a readable entry on purpose), and the open gave up.
    #[error("{name}: another process held its lifetime lock exclusively for {}; gave up", HumanDuration(*.held))]
    EntryLocked {
        /// The name.
        name: String,
        /// How long this call waited.
        held: std::time::Duration,
    },

    /// A subscriber could not join a topic, or find its place again after it fell behind:
    /// under `SlowSubscribers::DropOldest` the publisher wrote over the ring faster than
    /// the subscriber could find its place in it, `attempts` times over (a subscriber that
    /// keeps losing its core while a publisher publishes flat out). Nothing is wrong with
    /// the topic: joining (or receiving) again may succeed.
    #[error(
        "{name}: a subscriber gave up finding its place in the ring after {attempts} attempts: the publisher kept writing over it faster"
    )]
    Outpaced {
        /// The topic.
        name: String,
        /// How many times it tried.
        attempts: u32,
    },

    /// The name is used by a kernel object filemap does not make (Windows: a timer, a job,
    /// ...), so it cannot name a filemap object.
    #[error("{name} is used by a kernel object of another type")]
    NameInUse {
        /// The name.
        name: String,
    },

    /// A named file-backed mapping records its file's path so other processes can open it;
    /// this path does not fit in the header.
    #[error(
        "the path {path} is {len} bytes long; a named file-backed mapping can record at most {max}"
    )]
    PathTooLong {
        /// The file's path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The longest path an entry records.
        max: usize,
    },

    /// A named file-backed mapping of a file that has no path (it was deleted): other
    /// processes could not open the file by name.
    #[error(
        "the file has no path (was it deleted?), so other processes could not open a mapping of it by name"
    )]
    FileHasNoPath,

    /// The memory behind a view could not be had when filemap copied it: the file or entry
    /// was truncated under the view, the storage failed (an I/O error), or the pages were
    /// made inaccessible. The copy stopped; the object, its other views and other
    /// processes are unaffected, and a later call works once the memory is back.
    #[error("{name}: the memory at offset {offset} could not be read or written ({})", if *truncated { "the object was truncated under the view" } else { "an I/O error or inaccessible pages" })]
    PageFault {
        /// The object.
        name: String,
        /// Where in the view (or message, or value) the copy stopped.
        offset: u64,
        /// Whether the object's storage is now shorter than the view.
        truncated: bool,
    },

    /// A service's server failed a request
    /// ([`Server::respond_failure`](crate::service::Server::respond_failure)).
    #[error("{service} failed the request: {reason}")]
    RequestFailed {
        /// The service.
        service: String,
        /// What the server said (its bytes as text, invalid UTF-8 replaced).
        reason: String,
    },

    /// A combination of options that cannot work.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },

    /// Any other operating-system error, with the operation and its target.
    #[error("{op} {target}: {source}")]
    Io {
        /// What filemap was doing.
        op: &'static str,
        /// On what (a name, a path).
        target: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, target: impl fmt::Display, source: io::Error) -> Error {
        Error::Io {
            op,
            target: target.to_string(),
            source,
        }
    }
}

/// What kind of failure an [`Error`] is, coarser than its variant: what callers that sort
/// errors into a few classes match on (the C library's status codes and the Python
/// module's exception classes are these).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::ErrorCategory;
/// let err = filemap::Mapping::open("no-such-object").unwrap_err();
/// assert_eq!(err.category(), ErrorCategory::NotFound);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCategory {
    /// No object has that name.
    NotFound,
    /// A create-new call found the name taken.
    AlreadyExists,
    /// Permissions, ownership, a symlink or the access mode forbid it.
    AccessDenied,
    /// A wait ran past its timeout.
    Timeout,
    /// The peer endpoint is gone.
    Disconnected,
    /// An argument is out of range or malformed (a name, a size, an offset, a count).
    InvalidArgument,
    /// Releasing a mutex this thread does not hold.
    NotOwner,
    /// This thread already holds the mutex.
    WouldDeadlock,
    /// The name belongs to an object of another kind.
    KindMismatch,
    /// An object's shared state is damaged or of another layout.
    Corrupt,
    /// A subscriber fell behind and missed messages.
    Lagged,
    /// An endpoint, slot, address or name is taken by a live process.
    Busy,
    /// The memory under a view could not be read or written.
    PageFault,
    /// The system could not allocate or lock the memory.
    NoSpace,
    /// The platform or object cannot do what was asked.
    Unsupported,
    /// A service's server failed the request ([`Error::RequestFailed`]).
    RequestFailed,
    /// Another operating-system error ([`Error::Io`] of a kind none of the others is).
    System,
    /// Anything else.
    Other,
}

impl Error {
    /// The error's [`ErrorCategory`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{sync::NamedMutex, ErrorCategory, Name};
    /// assert_eq!(Name::new("a/b").unwrap_err().category(), ErrorCategory::InvalidArgument);
    /// let m = NamedMutex::create_new("doc-error-category")?;
    /// let taken = NamedMutex::create_new("doc-error-category").unwrap_err();
    /// assert_eq!(taken.category(), ErrorCategory::AlreadyExists);
    /// let _guard = m.lock()?;
    /// assert_eq!(m.lock().unwrap_err().category(), ErrorCategory::WouldDeadlock);
    /// // An operating-system error goes with the filemap errors of its kind.
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("no-such-file");
    /// let err = filemap::Mapping::from_path(&path).create().unwrap_err();
    /// assert!(matches!(err, filemap::Error::Io { .. }));
    /// assert_eq!(err.category(), ErrorCategory::NotFound);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn category(&self) -> ErrorCategory {
        use ErrorCategory as C;
        match self {
            Error::NotFound { .. } => C::NotFound,
            Error::AlreadyExists { .. } => C::AlreadyExists,
            Error::PermissionDenied { .. }
            | Error::ForeignOwner { .. }
            | Error::InsecurePermissions { .. }
            | Error::InsecureDirectory { .. }
            | Error::Symlink { .. }
            | Error::AccessNotAllowed { .. }
            | Error::FileNotWritable { .. }
            | Error::CannotExtend { .. }
            | Error::ViewNotWritable { .. }
            | Error::NotExecutable { .. } => C::AccessDenied,
            Error::Timeout { .. } => C::Timeout,
            Error::Disconnected { .. } => C::Disconnected,
            Error::InvalidName { .. }
            | Error::InvalidSize { .. }
            | Error::OutOfRange { .. }
            | Error::Misaligned { .. }
            | Error::AddressMisaligned { .. }
            | Error::InvalidCount { .. }
            | Error::InvalidSetting { .. }
            | Error::InvalidPermissions { .. }
            | Error::MessageTooLarge { .. }
            | Error::SemaphoreFull { .. }
            | Error::EmptyFile { .. }
            | Error::NotMappable { .. }
            | Error::PathTooLong { .. }
            | Error::FileHasNoPath => C::InvalidArgument,
            Error::NotOwner { .. } => C::NotOwner,
            Error::WouldDeadlock { .. } => C::WouldDeadlock,
            Error::KindMismatch { .. } => C::KindMismatch,
            Error::Corrupt { .. }
            | Error::LayoutMismatch { .. }
            | Error::BackingFile { .. }
            | Error::SharedHandle { .. } => C::Corrupt,
            Error::Lagged { .. } => C::Lagged,
            Error::NoFreeSlot { .. }
            | Error::EndpointTaken { .. }
            | Error::NameInUse { .. }
            | Error::NameContended { .. }
            | Error::EntryLocked { .. }
            | Error::Outpaced { .. }
            | Error::AddressInUse { .. }
            | Error::ShareViolation { .. } => C::Busy,
            Error::PageFault { .. } => C::PageFault,
            Error::NoSpace { .. } | Error::LockLimit { .. } => C::NoSpace,
            Error::Unsupported { .. } => C::Unsupported,
            // An operating-system error whose kind says more (a path that does not exist, a
            // file this user may not open) goes with the filemap errors of that kind.
            Error::Io { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => C::NotFound,
                io::ErrorKind::PermissionDenied => C::AccessDenied,
                io::ErrorKind::AlreadyExists => C::AlreadyExists,
                // A path the system cannot take: one the system calls a bad file name, or
                // one with a NUL byte (std refuses it before any system call: an error
                // with no OS code; an EINVAL from the system stays a system error).
                io::ErrorKind::InvalidFilename => C::InvalidArgument,
                io::ErrorKind::InvalidInput if source.raw_os_error().is_none() => {
                    C::InvalidArgument
                }
                _ => C::System,
            },
            Error::RequestFailed { .. } => C::RequestFailed,
        }
    }
}

/// A filemap error as an [`io::Error`] of the closest [`io::ErrorKind`], carrying the
/// filemap error (its message, and `downcast` gives it back); an [`Error::Io`] keeps the
/// kind of the operating system's error.
///
/// ```
/// let err = filemap::Mapping::open("no-such-object").unwrap_err();
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
/// ```
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        use ErrorCategory as C;
        use io::ErrorKind as K;
        let kind = match &e {
            Error::Io { source, .. } => source.kind(),
            // Finer than their categories.
            Error::NoFreeSlot { .. } => K::ResourceBusy,
            Error::NameContended { .. } | Error::Outpaced { .. } | Error::LockLimit { .. } => {
                K::Other
            }
            _ => match e.category() {
                C::NotFound => K::NotFound,
                C::AlreadyExists => K::AlreadyExists,
                C::AccessDenied | C::NotOwner => K::PermissionDenied,
                C::InvalidArgument => K::InvalidInput,
                C::Corrupt | C::KindMismatch => K::InvalidData,
                C::Timeout => K::TimedOut,
                C::Disconnected => K::BrokenPipe,
                C::Lagged => K::Interrupted,
                C::Busy => K::AddrInUse,
                C::NoSpace => K::StorageFull,
                C::WouldDeadlock => K::Deadlock,
                C::Unsupported => K::Unsupported,
                C::PageFault => K::UnexpectedEof,
                C::RequestFailed | C::System | C::Other => K::Other,
            },
        };
        io::Error::new(kind, e)
    }
}

/// A name as typed, in double quotes: a control character (or a quote) escaped as Rust
/// escapes it, so that the message shows what is there; a backslash as it is (`Local\x`
/// is what the user typed, not `Local\\x`).
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            if c.is_control() || c == '"' {
                write!(f, "{}", c.escape_debug())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        f.write_str("\"")
    }
}

/// A duration as messages say it: the largest unit that keeps it at 1 or more, up to three
/// decimals, no trailing zeros, in the units a `--timeout` option takes (`0s`, `7ns`,
/// `250µs`, `100ms`, `1.5s`, `90s`), where `{:?}` prints `0ns` or `1.000000001s`.
///
/// ```
/// use std::time::Duration;
/// use filemap::HumanDuration;
///
/// assert_eq!(HumanDuration(Duration::from_millis(1500)).to_string(), "1.5s");
/// assert_eq!(HumanDuration(Duration::from_millis(100)).to_string(), "100ms");
/// assert_eq!(HumanDuration(Duration::ZERO).to_string(), "0s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub std::time::Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        // The largest unit in which the value, rounded to three decimals (in integers:
        // exact at any size), is 1 or more: 999.9996ms is 1s, not 1000ms.
        let rounded = |per: u128| (nanos * 1000 + per / 2) / per;
        let (unit, thousandths) = [
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("µs", 1_000),
            ("ns", 1),
        ]
        .into_iter()
        .map(|(unit, per)| (unit, rounded(per)))
        .find(|&(_, thousandths)| thousandths >= 1000)
        .unwrap_or(("ns", nanos * 1000));
        let (whole, mut frac) = (thousandths / 1000, thousandths % 1000);
        if frac == 0 {
            return write!(f, "{whole}{unit}");
        }
        let mut digits = 3;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, "{whole}.{frac:0digits$}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::HumanDuration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_a_timeout_option_would_take_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_micros(250), "250µs"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(100), "100ms"),
            (Duration::from_secs_f64(0.1), "100ms"),
            (Duration::from_micros(1_250), "1.25ms"),
            (Duration::from_nanos(1_000_000_001), "1s"),
            (Duration::from_millis(1_005), "1.005s"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_nanos(999_999_500), "1s"),
            (Duration::from_nanos(999_500), "1ms"),
            (Duration::from_nanos(999_400), "999.4µs"),
            (Duration::MAX, "18446744073709551616s"),
        ];
        for (d, text) in cases {
            assert_eq!(HumanDuration(d).to_string(), text, "{d:?}");
        }
    }
}
