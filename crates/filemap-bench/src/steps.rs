//! Section 3's "where the time goes": the system calls filemap makes on Linux to create,
//! map, unmap and close a named 4 KiB object, and to open one another handle holds, each
//! timed on its own and named with what it buys; and the raw `shm_open` calls beside them.
//!
//! The sequences mirror `crates/filemap/src/sys/linux/entry.rs` as `strace` shows it; a
//! change there must be made here too (the totals are checked against the measured rows of
//! the section only by the reader, in the same table).

use std::ffi::CString;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use filemap::Mapping;
use filemap_harness::{quick, unique};
use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags};

use crate::{Result, err, report};

/// One step: its system call, what it buys, and its total time over the iterations.
struct Step {
    call: &'static str,
    buys: &'static str,
    total_ns: f64,
}

/// The steps of one sequence, timed.
struct Steps {
    steps: Vec<Step>,
    iterations: usize,
}

impl Steps {
    fn new(list: &[(&'static str, &'static str)]) -> Steps {
        Steps {
            steps: list
                .iter()
                .map(|&(call, buys)| Step {
                    call,
                    buys,
                    total_ns: 0.0,
                })
                .collect(),
            iterations: 0,
        }
    }

    /// Runs step `k` and adds its time.
    fn time<T>(&mut self, k: usize, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let r = f();
        self.steps[k].total_ns += start.elapsed().as_nanos() as f64;
        r
    }

    fn mean_us(&self, k: usize) -> f64 {
        self.steps[k].total_ns / self.iterations.max(1) as f64 / 1e3
    }

    fn total_us(&self) -> f64 {
        (0..self.steps.len()).map(|k| self.mean_us(k)).sum()
    }
}

fn iterations() -> usize {
    if quick() { 50 } else { 5000 }
}

fn io(e: rustix::io::Errno) -> crate::Error {
    std::io::Error::from(e).into()
}

const CREATE_STEPS: [(&str, &str); 11] = [
    (
        "`openat(dir, \".\", O_TMPFILE)`",
        "a nameless inode: no process sees the object before it is complete",
    ),
    (
        "`fstat`",
        "its mode (`fchmod` follows only if the umask took bits) and identity",
    ),
    (
        "`pwritev` of the header and zeros (8 KiB)",
        "size, every page allocated up front (never a SIGBUS for want of memory), the header",
    ),
    (
        "`flock(LOCK_SH)`",
        "the lifetime: every handle holds it; the kernel drops a dead process's",
    ),
    (
        "`linkat(AT_EMPTY_PATH)`",
        "the name, given to a complete object only, refused if taken",
    ),
    ("`mmap`", "the view"),
    ("`munmap`", "the view's end"),
    (
        "`flock(LOCK_EX \\| LOCK_NB)`",
        "whether this was the last handle anywhere",
    ),
    (
        "`fstatat`",
        "whether the name is still this object's (not one made since)",
    ),
    ("`unlinkat`", "the name goes with the last handle"),
    (
        "`close`",
        "frees the object (its allocated pages, its inode)",
    ),
];

const OPEN_STEPS: [(&str, &str); 8] = [
    (
        "`openat(O_NOFOLLOW \\| O_NONBLOCK)`",
        "no symbolic link followed, no FIFO waited on",
    ),
    (
        "`flock(LOCK_EX \\| LOCK_NB)` (fails)",
        "whether every holder died (then the name is reclaimed)",
    ),
    (
        "`flock(LOCK_SH \\| LOCK_NB)`",
        "holds the object alive (a lock held exclusively, by a handle closing, is waited \
         for only after the checks of the next step)",
    ),
    (
        "`fstat`",
        "a regular file of the right owner, still linked (not removed meanwhile), its size",
    ),
    (
        "`pread` of the header (512 B)",
        "kind, size and permissions checked (a longer header is read whole)",
    ),
    ("`mmap` + `munmap`", "the view"),
    (
        "`flock(LOCK_EX \\| LOCK_NB)` (fails)",
        "whether this was the last handle anywhere",
    ),
    ("`close`", "the handle's end"),
];

