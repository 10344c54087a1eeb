//! Sharing a mapping handle with another process (Win32's `bInheritHandle` and
//! `DuplicateHandle`): with a child `Command`, or over a Unix socket. A shared handle
//! keeps the object alive like any other handle, and a file-backed mapping's share mode
//! with it: a file mapped exclusively stays so while any process holds the mapping, or
//! the handle that keeps the mode: a descriptor sent over a socket and not yet received
//! (while the socket is open), and on Windows a child another `Command` starts while a
//! [`SharedHandles`] guard lives (it inherits the file's handle too, for its whole life).
//! The mode binds cooperating processes only, as share modes do on Linux: a receiver on
//! Linux shares the sender's lock, which it could also let go of (`flock(LOCK_UN)`).
//!
//! The receiver gets a short text descriptor (what kind of object, its name, size and
//! protection) and the handles themselves; this module owns that format.

use std::process::Command;

use crate::error::{Error, Result};
use crate::header::{Flags, Header};
use crate::mapping::Mapping;
use crate::name::Name;
use crate::object::Object;
use crate::sys;
use crate::sys::new_header;
use crate::vocabulary::{Kind, Protection};

const ENV_PREFIX: &str = "FILEMAP_SHARED_";
const FORMAT: &str = "filemap-share/1";
/// The format of a descriptor that comes with what keeps a file's share mode (a mapping
/// with a share mode: `sys::share_handoff`), one handle more than an earlier filemap's
/// receiver, which refuses it as not its format, expects.
const FORMAT_WITH_LOCK: &str = "filemap-share/2";

fn check_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > 64
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(Error::SharedHandle {
            key: key.to_string(),
            problem: "a key is 1 to 64 ASCII letters, digits or underscores".into(),
        });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What the receiving side needs besides the handles.
#[derive(Debug, PartialEq)]
struct Descriptor {
    /// The first handle is the entry (header and lifetime).
    has_entry: bool,
    /// A file section's handle follows the entry's (file-backed objects).
    file_backed: bool,
    /// The last handle keeps the file's share mode (`sys::share_handoff`: on Linux an open
    /// file description whose `flock` is held while any process has one, for a mapping
    /// with a share mode; on Windows a handle on the file, whose share mode is its open
    /// handles'), so that a mapping handed over keeps it after the sender's is gone.
    share_lock: bool,
    /// An unnamed file-backed mapping that may have executable views (a named one's
    /// header says so).
    executable: bool,
    writable: bool,
    /// The entry's handle shares its lifetime lock with the sender's (and maybe others'):
    /// the sender holds it without taking part in removing the name (a child that kept
    /// the description its parent handed on, which it could not make one of its own of),
    /// so the receiver takes no part either: its close, converting the shared lock, would
    /// remove the name under the others, or strip their lock.
    entry_shared: bool,
    size: u64,
    protection: Protection,
    name: Option<String>,
    path: Option<Vec<u8>>,
    /// Handle values (inheritance only; sockets carry the handles themselves).
    handles: Vec<u64>,
    /// What identifies each handle's object (inheritance only: on Linux its file's device
    /// and inode, on Windows `sys::handle_identity`'s), for the child to check that the
    /// number still names it.
    identities: Vec<String>,
}

impl Descriptor {
    fn encode(&self) -> String {
        let prot = match self.protection {
            Protection::ReadOnly => "ro",
            Protection::ReadWrite => "rw",
            Protection::WriteCopy => "wc",
        };
        let format = if self.share_lock {
            FORMAT_WITH_LOCK
        } else {
            FORMAT
        };
        let mut s = format!(
            "{format} entry={} file={} writable={} size={} protection={prot}",
            self.has_entry as u8, self.file_backed as u8, self.writable as u8, self.size
        );
        if self.share_lock {
            s += " lock=1";
        }
        if self.executable {
            s += " exec=1";
        }
        if self.entry_shared {
            s += " shared=1";
        }
        if let Some(n) = &self.name {
            s += &format!(" name={}", hex(n.as_bytes()));
        }
        if let Some(p) = &self.path {
            s += &format!(" path={}", hex(p));
        }
        if !self.handles.is_empty() {
            let h: Vec<String> = self.handles.iter().map(u64::to_string).collect();
            s += &format!(" handles={}", h.join(","));
        }
        if !self.identities.is_empty() {
            s += &format!(" ids={}", self.identities.join(","));
        }
        s
    }

