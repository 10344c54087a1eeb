//! How costs grow (section 11): create, open and close with 1, 1,000 and 100,000 objects
//! in the namespace; listing (`filemap ls`) and garbage collection (`filemap gc`) per
//! entry at those counts; 2 to 64 processes opening and closing one object at once; the
//! section's table, note and log-log charts.

use std::ffi::CString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use filemap::Mapping;
use filemap_harness::{cores, partner, quick, unique};

use crate::report::{self, Chart, Kind, NS, Results, Row, Sample, US};
use crate::setup::per_op_blocks;
use crate::{Result, arg, err, finish, read_line, say};

pub const SECTION: usize = 11;
pub const TITLE: &str = "Scale: a full namespace, many processes";

pub const CREATE: &str = "create + map + unmap + close, with N objects in the namespace";
pub const OPEN: &str = "open + map + unmap + close, with N objects in the namespace";
pub const LIST: &str = "list (`filemap ls`), per entry, N entries";
pub const COLLECT: &str = "collect stale entries (`filemap gc`), per entry, N stale entries";
pub const TOGETHER: &str = "open + map + unmap + close by N processes at once, per operation";

const FILEMAP: &str = "filemap";
const RAW_CREATE: &str = "raw: openat + ftruncate + mmap + munmap + close + unlinkat";
const RAW_OPEN: &str = "raw: openat + fstat + mmap + munmap + close";
const RAW_LIST: &str = "raw: readdir + fstatat";

/// The numbers of objects in the namespace.
fn counts() -> Vec<u64> {
    if quick() {
        vec![1, 10, 100]
    } else {
        vec![1, 1000, 100_000]
    }
}

/// The numbers of processes opening one object at once.
fn process_counts() -> Vec<usize> {
    if quick() {
        vec![2, 4]
    } else {
        vec![2, 4, 8, 16, 32, 64]
    }
}

/// Timed operations per row and repetition (each process's, in the processes rows).
fn operations() -> usize {
    if quick() { 20 } else { 1000 }
}

/// A namespace directory of the section's own, made `FILEMAP_DIR` until dropped (then the
/// previous one is restored and this one removed with all it holds).
struct ScaleDir {
    path: PathBuf,
    previous: Option<std::ffi::OsString>,
}

impl ScaleDir {
    fn new(what: &str) -> Result<ScaleDir> {
        let base = std::env::var_os("FILEMAP_DIR")
            .map(PathBuf::from)
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(std::env::temp_dir);
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = base.join(format!("{}-{k}", unique(what)));
        std::fs::create_dir_all(&path)?;
        let previous = std::env::var_os("FILEMAP_DIR");
        filemap_harness::process::set_env("FILEMAP_DIR", &path);
        Ok(ScaleDir { path, previous })
    }
}

