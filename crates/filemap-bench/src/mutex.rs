//! Named mutexes: uncontended lock + unlock, and two processes handing a mutex back and
//! forth (taking turns on a counter under it): filemap vs `raw_sync`'s mutex over
//! `shared_memory` vs a raw robust pthread mutex in shared memory (the floor: what a
//! robust process-shared mutex costs without filemap's guarantees).

use std::time::Instant;

use filemap::Mapping;
use filemap::sync::{NamedMutex, SharedMutex};
use filemap_harness::{partner, quick, unique};
use raw_sync::locks::{LockImpl, LockInit, Mutex as RawSyncMutex};
use shared_memory::{Shmem, ShmemConf};

use crate::{Result, arg, err, finish, read_line, say};

/// The systems of the hand-off rows (and of the uncontended rows with a counter).
pub const SYSTEMS: [&str; 3] = [
    "filemap SharedMutex<u64>",
    "raw_sync Mutex over shared_memory",
    "raw robust pthread mutex",
];

/// A robust, process-shared pthread mutex at a fixed place in shared memory.
pub struct RawRobustMutex {
    at: *mut libc::pthread_mutex_t,
}

impl RawRobustMutex {
    /// Initialises a mutex at `at`.
    ///
    /// # Safety
    /// `at` must point to at least 64 writable, 8-aligned bytes of shared memory that
    /// outlive every use, and no process may use the mutex while it is initialised.
    pub unsafe fn init(at: *mut u8) -> RawRobustMutex {
        // SAFETY: the caller's contract.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
            libc::pthread_mutex_init(at.cast(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
        }
        RawRobustMutex { at: at.cast() }
    }

    /// Uses a mutex another process initialised at `at`.
    ///
    /// # Safety
    /// As for [`RawRobustMutex::init`], and the mutex there must be initialised.
    pub unsafe fn attach(at: *mut u8) -> RawRobustMutex {
        RawRobustMutex { at: at.cast() }
    }

    pub fn lock(&self) {
        // SAFETY: initialised (constructor contracts); EOWNERDEAD is made consistent.
        unsafe {
            if libc::pthread_mutex_lock(self.at) == libc::EOWNERDEAD {
                libc::pthread_mutex_consistent(self.at);
            }
        }
    }

    pub fn unlock(&self) {
        // SAFETY: called after `lock` by the same thread.
        unsafe { libc::pthread_mutex_unlock(self.at) };
    }
}

/// A counter in shared memory under a mutex.
trait Guarded {
    fn with(&self, f: &mut dyn FnMut(&mut u64)) -> Result<()>;
}

struct Filemap(SharedMutex<u64>);

impl Guarded for Filemap {
    fn with(&self, f: &mut dyn FnMut(&mut u64)) -> Result<()> {
        let mut g = self.0.lock()?;
        f(&mut g);
        Ok(())
    }
}

/// filemap's `NamedMutex` over a counter at offset 64 of a view of a mapping of its own
/// (as the raw mutex's counter is at offset 64 of its view): the same work as the other
/// rows, through the same call.
struct Named {
    mutex: NamedMutex,
    view: filemap::View,
    _mapping: Mapping,
}

impl Guarded for Named {
    fn with(&self, f: &mut dyn FnMut(&mut u64)) -> Result<()> {
        let guard = self.mutex.lock()?;
        // SAFETY: offset 64 of the 4 KiB view is 8-aligned, and the counter is touched
        // only while holding the mutex (by this one thread).
        f(unsafe { &mut *self.view.as_mut_ptr().add(64).cast::<u64>() });
        drop(guard);
        Ok(())
    }
}

/// The raw mutex at offset 0 of a view, the counter at offset 64.
struct Raw {
    mutex: RawRobustMutex,
    view: filemap::View,
    _mapping: Mapping,
}

impl Raw {
    fn create(name: Option<&str>) -> Result<Raw> {
        let mapping = match name {
            Some(n) => Mapping::create_new(n, 4096)?,
            None => Mapping::unnamed(4096)?,
        };
        let view = mapping.view().map()?;
        // SAFETY: fresh, page-aligned shared memory that `Raw` keeps mapped for the mutex's
        // uses; the partner attaches only after this.
        let mutex = unsafe { RawRobustMutex::init(view.as_mut_ptr()) };
        Ok(Raw {
            mutex,
            view,
            _mapping: mapping,
        })
    }