    fn decode(text: &str, key: &str) -> Result<Descriptor> {
        let bad = |problem: String| Error::SharedHandle {
            key: key.to_string(),
            problem,
        };
        let mut fields = text.split(' ');
        let format = fields.next();
        if format != Some(FORMAT) && format != Some(FORMAT_WITH_LOCK) {
            return Err(bad(format!(
                "not a {FORMAT} or {FORMAT_WITH_LOCK} descriptor: {text:?}"
            )));
        }
        let mut d = Descriptor {
            has_entry: false,
            file_backed: false,
            share_lock: false,
            executable: false,
            writable: false,
            entry_shared: false,
            size: 0,
            protection: Protection::ReadOnly,
            name: None,
            path: None,
            handles: Vec::new(),
            identities: Vec::new(),
        };
        for field in fields {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| bad(format!("malformed field {field:?}")))?;
            let flag = || match v {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(bad(format!("{k} must be 0 or 1, not {v:?}"))),
            };
            match k {
                "entry" => d.has_entry = flag()?,
                "file" => d.file_backed = flag()?,
                "writable" => d.writable = flag()?,
                "lock" => d.share_lock = flag()?,
                "exec" => d.executable = flag()?,
                "shared" => d.entry_shared = flag()?,
                "size" => d.size = v.parse().map_err(|_| bad(format!("bad size {v:?}")))?,
                "protection" => {
                    d.protection = match v {
                        "ro" => Protection::ReadOnly,
                        "rw" => Protection::ReadWrite,
                        "wc" => Protection::WriteCopy,
                        _ => return Err(bad(format!("bad protection {v:?}"))),
                    }
                }
                "name" => {
                    let bytes = unhex(v).ok_or_else(|| bad(format!("bad name {v:?}")))?;
                    d.name = Some(
                        String::from_utf8(bytes).map_err(|_| bad("name is not UTF-8".into()))?,
                    );
                }
                "path" => d.path = Some(unhex(v).ok_or_else(|| bad(format!("bad path {v:?}")))?),
                "handles" => {
                    d.handles = v
                        .split(',')
                        .map(|h| h.parse().map_err(|_| bad(format!("bad handle {h:?}"))))
                        .collect::<Result<_>>()?
                }
                "ids" => d.identities = v.split(',').map(str::to_string).collect(),
                _ => {} // fields of later versions
            }
        }
        if d.has_entry as usize + d.file_backed as usize == 0 {
            return Err(bad("the descriptor names no handle".into()));
        }
        if d.share_lock != (format == Some(FORMAT_WITH_LOCK)) || (d.share_lock && !d.file_backed) {
            return Err(bad(format!(
                "a share lock comes with a file, in a {FORMAT_WITH_LOCK} descriptor alone"
            )));
        }
        // A mapping without an entry (an unnamed file's) has the descriptor's size, and
        // holds at least a byte.
        if !d.has_entry && d.size == 0 {
            return Err(bad("the descriptor gives no size".into()));
        }
        Ok(d)
    }

    fn handle_count(&self) -> usize {
        self.has_entry as usize + self.file_backed as usize + self.share_lock as usize
    }

    /// Refuses a descriptor that lists one handle value twice: it would be taken twice,
    /// and closed twice (or once a second take is refused).
    fn refuse_repeated(&self, key: &str) -> Result<()> {
        if (1..self.handles.len()).any(|i| self.handles[..i].contains(&self.handles[i])) {
            return Err(Error::SharedHandle {
                key: key.to_string(),
                problem: "the descriptor lists a handle twice".into(),
            });
        }
        Ok(())
    }
}

impl Mapping {
    /// New handles for another process, and the descriptor that goes with them.
    fn handoff(&self) -> Result<(Descriptor, Vec<sys::OsHandle>)> {
        let object = &self.object;
        let mut handles = Vec::new();
        if let Some(entry) = &object.entry {
            handles.push(entry.handoff()?);
        }
        let file_backed = object.header.is_file_backed();
        if file_backed {
            handles.push(sys::duplicate(object.section.handle())?);
        }
        let share_lock = sys::share_handoff(
            &object.section,
            object.share_lock.as_ref(),
            object.header.share_mode(),
        )?;
        let descriptor = Descriptor {
            has_entry: object.entry.is_some(),
            file_backed,
            share_lock: share_lock.is_some(),
            executable: object.entry.is_none() && object.header.is_executable(),
            writable: object.writable,
            entry_shared: (object.entry.as_ref()).is_some_and(sys::Entry::hands_off_a_shared_lock),
            size: object.header.size,
            protection: object.header.protection,
            name: object.name.as_ref().map(|n| n.to_string()),
            path: object.path.as_deref().map(sys::path_to_bytes),
            handles: Vec::new(),
            identities: Vec::new(),
        };
        handles.extend(share_lock);
        Ok((descriptor, handles))
    }