impl Drop for ScaleDir {
    fn drop(&mut self) {
        match &self.previous {
            Some(p) => filemap_harness::process::set_env("FILEMAP_DIR", p),
            None => filemap_harness::process::remove_env("FILEMAP_DIR"),
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A namespace directory filled with `count` objects: one held open by this process (the
/// open rows open it), the others persistent (they stay with no handle open, and use no
/// descriptor). Made inside the section's [`ScaleDir`], which removes it.
struct Filled {
    count: u64,
    dir: PathBuf,
    /// The held object's name, and its entry's file name (for the raw open row).
    held: String,
    held_file: String,
    _handle: Mapping,
}

impl Filled {
    fn new(inside: &Path, count: u64) -> Result<Filled> {
        let dir = inside.join(format!("n{count}"));
        std::fs::create_dir_all(&dir)?;
        filemap_harness::process::set_env("FILEMAP_DIR", &dir);
        let held = unique("scale-held");
        let handle = Mapping::create_new(held.as_str(), 4096)?;
        for made in 1..count {
            let name = format!("{}-{made}", unique("scale-bg"));
            drop(
                Mapping::options()
                    .size(1)
                    .persistent(true)
                    .create_new(name.as_str())?,
            );
        }
        let entry = entry_path(&held)?;
        let held_file = Path::new(&entry)
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or_else(|| err("an entry without a file name"))?
            .to_string();
        Ok(Filled {
            count,
            dir,
            held,
            held_file,
            _handle: handle,
        })
    }

    /// Points `FILEMAP_DIR` at this namespace.
    fn enter(&self) {
        filemap_harness::process::set_env("FILEMAP_DIR", &self.dir);
    }
}

/// The section's rows: every measurement `reps` times.
pub fn section(r: &mut Results, reps: usize) -> Result<()> {
    let scratch = ScaleDir::new("scale")?;
    let mut spaces = Vec::new();
    for count in counts() {
        crate::progress(format!("scale: {count} objects in the namespace"));
        spaces.push(Filled::new(&scratch.path, count)?);
    }
    for rep in 0..reps {
        crate::progress(format!(
            "scale: create and open at every N together, repetition {}",
            rep + 1
        ));
        create_and_open(r, &spaces)?;
        for space in &spaces {
            space.enter();
            list(r, space)?;
        }
    }
    drop(spaces);
    drop(scratch);
    for count in counts() {
        crate::progress(format!("scale: collecting {count} stale entries"));
        for _ in 0..reps {
            let ns = collect_per_entry(count)?;
            r.add(
                SECTION,
                COLLECT,
                count,
                FILEMAP,
                Kind::Filemap,
                NS,
                Sample::value(ns),
            );
        }
    }
    let _fresh = ScaleDir::new("scale-together")?;
    let together = unique("scale-together");
    let _object = Mapping::create_new(together.as_str(), 4096)?;
    let file = entry_path(&together)?;
    for processes in process_counts() {
        crate::progress(format!("scale: {processes} processes at once"));
        for _ in 0..reps {
            for (system, kind, target) in [
                (FILEMAP, Kind::Filemap, together.as_str()),
                (RAW_OPEN, Kind::Floor, file.as_str()),
            ] {
                let us = at_once(system, target, processes)?;
                r.add(
                    SECTION,
                    TOGETHER,
                    processes as u64,
                    system,
                    kind,
                    US,
                    Sample::value(us),
                );
            }
        }
    }
    Ok(())
}

/// The path of the entry of `name` (for the raw rows, which open the same file).
fn entry_path(name: &str) -> Result<String> {
    let info = filemap::namespace::info(name)?;
    let file = filemap::namespace::directory().join(info.file_name);
    file.to_str()
        .map(str::to_string)
        .ok_or_else(|| err("a namespace path that is not UTF-8"))
}

/// One repetition of the create rows, then of the open rows, of every namespace in
/// `spaces`, filemap's and the raw calls', each timed in alternating blocks with the
/// others (so that every N is measured at the same moments of a machine whose speed
/// drifts: the rows at different N used to be measured seconds apart).
fn create_and_open(r: &mut Results, spaces: &[Filled]) -> Result<()> {
    let raws = spaces
        .iter()
        .map(|s| Raw::new(&s.dir))
        .collect::<Result<Vec<_>>>()?;
    let made = unique("scale-made");
    let mut creates: Vec<Box<dyn FnMut() -> Result<()> + '_>> = Vec::new();
    let mut opens: Vec<Box<dyn FnMut() -> Result<()> + '_>> = Vec::new();
    for (space, raw) in spaces.iter().zip(&raws) {
        let made = made.as_str();
        creates.push(Box::new(move || {
            let m = Mapping::create_new(made, 4096)?;
            drop(m.view().map()?);
            Ok(())
        }));
        creates.push(Box::new(move || raw.create("scale-raw-made")));
        opens.push(Box::new(move || {
            let m = Mapping::open(space.held.as_str())?;
            drop(m.view().map()?);
            Ok(())
        }));
        opens.push(Box::new(move || raw.open(&space.held_file)));
    }
    for (scenario, ops) in [(CREATE, &mut creates), (OPEN, &mut opens)] {
        let mut ops: Vec<&mut dyn FnMut() -> Result<()>> =
            ops.iter_mut().map(|op| &mut **op as _).collect();
        // Two systems per namespace, in `spaces`' order.
        let timings = per_op_blocks(operations() * 2, &mut ops, &mut |k| {
            spaces[k / 2].enter();
            Ok(())
        })?;
        for (k, (p50, p99)) in timings.into_iter().enumerate() {
            let (system, kind) = if k % 2 == 0 {
                (FILEMAP, Kind::Filemap)
            } else {
                (
                    if scenario == CREATE {
                        RAW_CREATE
                    } else {
                        RAW_OPEN
                    },
                    Kind::Floor,
                )
            };
            let sample = Sample {
                p50,
                p99: Some(p99),
            };
            r.add(
                SECTION,
                scenario,
                spaces[k / 2].count,
                system,
                kind,
                US,
                sample,
            );
        }
    }
    Ok(())
}

/// One repetition of the list rows of `space` (the current namespace).
fn list(r: &mut Results, space: &Filled) -> Result<()> {
    let count = space.count;
    // Untimed first: the first read of `/proc/locks` after the create and open rows' many
    // `flock`s waited several milliseconds in the kernel, which the row then measured.
    filemap::namespace::list()?;
    let start = Instant::now();
    let listed = filemap::namespace::list()?.len() as u64;
    let ns = start.elapsed().as_nanos() as f64 / listed.max(1) as f64;
    if listed != count {
        return Err(err(format!("listed {listed} entries, not {count}")));
    }
    r.add(
        SECTION,
        LIST,
        count,
        FILEMAP,
        Kind::Filemap,
        NS,
        Sample::value(ns),
    );
    let raw = Raw::new(&space.dir)?;
    let start = Instant::now();
    let seen = raw.list()?;
    let ns = start.elapsed().as_nanos() as f64 / seen.max(1) as f64;
    r.add(
        SECTION,
        LIST,
        count,
        RAW_LIST,
        Kind::Floor,
        NS,
        Sample::value(ns),
    );
    Ok(())
}

/// `count` stale entries, left by a process that made them and exited without closing
/// them, collected: nanoseconds per entry.
fn collect_per_entry(count: u64) -> Result<f64> {
    let _dir = ScaleDir::new("scale-stale")?;
    // Each stale entry is a descriptor its maker keeps open until it exits: as many makers
    // as the limit on open descriptors calls for.
    let per_maker = descriptor_limit().saturating_sub(100).max(1);
    let mut made = 0;
    while made < count {
        let n = per_maker.min(count - made);
        let base = format!("{}-{made}", unique("stale"));
        let mut child = partner(&["scale-stale", &base, &n.to_string()])?;
        let line = read_line(&mut child)?;
        finish(child)?;
        if line != "made" {
            return Err(err(format!("unexpected partner output {line:?}")));
        }
        made += n;
    }
    let start = Instant::now();
    let collected = filemap::namespace::collect_garbage(false)?;
    let ns = start.elapsed().as_nanos() as f64 / count as f64;
    let removed = collected.iter().filter(|c| c.removed).count() as u64;
    if removed != count {
        return Err(err(format!(
            "gc removed {removed} stale entries of {count}"
        )));
    }
    Ok(ns)
}

/// `processes` processes, spread over the cores, each opening, mapping and closing
/// `target` (a name, or the entry's path for the raw row) `operations()` times, started
/// together: the wall time per operation of all of them, in µs.
fn at_once(system: &str, target: &str, processes: usize) -> Result<f64> {
    let n = operations();
    let mut children = Vec::with_capacity(processes);
    for k in 0..processes {
        let cpu = (k % cores()).to_string();
        children.push(partner(&[
            "scale-open",
            system,
            target,
            &n.to_string(),
            &cpu,
        ])?);
    }
    for child in &mut children {
        let line = read_line(child)?;
        if line != "ready" {
            return Err(err(format!("unexpected partner output {line:?}")));
        }
    }
    let start = Instant::now();
    for child in &mut children {
        let stdin = child
            .stdin
            .as_mut()
            .ok_or_else(|| err("no partner input"))?;
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
    }
    for child in &mut children {
        let line = read_line(child)?;
        if line != "done" {
            return Err(err(format!("unexpected partner output {line:?}")));
        }
    }
    let elapsed = start.elapsed();
    for child in children {
        finish(child)?;
    }
    Ok(elapsed.as_nanos() as f64 / 1e3 / (processes * n) as f64)
}

/// The raw system calls, relative to the namespace directory (as filemap's are).
struct Raw {
    dir: std::os::fd::OwnedFd,
    path: PathBuf,
}

impl Raw {
    fn new(dir: &Path) -> Result<Raw> {
        Ok(Raw {
            dir: crate::steps::open_dir(dir)?,
            path: dir.to_path_buf(),
        })
    }

    fn create(&self, name: &str) -> Result<()> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(
            &self.dir,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(std::io::Error::from)?;
        rustix::fs::ftruncate(&fd, 4096).map_err(std::io::Error::from)?;
        map_and_unmap(&fd, true)?;
        drop(fd);
        rustix::fs::unlinkat(&self.dir, name, rustix::fs::AtFlags::empty())
            .map_err(std::io::Error::from)?;
        Ok(())
    }

    fn open(&self, file_name: &str) -> Result<()> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(
            &self.dir,
            file_name,
            OFlags::RDWR | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)?;
        rustix::fs::fstat(&fd).map_err(std::io::Error::from)?;
        map_and_unmap(&fd, true)
    }

    /// Reads the directory and `fstatat`s every entry; how many it saw.
    fn list(&self) -> Result<u64> {
        let mut seen = 0;
        for item in std::fs::read_dir(&self.path)? {
            let name = item?.file_name();
            rustix::fs::statat(
                &self.dir,
                name.as_os_str(),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(std::io::Error::from)?;
            seen += 1;
        }
        Ok(seen)
    }
}

/// Maps the first 4 KiB of `fd` and unmaps them.
fn map_and_unmap(fd: &std::os::fd::OwnedFd, writable: bool) -> Result<()> {
    use rustix::mm::{MapFlags, ProtFlags};
    let prot = if writable {
        ProtFlags::READ | ProtFlags::WRITE
    } else {
        ProtFlags::READ
    };
    // SAFETY: a fresh shared mapping of 4 KiB chosen by the kernel, unmapped right away;
    // nothing reads or writes it.
    unsafe {
        let p = rustix::mm::mmap(std::ptr::null_mut(), 4096, prot, MapFlags::SHARED, fd, 0)
            .map_err(std::io::Error::from)?;
        rustix::mm::munmap(p, 4096).map_err(std::io::Error::from)?;
    }
    Ok(())
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    match role {
        "scale-stale" => Some(make_stale(args)),
        "scale-open" => Some(open_repeatedly(args)),
        _ => None,
    }
}

/// How many descriptors a process may open: the hard limit, which a process may raise its
/// soft limit to (and a stale-entry maker does).
fn descriptor_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(1 << 20)
}

/// Makes `count` objects and exits without closing them: they are left stale, as by a
/// crash.
fn make_stale(args: &[String]) -> Result<()> {
    let (base, count) = (arg(args, 1)?, arg(args, 2)?.parse::<u64>().map_err(err)?);
    let limit = descriptor_limit();
    let raised = rustix::process::Rlimit {
        current: Some(limit),
        maximum: Some(limit),
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, raised)
        .map_err(std::io::Error::from)?;
    let mut kept = Vec::new();
    for k in 0..count {
        kept.push(Mapping::create_new(format!("{base}-{k}").as_str(), 1)?);
    }
    say("made")?;
    std::mem::forget(kept);
    std::process::exit(0);
}

/// On "go" from the measuring process, opens, maps and closes the target `n` times.
fn open_repeatedly(args: &[String]) -> Result<()> {
    let (system, target) = (arg(args, 1)?, arg(args, 2)?);
    let n: usize = arg(args, 3)?.parse().map_err(err)?;
    let cpu: usize = arg(args, 4)?.parse().map_err(err)?;
    filemap_harness::pin_to(cpu);
    let raw_path = CString::new(target).map_err(err)?;
    say("ready")?;
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;
    for _ in 0..n {
        if system == FILEMAP {
            let m = Mapping::open(target)?;
            drop(m.view().map()?);
        } else {
            let fd = rustix::fs::open(
                raw_path.as_c_str(),
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(std::io::Error::from)?;
            rustix::fs::fstat(&fd).map_err(std::io::Error::from)?;
            // (Read-write, as filemap's open and view are.)
            map_and_unmap(&fd, true)?;
        }
    }
    say("done")
}

/// The row a row is compared with to tell whether its cost stays flat: the same system's
/// in the same scenario at the smallest N, or for the per-entry rows (listing and
/// collecting, whose fixed costs dominate with one entry) at the second smallest.
fn base<'a>(r: &'a Results, row: &Row) -> Option<&'a Row> {
    let mut same: Vec<&Row> = r
        .rows
        .iter()
        .filter(|o| o.scenario == row.scenario && o.system == row.system)
        .collect();
    same.sort_by_key(|o| o.size);
    let per_entry = row.scenario == LIST || row.scenario == COLLECT;
    same.get(usize::from(per_entry) % same.len().max(1))
        .copied()
}

/// The section's table: its rows with their cost against the base row (`base`), which
/// is what says whether a cost stays flat.
pub fn table(r: &Results) -> String {
    let runs = (r.rows.iter())
        .filter(|x| x.section == SECTION)
        .map(|x| x.samples.len())
        .max()
        .unwrap_or(0);
    let mut t = format!(
        "| scenario | N | system | median of {runs} runs | spread (min – max) | × floor | × at \
         the base N |\n|---|---|---|---|---|---|---|\n",
    );
    for row in r.rows.iter().filter(|x| x.section == SECTION) {
        let bold = if row.kind == Kind::Filemap { "**" } else { "" };
        let flat = base(r, row)
            .filter(|b| b.size < row.size)
            .map(|b| row.p50 / b.p50);
        let _ = writeln!(
            t,
            "| {} | {} | {bold}{}{bold} | {} {} | {} – {} | {} | {} |",
            row.scenario,
            row.size,
            row.system,
            report::number(row.p50),
            row.unit.name,
            report::number(row.min),
            report::number(row.max),
            report::ratio_text(row.ratio_to_floor),
            report::ratio_text(flat),
        );
    }
    t
}

/// What the run says against the targets: filemap's rows at the largest N against the
/// base N (`base`).
pub fn note(r: &Results) -> String {
    let growth = |scenario: &str| {
        let hi = r
            .rows
            .iter()
            .filter(|x| x.scenario == scenario && x.system == FILEMAP)
            .max_by_key(|x| x.size)?;
        let lo = base(r, hi).filter(|b| b.size < hi.size)?;
        Some((lo.size, hi.size, hi.p50 / lo.p50))
    };
    let mut md = String::new();
    for (scenario, what) in [
        (CREATE, "create + map + unmap + close"),
        (OPEN, "open + map + unmap + close"),
        (LIST, "listing, per entry"),
        (COLLECT, "collecting, per entry"),
        (
            TOGETHER,
            "open + map + unmap + close, per operation of all processes",
        ),
    ] {
        if let Some((lo, hi, ratio)) = growth(scenario) {
            let unit = if scenario == TOGETHER {
                "processes"
            } else {
                "entries"
            };
            let _ = writeln!(
                md,
                "- filemap {what}: {}× at N = {hi} {unit} what it costs at N = {lo}.",
                report::number(ratio)
            );
        }
    }
    md
}

/// The section's charts: costs against the namespace's size, and against processes.
pub fn charts(r: &Results, docs: &Path) -> Result<()> {
    let points = |scenarios: &[&str], per: &dyn Fn(&Row) -> String| {
        r.rows
            .iter()
            .filter(|x| scenarios.contains(&x.scenario))
            .map(|x| {
                let ns = if x.unit.name == US.name {
                    x.p50 * 1e3
                } else {
                    x.p50
                };
                (per(x), x.size as f64, ns)
            })
            .collect::<Vec<_>>()
    };
    let label = |x: &Row| {
        let what = match x.scenario {
            CREATE => "create",
            OPEN => "open",
            LIST => "list, per entry",
            COLLECT => "gc, per entry",
            _ => "open, per operation",
        };
        if x.system == FILEMAP {
            format!("filemap {what}")
        } else {
            format!("raw {what}")
        }
    };
    report::log_log_chart(
        &Chart {
            caption: "Cost against objects in the namespace (median, log-log)",
            x_desc: "objects (entries) in the namespace",
            y_desc: "time per operation or entry",
            x_in_bytes: false,
            points: points(&[CREATE, OPEN, LIST, COLLECT], &label),
        },
        &docs.join(NAMESPACE_CHART),
    )?;
    report::log_log_chart(
        &Chart {
            caption: "Open + map + close by many processes at once (log-log)",
            x_desc: "processes",
            y_desc: "wall time per operation",
            x_in_bytes: false,
            points: points(&[TOGETHER], &label),
        },
        &docs.join(PROCESSES_CHART),
    )
}

pub const NAMESPACE_CHART: &str = "benchmarks-scale.svg";
pub const PROCESSES_CHART: &str = "benchmarks-processes.svg";

/// The section's introduction.
pub fn intro() -> String {
    format!(
        "How filemap's costs grow with the namespace and with the processes using it. Each N \
has a namespace of its own, a directory on tmpfs holding N objects: a 4 KiB mapping this \
process holds open (the open rows open it) and N − 1 one-byte objects made persistent, so \
that they stay with no handle open. All the namespaces exist together, and the create and open \
rows of every N are timed in alternating blocks of 50 operations, {} of each per repetition \
after a tenth as many untimed ones (as in section 3), so that every N is measured at the same \
moments of a machine whose speed drifts. The floor rows \
do on plain files in the same directory what a program without filemap does: create \
(`openat` with `O_CREAT | O_EXCL`, `ftruncate`), open (`openat`, `fstat`), map and unmap \
read-write, close, and remove (`unlinkat`): none of filemap's lifetime locks, allocation up \
front, or header. Garbage collection removes N \
stale entries that a process made and exited without closing (as a crash leaves them), in a \
directory of their own. In the processes rows, N processes spread over the cores each open, \
map and close one object {} times, all started at once; the row is the wall time divided by \
all the operations (with two cores, at best half a single operation's time). The last column \
compares each row with the same system's at the smallest N (the per-entry rows: at the second \
smallest, as their fixed costs dominate with one entry): 1.00× is flat. Listing reads \
`/proc/locks` once for the holders; each timed listing follows an untimed one, so that what \
the steps before it left to the kernel (its locks' bookkeeping after much `flock` use) is \
paid there, not in the row.\n\n\
![Cost against objects in the namespace, log-log]({NAMESPACE_CHART})\n\n\
![Open and close by many processes at once, log-log]({PROCESSES_CHART})\n",
        operations() * 2,
        operations()
    )
}