    fn open(name: &str) -> Result<Raw> {
        let mapping = Mapping::open(name)?;
        let view = mapping.view().map()?;
        // SAFETY: the measuring process initialised the mutex at offset 0 before starting
        // this one, and `Raw` keeps the view mapped.
        let mutex = unsafe { RawRobustMutex::attach(view.as_mut_ptr()) };
        Ok(Raw {
            mutex,
            view,
            _mapping: mapping,
        })
    }
}

impl Guarded for Raw {
    fn with(&self, f: &mut dyn FnMut(&mut u64)) -> Result<()> {
        self.mutex.lock();
        // SAFETY: offset 64 of the 4 KiB view is 8-aligned, and every process touches the
        // counter only while holding the mutex.
        f(unsafe { &mut *self.view.as_mut_ptr().add(64).cast::<u64>() });
        self.mutex.unlock();
        Ok(())
    }
}

/// raw_sync's mutex at the start of a `shared_memory` segment, the counter at offset 64.
struct RawSync {
    mutex: Box<dyn LockImpl>,
    _shm: Shmem,
}

impl RawSync {
    fn new(shm: Shmem, create: bool) -> Result<RawSync> {
        let base = shm.as_ptr();
        if RawSyncMutex::size_of(Some(base)) > 64 {
            return Err(err("raw_sync's mutex needs more than 64 bytes"));
        }
        // SAFETY: the segment is 4 KiB, stays mapped as long as the mutex (both in `RawSync`),
        // and its data pointer (offset 64) is 8-aligned; an opener attaches only after the
        // creator initialised the mutex.
        let (mutex, _) = unsafe {
            if create {
                RawSyncMutex::new(base, base.add(64))
            } else {
                RawSyncMutex::from_existing(base, base.add(64))
            }
        }
        .map_err(err)?;
        Ok(RawSync { mutex, _shm: shm })
    }
}

impl Guarded for RawSync {
    fn with(&self, f: &mut dyn FnMut(&mut u64)) -> Result<()> {
        let guard = self.mutex.lock().map_err(err)?;
        // SAFETY: the data pointer is the 8-aligned counter, touched only under the mutex.
        f(unsafe { &mut *(*guard).cast::<u64>() });
        Ok(())
    }
}

fn create(system: &str, name: &str) -> Result<Box<dyn Guarded>> {
    Ok(match system {
        "filemap SharedMutex<u64>" => Box::new(Filemap(SharedMutex::create_new(name, 0)?)),
        "raw_sync Mutex over shared_memory" => {
            let shm = ShmemConf::new()
                .size(4096)
                .os_id(name)
                .create()
                .map_err(err)?;
            Box::new(RawSync::new(shm, true)?)
        }
        _ => Box::new(Raw::create(Some(name))?),
    })
}

fn open(system: &str, name: &str) -> Result<Box<dyn Guarded>> {
    Ok(match system {
        "filemap SharedMutex<u64>" => Box::new(Filemap(SharedMutex::open(name)?)),
        "raw_sync Mutex over shared_memory" => {
            let shm = ShmemConf::new().os_id(name).open().map_err(err)?;
            Box::new(RawSync::new(shm, false)?)
        }
        _ => Box::new(Raw::open(name)?),
    })
}

fn uncontended_iterations() -> u64 {
    if quick() { 20_000 } else { 2_000_000 }
}

fn turns() -> u64 {
    if quick() { 2_000 } else { 200_000 }
}

/// Uncontended lock + (counter + 1) + unlock, one thread, for each of `systems`: ns per
/// iteration each. The systems take turns in blocks (of a twentieth of the iterations), so
/// that all are measured at the same moments of a machine whose speed drifts.
pub fn uncontended(systems: &[&str]) -> Result<Vec<f64>> {
    const BLOCKS: u64 = 20;
    let per_block = uncontended_iterations() / BLOCKS;
    let subjects = systems
        .iter()
        .enumerate()
        .map(|(i, system)| {
            let name = unique(&format!("mutex-alone-{i}"));
            Ok(if *system == "filemap NamedMutex" {
                let mapping = Mapping::unnamed(4096)?;
                Box::new(Named {
                    mutex: NamedMutex::create_new(name.as_str())?,
                    view: mapping.view().map()?,
                    _mapping: mapping,
                }) as Box<dyn Guarded>
            } else {
                create(system, &name)?
            })
        })
        .collect::<Result<Vec<Box<dyn Guarded>>>>()?;
    let mut elapsed = vec![std::time::Duration::ZERO; subjects.len()];
    for _ in 0..BLOCKS {
        for (subject, total) in subjects.iter().zip(&mut elapsed) {
            let start = Instant::now();
            for _ in 0..per_block {
                subject.with(&mut |c| *c += 1)?;
            }
            *total += start.elapsed();
        }
    }
    Ok(elapsed
        .iter()
        .map(|t| t.as_nanos() as f64 / (per_block * BLOCKS) as f64)
        .collect())
}

/// Two processes taking turns on the counter (each turn is a hand-off of the mutex): ns
/// per turn.
pub fn handoff(system: &str) -> Result<f64> {
    let name = unique("mutex-turns");
    let g = create(system, &name)?;
    let mut child = partner(&["mutex-turns", system, &name])?;
    read_line(&mut child)?;
    let n = turns();
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        g.with(&mut |c| {
            if *c % 2 == 0 {
                *c += 1;
                done += 1;
            }
        })?;
    }
    let elapsed = start.elapsed();
    // Wait for the partner's last turn, then stop it.
    let mut stopped = false;
    while !stopped {
        g.with(&mut |c| {
            if *c % 2 == 0 {
                *c = u64::MAX;
                stopped = true;
            }
        })?;
    }
    finish(child)?;
    Ok(elapsed.as_nanos() as f64 / (2 * n) as f64)
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    (role == "mutex-turns").then(|| mutex_turns(args))
}

fn mutex_turns(args: &[String]) -> Result<()> {
    let g = open(arg(args, 1)?, arg(args, 2)?)?;
    say("ready")?;
    let mut stop = false;
    while !stop {
        g.with(&mut |c| {
            if *c == u64::MAX {
                stop = true;
            } else if *c % 2 == 1 {
                *c += 1;
            }
        })?;
    }
    Ok(())
}