    /// Rebuilds a mapping from a descriptor and the handles that came with it; `inherited`:
    /// they came by inheritance (`from_inherited`).
    fn adopt(
        d: Descriptor,
        mut handles: Vec<sys::OsHandle>,
        key: &str,
        inherited: bool,
    ) -> Result<Mapping> {
        if handles.len() != d.handle_count() {
            return Err(Error::SharedHandle {
                key: key.to_string(),
                problem: format!(
                    "{} handles arrived, the descriptor needs {}",
                    handles.len(),
                    d.handle_count()
                ),
            });
        }
        let name = d.name.as_deref().map(Name::new).transpose()?;
        let share_lock = if d.share_lock { handles.pop() } else { None };
        let file_handle = if d.file_backed { handles.pop() } else { None };
        let path = d.path.as_deref().map(sys::path_from_bytes);
        let (entry, header) = match handles.pop() {
            Some(h) => {
                // (A description shared with the sender, inherited or not, takes no part
                // in removing the name.)
                let shared = inherited || d.entry_shared;
                let (entry, header) = sys::Entry::adopt(h, name.as_ref(), shared)?;
                (Some(entry), header)
            }
            None => {
                let executable = if d.executable {
                    Flags::EXECUTABLE
                } else {
                    Flags::empty()
                };
                let header = Header {
                    flags: Flags::FILE_BACKED | executable,
                    data_offset: 0,
                    ..new_header(Kind::Mapping, d.size, Flags::empty(), 0o600, d.protection)
                };
                (None, header)
            }
        };
        if header.kind != Kind::Mapping {
            return Err(Error::KindMismatch {
                name: d.name.unwrap_or_else(|| "a shared handle".into()),
                found: header.kind,
                expected: Kind::Mapping,
            });
        }
        if header.is_file_backed() != d.file_backed {
            return Err(Error::SharedHandle {
                key: key.to_string(),
                problem: "the descriptor and the object disagree on what backs it".into(),
            });
        }
        // The lock checked against the file it must be on (the section's; a named one's
        // as its header records it). (A lock without a file is refused by `decode`.)
        let recorded = header.file.as_ref().map(|record| (record.dev, record.ino));
        // The file handed over is the one the header records (a sender could hand any
        // file over with the object's entry: the mapping would bear the object's name and
        // show another file).
        if let (Some(want), Some(file)) = (recorded, &file_handle) {
            if sys::recorded_identity(file)?.is_some_and(|found| found != want) {
                return Err(Error::SharedHandle {
                    key: key.to_string(),
                    problem: "the file handed over is not the one the object records".into(),
                });
            }
        }
        let share_lock = match (share_lock, &file_handle) {
            (Some(lock), Some(file)) => Some(sys::FileLock::adopt(lock, file, recorded).map_err(
                |problem| Error::SharedHandle {
                    key: key.to_string(),
                    problem: problem.to_string(),
                },
            )?),
            _ => None,
        };
        let file_section = file_handle.map(sys::Section::from_handle);
        let executable = header.is_executable();
        let (section, base) = match (file_section, &entry) {
            (Some(section), _) => (section.with_executable(executable), 0),
            (None, Some(entry)) => (
                entry.section()?.with_executable(executable),
                header.data_offset,
            ),
            (None, None) => unreachable!("handle_count() > 0 was checked"),
        };
        // A storage shorter than the size said (a file cut short, or a descriptor that
        // lies) is refused here, as an opener by name refuses it.
        let end = base.saturating_add(header.size);
        if let Some(stored) = section.stored_len().filter(|len| *len < end) {
            return Err(Error::SharedHandle {
                key: key.to_string(),
                problem: format!(
                    "the object's storage holds {stored} bytes, fewer than the {end} its size \
                     needs"
                ),
            });
        }
        Mapping::from_object(Object {
            name,
            writable: d.writable && header.protection == Protection::ReadWrite,
            header,
            section,
            base,
            path,
            share_lock,
            foreign: None,
            entry,
        })
    }

