//! Interop with what users already run, across real processes: a Python program (with
//! multiprocessing.shared_memory and numpy) reading a filemap object's data and answering,
//! Python-made and C-made POSIX segments opened as foreign segments, and filemap-made raw
//! segments opened by them. Linux (the peers use POSIX shared memory in /dev/shm).

#[path = "../common/mod.rs"]
mod common;

#[cfg(target_os = "linux")]
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
#[cfg(target_os = "linux")]
use std::process::{Command, Stdio};

use common::run_tests;
#[cfg(target_os = "linux")]
use filemap::Access;
use filemap::Mapping;

fn main() {
    #[cfg(target_os = "linux")]
    run_tests(&[
        (
            "python_numpy_reads_a_filemap_object",
            python_numpy_reads_a_filemap_object,
        ),
        (
            "python_segment_opened_as_foreign",
            python_segment_opened_as_foreign,
        ),
        (
            "filemap_segment_opened_by_python",
            filemap_segment_opened_by_python,
        ),
        ("c_program_and_filemap", c_program_and_filemap),
    ]);
    #[cfg(not(target_os = "linux"))]
    run_tests(&[(
        "foreign_section_made_by_win32",
        foreign_section_made_by_win32,
    )]);
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn unique(what: &str) -> String {
    format!("filemap-interop-{}-{what}", std::process::id())
}

/// Removes a raw segment this test made when the test ends, passed or failed (raw
/// segments live until removed).
#[cfg(target_os = "linux")]
struct RemovedAtEnd(String);

#[cfg(target_os = "linux")]
impl Drop for RemovedAtEnd {
    fn drop(&mut self) {
        let _ = Mapping::remove_foreign(&self.0);
    }
}

/// The segment name of a Local filemap object in /dev/shm (see the header docs).
#[cfg(target_os = "linux")]
fn segment_of(name: &str) -> String {
    format!("filemap.u{}.{name}", rustix::process::geteuid().as_raw())
}

#[cfg(target_os = "linux")]
fn python() -> Command {
    let ok = Command::new("python3")
        .args(["-c", "import numpy"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 with numpy is needed (scripts/test installs numpy with pip when missing)"
    );
    Command::new("python3")
}

#[cfg(target_os = "linux")]
fn python_numpy_reads_a_filemap_object() {
    // Python finds POSIX segments in /dev/shm: the object must live there.
    common::set_env("FILEMAP_DIR", "/dev/shm");
    let name = unique("numpy");
    let count = 1000usize;
    let m = Mapping::create_new(name.as_str(), (2 * count * 8) as u64).unwrap();
    let v = m.view().map().unwrap();
    let values: Vec<u8> = (0..count)
        .flat_map(|i| (i as f64 * 0.5).to_le_bytes())
        .collect();
    v.write_at(0, &values).unwrap();
    let out = python()
        .arg(here().join("filemap_numpy.py"))
        .args([segment_of(&name), count.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sum: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(sum, (0..count).map(|i| i as f64 * 0.5).sum::<f64>());
    let answer = v.read_vec(count * 8, count * 8).unwrap();
    for (i, chunk) in answer.chunks(8).enumerate() {
        assert_eq!(f64::from_le_bytes(chunk.try_into().unwrap()), i as f64);
    }
    drop((v, m));
    assert!(
        !Path::new("/dev/shm").join(segment_of(&name)).exists(),
        "left behind"
    );
}

#[cfg(target_os = "linux")]
fn python_segment_opened_as_foreign() {
    let name = unique("psm");
    let mut py = python()
        .arg(here().join("python_segment.py"))
        .arg(&name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(py.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    {
        let m = Mapping::open_foreign(&name).unwrap();
        assert_eq!(m.len(), 4096, "the segment's true size");
        let v = m.view().map().unwrap();
        assert_eq!(v.read_vec(0, 11).unwrap(), b"from python");
        v.write_at(100, b"from rust").unwrap();
        let ro = Mapping::open_foreign_with(&name, Access::Read).unwrap();
        assert!(ro.view().access(Access::Write).map().is_err());
    } // dropping them leaves the segment to its owner
    assert!(Path::new("/dev/shm").join(&name).exists());
    writeln!(py.stdin.take().unwrap()).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "ok");
    assert!(py.wait().unwrap().success());
    assert!(matches!(
        Mapping::open_foreign(&name),
        Err(filemap::Error::NotFound { .. })
    ));
}

#[cfg(target_os = "linux")]
fn filemap_segment_opened_by_python() {
    let name = unique("raw");
    let m = Mapping::create_foreign(&name, 4096).unwrap();
    let _removed = RemovedAtEnd(name.clone());
    m.view()
        .map()
        .unwrap()
        .write_at(0, b"made by filemap")
        .unwrap();
    drop(m);
    // Still there: foreign segments live until removed.
    let script = format!(
        "from multiprocessing import shared_memory, resource_tracker\n\
         s = shared_memory.SharedMemory(name={name:?})\n\
         resource_tracker.unregister(s._name, 'shared_memory')\n\
         print(bytes(s.buf[:15]).decode()); s.close()"
    );
    let out = python().args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "made by filemap"
    );
    assert!(matches!(
        Mapping::create_foreign(&name, 4096),
        Err(filemap::Error::AlreadyExists { .. })
    ));
    Mapping::remove_foreign(&name).unwrap();
    assert!(!Path::new("/dev/shm").join(&name).exists());
}

#[cfg(target_os = "linux")]
fn c_program_and_filemap() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("shm_peer");
    let cc = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&exe)
        .arg(here().join("shm_peer.c"))
        .output()
        .expect("a C compiler (cc)");
    assert!(
        cc.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    // A raw segment made by filemap, read and written by C.
    let raw = unique("c-raw");
    let m = Mapping::create_foreign(&raw, 4096).unwrap();
    let removed = RemovedAtEnd(raw.clone());
    let v = m.view().map().unwrap();
    v.write_at(0, b"from rust").unwrap();
    let out = Command::new(&exe).args(["raw", &raw]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from rust");
    assert_eq!(v.read_vec(100, 6).unwrap(), b"from c");
    drop((v, m));
    Mapping::remove_foreign(&raw).unwrap();
    std::mem::forget(removed);
    // A filemap object, found by C through the documented header.
    common::set_env("FILEMAP_DIR", "/dev/shm");
    let name = unique("c-obj");
    let m = Mapping::create_new(name.as_str(), 4096).unwrap();
    let v = m.view().map().unwrap();
    v.write_at(0, b"filemap data").unwrap();
    let out = Command::new(&exe)
        .args(["filemap", &segment_of(&name)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "filemap data");
    assert_eq!(v.read_vec(200, 10).unwrap(), b"c was here");
    drop((v, m));
    assert!(!Path::new("/dev/shm").join(segment_of(&name)).exists());
}

/// Windows: a section made with plain CreateFileMappingW (no filemap header) opened as a
/// foreign segment, and one made by filemap opened with plain OpenFileMappingW.
#[cfg(not(target_os = "linux"))]
fn foreign_section_made_by_win32() {
    use std::os::windows::io::{FromRawHandle, OwnedHandle};
    use windows_sys::Win32::System::Memory::{CreateFileMappingW, PAGE_READWRITE};
    let name = format!("Local\\{}", unique("win32"));
    let w: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
    // SAFETY: a pagefile-backed section with a valid name; the handle is owned below.
    let _section = unsafe {
        let h = CreateFileMappingW(
            -1isize as _,
            std::ptr::null(),
            PAGE_READWRITE,
            0,
            8192,
            w.as_ptr(),
        );
        assert!(!h.is_null());
        OwnedHandle::from_raw_handle(h as _)
    };
    // Opened as a filemap object it is refused (no header), at once: it has no creation
    // lock, so no filemap creator is writing its header (it waited 2 s before).
    let started = std::time::Instant::now();
    let opened = Mapping::open(name.as_str()).map(|m| m.len());
    assert!(
        matches!(opened, Err(filemap::Error::Corrupt { .. })),
        "{opened:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refused after {:?}",
        started.elapsed()
    );
    let m = Mapping::open_foreign(&name).unwrap();
    assert_eq!(m.len(), 8192);
    m.view().map().unwrap().write_at(10, b"raw").unwrap();
    let again = Mapping::open_foreign(&name).unwrap();
    assert_eq!(again.view().map().unwrap().read_vec(10, 3).unwrap(), b"raw");
    let made = format!("Local\\{}", unique("made"));
    let m2 = Mapping::create_foreign(&made, 4096).unwrap();
    m2.view().map().unwrap().write_at(0, b"x").unwrap();
    assert!(matches!(
        Mapping::create_foreign(&made, 4096),
        Err(filemap::Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        Mapping::remove_foreign(&made),
        Err(filemap::Error::Unsupported { .. })
    ));
    // A name an event holds is taken too (it was an I/O error, ERROR_INVALID_HANDLE).
    let event_name = unique("event");
    let _event = filemap::sync::NamedEvent::create_new(
        event_name.as_str(),
        filemap::sync::EventReset::Manual,
        false,
    )
    .unwrap();
    let refused = Mapping::create_foreign(&format!("Local\\{event_name}"), 4096).map(|m| m.len());
    assert!(
        matches!(refused, Err(filemap::Error::AlreadyExists { .. })),
        "{refused:?}"
    );
}
