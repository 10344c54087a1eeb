//! Named shared memory set-up: create + map + unmap + close of a named 4 KiB object in one
//! process, and open + map + close of an existing one by a second process: filemap vs the
//! `shared_memory` crate vs the raw system calls (`shm_open`, `ftruncate`, `mmap`, the floor).

use std::ffi::CString;
use std::time::Instant;

use filemap::Mapping;
use filemap_harness::{partner, quick, unique};
use shared_memory::ShmemConf;

use crate::{Result, arg, err, finish, read_line, say};

pub const SIZE: usize = 4096;

/// The systems, as named in the rows and the partner's arguments.
pub const SYSTEMS: [&str; 3] = ["filemap", "shared_memory", "shm_open + mmap (raw)"];

/// The raw create with the one guarantee of filemap's that costs most: its memory
/// allocated up front (a `pwrite` of zeros sizes and allocates it, as filemap's does).
pub const ALLOCATED: &str = "reference: shm_open + pwrite of zeros (allocated) + mmap (raw)";

/// Operations timed per repetition.
fn operations() -> usize {
    if quick() { 50 } else { 2000 }
}

/// Timed operations per block of [`per_op_interleaved`]: short enough that the blocks of
/// every system alternate many times a second. Each block starts with one untimed
/// operation, which takes whatever a switch between systems costs (caches another
/// system's work left cold), so that no tail percentile measures the switching.
const BLOCK: usize = 50;

/// Times each of `ops` `n` times, in alternating blocks of [`BLOCK`] (after a tenth as
/// many untimed of each), so that every system is measured at the same moments of a
/// machine whose speed drifts from one second to the next; (p50, p99) in µs of each. With
/// one system, the same as timing it `n` times in a row (with an untimed operation every
/// [`BLOCK`]).
pub(crate) fn per_op_interleaved<const K: usize>(
    n: usize,
    mut ops: [&mut dyn FnMut() -> Result<()>; K],
) -> Result<[(f64, f64); K]> {
    let timings = per_op_blocks(n, &mut ops, &mut |_| Ok(()))?;
    Ok(std::array::from_fn(|k| timings[k]))
}

/// [`per_op_interleaved`] over any number of systems, with `enter(k)` called before each
/// block of system `k` (and before its untimed warm-up): whatever the system needs set
/// around it (a namespace directory of its own, say), done outside the timed operations.
pub(crate) fn per_op_blocks(
    n: usize,
    ops: &mut [&mut dyn FnMut() -> Result<()>],
    enter: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Vec<(f64, f64)>> {
    for (k, op) in ops.iter_mut().enumerate() {
        enter(k)?;
        for _ in 0..n / 10 {
            op()?;
        }
    }
    let mut times: Vec<Vec<f64>> = ops.iter().map(|_| Vec::with_capacity(n)).collect();
    while times.first().is_some_and(|t| t.len() < n) {
        for (k, (op, t)) in ops.iter_mut().zip(times.iter_mut()).enumerate() {
            enter(k)?;
            op()?;
            for _ in 0..BLOCK.min(n - t.len()) {
                let start = Instant::now();
                op()?;
                t.push(start.elapsed().as_nanos() as f64 / 1e3);
            }
        }
    }
    Ok(times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            (t[(n - 1) / 2], t[((n - 1) as f64 * 0.99) as usize])
        })
        .collect())
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

/// The systems of [`create`], in its order.
pub const CREATE_SYSTEMS: [&str; 4] = [SYSTEMS[0], SYSTEMS[1], SYSTEMS[2], ALLOCATED];

/// create + map + unmap + close, in this process, of every system in [`CREATE_SYSTEMS`]
/// (measured in alternating blocks): (p50, p99) in µs of each.
pub fn create() -> Result<[(f64, f64); 4]> {
    let name = unique("setup");
    let shm_id = unique("setup-shm");
    let raw = posix_name("setup-raw")?;
    let allocated = posix_name("setup-raw-allocated")?;
    per_op_interleaved(
        operations(),
        [
            &mut || {
                let m = Mapping::create_new(name.as_str(), SIZE as u64)?;
                let v = m.view().map()?;
                drop(v);
                drop(m);
                Ok(())
            },
            &mut || {
                let shm = ShmemConf::new()
                    .size(SIZE)
                    .os_id(&shm_id)
                    .create()
                    .map_err(err)?;
                drop(shm); // the owner unlinks it
                Ok(())
            },
            &mut || raw_create(&raw, false),
            &mut || raw_create(&allocated, true),
        ],
    )
}

/// open + map + close by a second process, of objects this process created and holds, of
/// every system in [`SYSTEMS`] (the partner measures them in alternating blocks): (p50,
/// p99) in µs of each.
pub fn open_by_partner() -> Result<[(f64, f64); 3]> {
    let name = unique("setup-open");
    let _m = Mapping::create_new(name.as_str(), SIZE as u64)?;
    let shm_id = unique("setup-open-shm");
    let _shm = ShmemConf::new()
        .size(SIZE)
        .os_id(&shm_id)
        .create()
        .map_err(err)?;
    let raw_what = "setup-open-raw";
    let raw = posix_name(raw_what)?;
    // Create it with the raw calls, and remove it at the end.
    // SAFETY: a NUL-terminated name unique to this run; the descriptor is closed here.
    let fd = unsafe {
        libc::shm_open(
            raw.as_ptr(),
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
    let n = operations().to_string();
    let line = run_partner(&["setup-open", &n, &name, &shm_id, &unique(raw_what)]);
    // SAFETY: the NUL-terminated name of the object made above.
    unsafe { libc::shm_unlink(raw.as_ptr()) };
    let line = line?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .map(str::parse::<f64>)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| err(format!("unexpected partner output {line:?}: {e}")))?;
    match numbers[..] {
        [a50, a99, b50, b99, c50, c99] => Ok([(a50, a99), (b50, b99), (c50, c99)]),
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

/// Opens the three systems' objects named in `args` (after the count), in alternating
/// blocks, and prints their (p50, p99) pairs on one line.
fn setup_open(args: &[String]) -> Result<()> {
    let n: usize = arg(args, 1)?.parse().map_err(err)?;
    let (name, shm_id) = (arg(args, 2)?, arg(args, 3)?);
    let raw = CString::new(format!("/{}", arg(args, 4)?)).map_err(err)?;
    let timings = per_op_interleaved(
        n,
        [
            &mut || {
                let m = Mapping::open(name)?;
                let v = m.view().map()?;
                drop(v);
                drop(m);
                Ok(())
            },
            &mut || {
                let shm = ShmemConf::new().os_id(shm_id).open().map_err(err)?;
                drop(shm); // not the owner: it stays
                Ok(())
            },
            &mut || raw_open(&raw),
        ],
    )?;
    let line: Vec<String> = timings
        .iter()
        .map(|(p50, p99)| format!("{p50} {p99}"))
        .collect();
    say(line.join(" "))
}