    /// Picks up a mapping shared by the parent process with
    /// [`CommandExt::share_mapping`] under `key`. [`Error::SharedHandle`] if the variable
    /// is missing or malformed, or names no handle this process inherited: each handle is
    /// checked to be the very object the parent shared (on Linux a file's device and
    /// inode; on Windows an entry's creator and creation time, a file's volume and index,
    /// or at least the handle's object type), so a variable passed on to a grandchild,
    /// whose descriptor or handle of that number is something else, is refused and that
    /// handle left alone.
    ///
    /// ```no_run
    /// // in the child:
    /// let m = filemap::Mapping::from_inherited("data")?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn from_inherited(key: &str) -> Result<Mapping> {
        check_key(key)?;
        let var = format!("{ENV_PREFIX}{key}");
        let text = std::env::var(&var).map_err(|_| Error::SharedHandle {
            key: key.to_string(),
            problem: format!("the environment variable {var} is not set"),
        })?;
        let d = Descriptor::decode(&text, key)?;
        if d.handles.len() != d.handle_count() {
            return Err(Error::SharedHandle {
                key: key.to_string(),
                problem: "the descriptor lists the wrong number of handles".into(),
            });
        }
        if !d.identities.is_empty() && d.identities.len() != d.handles.len() {
            return Err(Error::SharedHandle {
                key: key.to_string(),
                problem: "the descriptor lists the wrong number of handle identities".into(),
            });
        }
        // Each handle once (two of a file's handles have one identity).
        d.refuse_repeated(key)?;
        let identity = |i: usize| d.identities.get(i).map(String::as_str);
        // Every handle checked before any is taken: one refused leaves the others alone.
        for (i, &h) in d.handles.iter().enumerate() {
            sys::check_inherited(h, key, identity(i))?;
        }
        let handles = (d.handles.iter().enumerate())
            .map(|(i, &h)| sys::take_inherited(h, key, identity(i)))
            .collect::<Result<Vec<_>>>()?;
        Mapping::adopt(d, handles, key, true)
    }

    /// Duplicates a handle on this mapping into another process (`DuplicateHandle`), and
    /// returns a token for that process to pass to [`Mapping::from_duplicated`] (send it
    /// any way you like: a pipe, a shared mapping, a command line).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::os::windows::io::{BorrowedHandle, RawHandle};
    /// let m = filemap::Mapping::create_new("doc-share-duplicate-into", 4096)?;
    /// m.view().map()?.write_at(0, b"duplicated")?;
    /// // Here into this very process: -1 is its pseudo-handle, valid for as long as it runs.
    /// // SAFETY: a `BorrowedHandle` may be -1, which then names the current process.
    /// let this_process = unsafe { BorrowedHandle::borrow_raw(-1isize as RawHandle) };
    /// let token = m.duplicate_into(this_process)?;
    /// // SAFETY: the token was made for this process, and is used once.
    /// let copy = unsafe { filemap::Mapping::from_duplicated(&token)? };
    /// assert_eq!(copy.view().map()?.read_vec(0, 10)?, b"duplicated");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[cfg(windows)]
    pub fn duplicate_into(
        &self,
        process: std::os::windows::io::BorrowedHandle<'_>,
    ) -> Result<String> {
        let (mut d, handles) = self.handoff()?;
        for h in &handles {
            match sys::duplicate_into(h, process) {
                Ok(value) => d.handles.push(value),
                Err(e) => {
                    // The ones made already would keep the object alive there for as long
                    // as the process lives, with nobody to close them.
                    for &value in &d.handles {
                        sys::close_in(process, value);
                    }
                    return Err(e);
                }
            }
        }
        Ok(d.encode())
    }

    /// Takes the mapping that another process duplicated into this one with
    /// [`Mapping::duplicate_into`]. A token that names no open handle is
    /// [`Error::SharedHandle`]. (A token passed twice is not caught: handle values are
    /// reused once closed, so a value seen before may name a new handle duplicated into
    /// this process since; hence the contract below.)
    ///
    /// # Safety
    ///
    /// `token` is one that [`Mapping::duplicate_into`] returned for this process, passed
    /// here once: the handles it names were duplicated into this process for this call and
    /// belong to nothing else in it. (A duplicated handle looks like any other: a token from
    /// anywhere else could name a handle this process uses for something else, which the
    /// mapping would then own and close, as `OwnedHandle::from_raw_handle` would.)
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::os::windows::io::{BorrowedHandle, RawHandle};
    /// let m = filemap::Mapping::create_new("doc-share-from-duplicated", 4096)?;
    /// // SAFETY: a `BorrowedHandle` may be -1, which then names the current process.
    /// let this_process = unsafe { BorrowedHandle::borrow_raw(-1isize as RawHandle) };
    /// let token = m.duplicate_into(this_process)?; // normally sent to the other process
    /// // SAFETY: the token was made for this process, and is used once.
    /// let copy = unsafe { filemap::Mapping::from_duplicated(&token)? };
    /// copy.view().map()?.write_at(0, b"one object")?;
    /// assert_eq!(m.view().map()?.read_vec(0, 10)?, b"one object");
    /// assert_eq!(copy.name(), m.name());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[cfg(windows)]
    pub unsafe fn from_duplicated(token: &str) -> Result<Mapping> {
        let key = "duplicated handle";
        let d = Descriptor::decode(token, key)?;
        if d.handles.len() != d.handle_count() {
            return Err(Error::SharedHandle {
                key: key.to_string(),
                problem: "the token lists the wrong number of handles".into(),
            });
        }
        d.refuse_repeated(key)?;
        let handles = d
            .handles
            .iter()
            .map(|&h| sys::take_duplicated(h, key))
            .collect::<Result<Vec<_>>>()?;
        Mapping::adopt(d, handles, key, false)
    }

    /// Sends a handle on this mapping over a connected Unix socket; the receiving process
    /// calls [`Mapping::recv_from`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use std::os::unix::net::UnixStream;
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let m = filemap::Mapping::unnamed(4096)?;
    /// m.view().map()?.write_at(0, b"over the socket")?;
    /// m.send_to(&a)?;
    /// let received = filemap::Mapping::recv_from(&b)?;
    /// assert_eq!(received.view().map()?.read_vec(0, 15)?, b"over the socket");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn send_to(&self, socket: &std::os::unix::net::UnixStream) -> Result<()> {
        let (d, handles) = self.handoff()?;
        sys::send_handles(socket, d.encode().as_bytes(), &handles)
    }

    /// Receives a mapping sent with [`Mapping::send_to`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::Mapping;
    /// use std::os::unix::net::UnixStream;
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let m = Mapping::create_new("doc-share-recv-from", 4096)?;
    /// m.send_to(&a)?;
    /// let got = Mapping::recv_from(&b)?;
    /// assert_eq!(got.name(), m.name()); // the same named object
    /// got.view().map()?.write_at(0, b"hi")?;
    /// assert_eq!(m.view().map()?.read_vec(0, 2)?, b"hi");
    /// drop(a); // the sending end closes
    /// assert!(matches!(Mapping::recv_from(&b), Err(filemap::Error::SharedHandle { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn recv_from(socket: &std::os::unix::net::UnixStream) -> Result<Mapping> {
        let mut buf = vec![0u8; 16 * 1024];
        let (n, handles) = sys::recv_handles(socket, &mut buf)?;
        let key = "Unix socket";
        if n == 0 && handles.is_empty() {
            return Err(Error::SharedHandle {
                key: key.into(),
                problem: "the socket was closed".into(),
            });
        }
        let text = std::str::from_utf8(&buf[..n]).map_err(|_| Error::SharedHandle {
            key: key.into(),
            problem: "the descriptor is not UTF-8".into(),
        })?;
        let d = Descriptor::decode(text, key)?;
        Mapping::adopt(d, handles, key, false)
    }
}