const RAW_STEPS: [(&str, &str); 6] = [
    ("`shm_open(O_CREAT \\| O_EXCL)`", ""),
    ("`ftruncate`", ""),
    ("`mmap`", ""),
    ("`munmap`", ""),
    ("`close`", ""),
    ("`shm_unlink`", ""),
];

/// Maps 4 KiB of `fd` at `offset` and unmaps them, timing each in steps `k` and `k + 1`
/// (or both in `k` when `k_unmap` is `None`).
fn map_unmap(
    s: &mut Steps,
    fd: &OwnedFd,
    offset: u64,
    k: usize,
    k_unmap: Option<usize>,
) -> Result<()> {
    use rustix::mm::{MapFlags, ProtFlags};
    let prot = ProtFlags::READ | ProtFlags::WRITE;
    // SAFETY: a fresh shared mapping of 4 KiB chosen by the kernel, unmapped right away;
    // nothing reads or writes it.
    let p = s.time(k, || unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            4096,
            prot,
            MapFlags::SHARED,
            fd,
            offset,
        )
    });
    let p = p.map_err(io)?;
    // SAFETY: the mapping just made, used by nothing.
    s.time(k_unmap.unwrap_or(k), || unsafe {
        rustix::mm::munmap(p, 4096)
    })
    .map_err(io)
}

/// Opens the directory at `path` (for system calls relative to it, as filemap's are).
pub(crate) fn open_dir(path: &std::path::Path) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io)
}

/// filemap's create sequence, step by step, in the namespace directory.
fn create_steps() -> Result<Steps> {
    let dir = open_dir(&filemap::namespace::directory())?;
    let name = format!("steps.{}", unique("create"));
    // As filemap writes it: the header's 128 bytes, then pages of zeros.
    let (header, zeros) = ([1u8; 128], [0u8; 4096]);
    let parts = [
        std::io::IoSlice::new(&header),
        std::io::IoSlice::new(&zeros),
        std::io::IoSlice::new(&zeros[..4096 - 128]),
    ];
    let mut s = Steps::new(&CREATE_STEPS);
    for _ in 0..iterations() {
        let fd = s
            .time(0, || {
                rustix::fs::openat(
                    &dir,
                    ".",
                    OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
            })
            .map_err(io)?;
        s.time(1, || rustix::fs::fstat(&fd)).map_err(io)?;
        s.time(2, || rustix::io::pwritev(&fd, &parts, 0))
            .map_err(io)?;
        s.time(3, || rustix::fs::flock(&fd, FlockOperation::LockShared))
            .map_err(io)?;
        let linked = s.time(4, || {
            match rustix::fs::linkat(&fd, "", &dir, name.as_str(), AtFlags::EMPTY_PATH) {
                Err(rustix::io::Errno::NOENT) => {
                    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
                    rustix::fs::linkat(
                        CWD,
                        &proc_path,
                        &dir,
                        name.as_str(),
                        AtFlags::SYMLINK_FOLLOW,
                    )
                }
                r => r,
            }
        });
        linked.map_err(io)?;
        map_unmap(&mut s, &fd, 4096, 5, Some(6))?;
        s.time(7, || {
            rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive)
        })
        .map_err(io)?;
        s.time(8, || {
            rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
        })
        .map_err(io)?;
        s.time(9, || {
            rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty())
        })
        .map_err(io)?;
        s.time(10, || drop(fd));
        s.iterations += 1;
    }
    Ok(s)
}

