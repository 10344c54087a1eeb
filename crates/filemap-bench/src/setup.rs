//! Named shared memory set-up: create + map + unmap + close of a named 4 KiB object in one
//! process, and open + map + close of an existing one by a second process: filemap vs the
//! `shared_memory` crate vs the raw system calls (`shm_open`, `ftruncate`, `mmap`, the floor).

use std::ffi::CString;
use std::time::Instant;

use filemap::Mapping;
use filemap_harness::{partner, quick, unique};
use shared_memory::ShmemConf;

use crate::{arg, err, finish, read_line, say, Result};

pub const SIZE: usize = 4096;

/// The systems, as named in the rows and the partner's arguments.
pub const SYSTEMS: [&str; 3] = ["filemap", "shared_memory", "shm_open + mmap (raw)"];

/// The raw create with the one guarantee of filemap's that costs most: its memory
/// allocated up front (a `pwrite` of zeros sizes and allocates it, as filemap's does).
pub const ALLOCATED: &str = "reference: shm_open + pwrite of zeros (allocated) + mmap (raw)";

/// Operations timed per repetition.
fn operations() -> usize {
    if quick() {
        50
    } else {
        2000
    }
}

/// Times `op` `n` times (after a tenth as many untimed) and returns (p50, p99) in µs.
pub(crate) fn per_op(n: usize, mut op: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    for _ in 0..n / 10 {
        op()?;
    }
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        op()?;
        t.push(start.elapsed().as_nanos() as f64 / 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok((t[(n - 1) / 2], t[((n - 1) as f64 * 0.99) as usize]))
}

/// A POSIX shared memory name of this run (`/dev/shm/<name>`).
fn posix_name(what: &str) -> Result<CString> {
    CString::new(format!("/{}", unique(what))).map_err(err)
}

/// Raw: `shm_open(O_CREAT | O_EXCL)`, `ftruncate` (or, `allocated`, a `pwrite` of zeros),
/// `mmap`, `munmap`, `close`, `shm_unlink`.
fn raw_create(name: &CString, allocated: bool) -> Result<()> {
    static ZEROS: [u8; SIZE] = [0; SIZE];
    // SAFETY: a NUL-terminated name; the descriptor and the mapping are this function's own
    // and released before it returns; nothing else uses the name (unique to this run).
    unsafe {
        let fd = libc::shm_open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o600,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let ok = if allocated {
            libc::pwrite(fd, ZEROS.as_ptr().cast(), SIZE, 0) == SIZE as isize
        } else {
            libc::ftruncate(fd, SIZE as libc::off_t) == 0
        };
        let p = libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        let mapped = p != libc::MAP_FAILED;
        if mapped {
            libc::munmap(p, SIZE);
        }
        libc::close(fd);
        libc::shm_unlink(name.as_ptr());
        if !ok || !mapped {
            return Err(err("raw shm_open set-up failed"));
        }
    }
    Ok(())
}

/// Raw: `shm_open`, `fstat` (the size, as an opener must learn it), `mmap`, `munmap`, `close`.
fn raw_open(name: &CString) -> Result<()> {
    // SAFETY: as in `raw_create`; the object exists (the measuring process holds it).
    unsafe {
        let fd = libc::shm_open(name.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st);
        let len = st.st_size as usize;
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        let mapped = p != libc::MAP_FAILED;
        if mapped {
            libc::munmap(p, len);
        }
        libc::close(fd);
        if !mapped {
            return Err(err("raw mmap failed"));
        }
    }
    Ok(())
}

/// create + map + unmap + close, in this process: (p50, p99) in µs.
pub fn create(system: &str) -> Result<(f64, f64)> {
    let n = operations();
    match system {
        "filemap" => {
            let name = unique("setup");
            per_op(n, || {
                let m = Mapping::create_new(name.as_str(), SIZE as u64)?;
                let v = m.view().map()?;
                drop(v);
                drop(m);
                Ok(())
            })
        }
        "shared_memory" => {
            let id = unique("setup-shm");
            per_op(n, || {
                let shm = ShmemConf::new()
                    .size(SIZE)
                    .os_id(&id)
                    .create()
                    .map_err(err)?;
                drop(shm); // the owner unlinks it
                Ok(())
            })
        }
        _ => {
            let allocated = system == ALLOCATED;
            let name = posix_name("setup-raw")?;
            per_op(n, || raw_create(&name, allocated))
        }
    }
}

/// open + map + close by a second process, of an object this process created and holds:
/// (p50, p99) in µs.
pub fn open_by_partner(system: &str) -> Result<(f64, f64)> {
    let n = operations().to_string();
    let line = match system {
        "filemap" => {
            let name = unique("setup-open");
            let _m = Mapping::create_new(name.as_str(), SIZE as u64)?;
            run_partner(&["setup-open", system, &name, &n])?
        }
        "shared_memory" => {
            let id = unique("setup-open-shm");
            let _shm = ShmemConf::new()
                .size(SIZE)
                .os_id(&id)
                .create()
                .map_err(err)?;
            run_partner(&["setup-open", system, &id, &n])?
        }
        _ => {
            let what = "setup-open-raw";
            let name = posix_name(what)?;
            // Create it with the raw calls, and remove it at the end.
            // SAFETY: a NUL-terminated name unique to this run; the descriptor is closed here.
            let fd = unsafe {
                libc::shm_open(
                    name.as_ptr(),
                    libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                    0o600,
                )
            };
            if fd < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            // SAFETY: `fd` is the descriptor just opened.
            unsafe {
                libc::ftruncate(fd, SIZE as libc::off_t);
                libc::close(fd);
            }
            let r = run_partner(&["setup-open", system, &unique(what), &n]);
            // SAFETY: the NUL-terminated name of the object made above.
            unsafe { libc::shm_unlink(name.as_ptr()) };
            r?
        }
    };
    let mut f = line.split_whitespace().map(str::parse::<f64>);
    match (f.next(), f.next()) {
        (Some(Ok(p50)), Some(Ok(p99))) => Ok((p50, p99)),
        _ => Err(err(format!("unexpected partner output {line:?}"))),
    }
}

fn run_partner(args: &[&str]) -> Result<String> {
    let mut child = partner(args)?;
    let line = read_line(&mut child)?;
    finish(child)?;
    Ok(line)
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    (role == "setup-open").then(|| setup_open(args))
}

fn setup_open(args: &[String]) -> Result<()> {
    let (system, name) = (arg(args, 1)?, arg(args, 2)?);
    let n: usize = arg(args, 3)?.parse().map_err(err)?;
    let (p50, p99) = match system {
        "filemap" => per_op(n, || {
            let m = Mapping::open(name)?;
            let v = m.view().map()?;
            drop(v);
            drop(m);
            Ok(())
        })?,
        "shared_memory" => per_op(n, || {
            let shm = ShmemConf::new().os_id(name).open().map_err(err)?;
            drop(shm); // not the owner: it stays
            Ok(())
        })?,
        _ => {
            let name = CString::new(format!("/{name}")).map_err(err)?;
            per_op(n, || raw_open(&name))?
        }
    };
    say(format!("{p50} {p99}"))
}