/// Shares mappings with child processes (Win32's inheritable handles).
///
/// ```no_run
/// use filemap::{CommandExt, Mapping};
/// use std::process::Command;
///
/// let m = Mapping::unnamed(4096)?;
/// let mut worker = Command::new("my-worker");
/// let shared = worker.share_mapping("data", &m)?;
/// worker.spawn().unwrap();
/// drop((shared, worker)); // after spawning: this process's copies of the handles close
/// // the worker calls Mapping::from_inherited("data")
/// # Ok::<(), filemap::Error>(())
/// ```
pub trait CommandExt {
    /// Arranges for the children this command spawns to inherit a handle on `mapping`,
    /// which they pick up with [`Mapping::from_inherited`]`(key)`. `key` is 1 to 64 ASCII
    /// letters, digits or underscores. Keep the returned guard until the child is spawned.
    /// On Windows the handles are inheritable for the whole process while the guard lives:
    /// a child that any other `Command` spawns meanwhile inherits them too (std spawns
    /// with inheritance on, and gives no list of handles to pass on stable Rust).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{CommandExt, Mapping};
    /// let m = Mapping::unnamed(4096)?;
    /// let mut worker = std::process::Command::new("worker"); // not run here
    /// let _shared = worker.share_mapping("data_1", &m)?;
    /// let refused = worker.share_mapping("data-1", &m); // '-' is not allowed in a key
    /// assert!(matches!(refused, Err(filemap::Error::SharedHandle { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    fn share_mapping(&mut self, key: &str, mapping: &Mapping) -> Result<SharedHandles>;
}