/// filemap's open sequence, step by step, of an object a filemap handle holds.
fn open_steps() -> Result<Steps> {
    let name = unique("steps-open");
    let held = Mapping::create_new(name.as_str(), 4096)?;
    let info = filemap::namespace::info(name.as_str())?;
    let path = filemap::namespace::directory().join(&info.file_name);
    let dir = open_dir(&filemap::namespace::directory())?;
    let file_name = info.file_name.clone();
    let mut header = vec![0u8; 512];
    let mut s = Steps::new(&OPEN_STEPS);
    for _ in 0..iterations() {
        let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = s
            .time(0, || {
                rustix::fs::openat(&dir, file_name.as_str(), flags, Mode::empty())
            })
            .map_err(io)?;
        if s.time(1, || {
            rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive)
        })
        .is_ok()
        {
            return Err(err(format!("{} is not held", path.display())));
        }
        s.time(2, || {
            rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared)
        })
        .map_err(io)?;
        s.time(3, || rustix::fs::fstat(&fd)).map_err(io)?;
        s.time(4, || rustix::io::pread(&fd, &mut header, 0))
            .map_err(io)?;
        map_unmap(&mut s, &fd, 4096, 5, None)?;
        let _ = s.time(6, || {
            rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive)
        });
        s.time(7, || drop(fd));
        s.iterations += 1;
    }
    drop(held);
    Ok(s)
}

/// The raw `shm_open` sequence, step by step, as the section's floor row makes it.
fn raw_steps() -> Result<Steps> {
    let name = CString::new(format!("/{}", unique("steps-raw"))).map_err(err)?;
    let mut s = Steps::new(&RAW_STEPS);
    let failed = |what: &str| err(format!("raw {what}: {}", std::io::Error::last_os_error()));
    for _ in 0..iterations() {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        // SAFETY: a NUL-terminated name unique to this run.
        let raw = s.time(0, || unsafe { libc::shm_open(name.as_ptr(), flags, 0o600) });
        if raw < 0 {
            return Err(failed("shm_open"));
        }
        // SAFETY: `raw` is the descriptor just opened, owned from here on.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        s.time(1, || rustix::fs::ftruncate(&fd, 4096)).map_err(io)?;
        map_unmap(&mut s, &fd, 0, 2, Some(3))?;
        s.time(4, || drop(fd));
        // SAFETY: the NUL-terminated name of the object made above.
        if s.time(5, || unsafe { libc::shm_unlink(name.as_ptr()) }) != 0 {
            return Err(failed("shm_unlink"));
        }
        s.iterations += 1;
    }
    Ok(s)
}

/// The table measured in this run, kept for the report.
static TABLE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Measures the steps (once per run) and keeps the table for [`table`].
pub fn measure() -> Result<()> {
    let mut kept = TABLE.lock().map_err(|_| err("steps table poisoned"))?;
    if kept.is_none() {
        *kept = Some(render()?);
    }
    Ok(())
}

/// The table [`measure`] made, if it ran.
pub fn table() -> Option<String> {
    TABLE.lock().ok()?.clone()
}

/// The section's "where the time goes" table, measured now.
fn render() -> Result<String> {
    let create = create_steps()?;
    let open = open_steps()?;
    let raw = raw_steps()?;
    let mut md = format!(
        "Where the time goes: the system calls filemap makes on Linux (as `strace` lists them), \
replayed call by call by the benchmark (a copy of the library's sequence, kept beside it by \
hand; the open sequence in this process, not a second one), each timed on its own over {} \
iterations in this run (mean), with what each buys; the raw \
`shm_open` sequence below them. They are timed otherwise than the rows above (each call \
alone, between two clock reads, as a mean, once in the run, not in turns with the other \
systems), so a sum is no measure of its row and can come out above it (the raw sequence's \
does, with no library code between its calls): the table says where the time goes, the rows \
what the whole sequence costs.\n\n\
| sequence | system call | buys | µs |\n|---|---|---|---|\n",
        create.iterations
    );
    for (what, s) in [
        ("create + map + unmap + close", &create),
        ("open + map + unmap + close", &open),
        ("raw: create + map + unmap + close", &raw),
    ] {
        for (k, step) in s.steps.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {what} | {} | {} | {} |",
                step.call,
                step.buys,
                report::number(s.mean_us(k))
            );
        }
        let _ = writeln!(
            md,
            "| {what} | **sum** | | **{}** |",
            report::number(s.total_us())
        );
    }
    md.push('\n');
    Ok(md)
}