/// This process's copies of handles shared with a child by [`CommandExt::share_mapping`].
/// Keep it until the child is spawned; dropping it afterwards closes the copies (the child
/// keeps its own). On Linux the `Command` holds them too (they must be open when it
/// spawns, however often): they close once both are dropped.
///
/// ```no_run
/// use filemap::{CommandExt, Mapping};
/// let m = Mapping::unnamed(4096)?;
/// let mut cmd = std::process::Command::new("worker");
/// let shared = cmd.share_mapping("data", &m)?;
/// let mut child = cmd.spawn().unwrap();
/// drop((shared, cmd)); // after spawn: this process's copies close, the child keeps its own
/// child.wait().unwrap();
/// # Ok::<(), filemap::Error>(())
/// ```
#[must_use = "keep it until the child is spawned: dropping it closes the handles to share"]
#[derive(Debug)]
pub struct SharedHandles {
    _guard: sys::InheritGuard,
}

/// Makes `command`'s children inherit `handles` without telling them (they only keep the
/// objects alive).
pub(crate) fn inherit_quietly(
    command: &mut Command,
    handles: Vec<sys::OsHandle>,
    entry: Option<&sys::Entry>,
) -> Result<SharedHandles> {
    Ok(SharedHandles {
        _guard: sys::inherit(command, handles, entry)?,
    })
}

impl CommandExt for Command {
    fn share_mapping(&mut self, key: &str, mapping: &Mapping) -> Result<SharedHandles> {
        check_key(key)?;
        let (mut d, handles) = mapping.handoff()?;
        d.handles = handles.iter().map(sys::raw_handle_value).collect();
        d.identities = (handles.iter())
            .map(sys::handle_identity)
            .collect::<Result<Option<Vec<_>>>>()?
            .unwrap_or_default();
        // Inheritable first: a failure there leaves no variable naming handles that were
        // closed (a child spawned anyway would take whatever handle had that value).
        let guard = sys::inherit(self, handles, mapping.object.entry.as_ref())?;
        self.env(format!("{ENV_PREFIX}{key}"), d.encode());
        Ok(SharedHandles { _guard: guard })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trip() {
        let d = Descriptor {
            has_entry: true,
            file_backed: true,
            share_lock: true,
            executable: true,
            writable: true,
            entry_shared: true,
            size: 123,
            protection: Protection::WriteCopy,
            name: Some("Local\\a b".into()),
            path: Some(b"/tmp/x y".to_vec()),
            handles: vec![5, 6, 7],
            identities: vec!["803-1f".into(), "803-20".into(), "803-20".into()],
        };
        assert_eq!(Descriptor::decode(&d.encode(), "k").unwrap(), d);
        assert!(d.encode().starts_with("filemap-share/2 "));
    }

    #[test]
    fn bad_descriptors_are_errors() {
        for text in [
            "",
            "other/1",
            "filemap-share/1",
            "filemap-share/1 entry=2",
            "filemap-share/1 entry=1 size=x",
            "filemap-share/1 file=1 size=0",
            "filemap-share/1 file=1",
            "filemap-share/1 entry=1 name=zz",
            "filemap-share/1 entry=1 handles=a",
            "filemap-share/1 entry=1 protection=q",
            "filemap-share/1 entry",
            "filemap-share/1 entry=1 file=1 lock=1",
            "filemap-share/2 entry=1 file=1",
            "filemap-share/2 entry=1 lock=1",
        ] {
            assert!(
                matches!(
                    Descriptor::decode(text, "k"),
                    Err(Error::SharedHandle { .. })
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("data_1").is_ok());
        for k in ["", "a-b", "a b", &"x".repeat(65)] {
            assert!(check_key(k).is_err(), "{k:?}");
        }
    }
}
