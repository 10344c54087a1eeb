//! Faults in a view's memory are errors for the safe copies, not the end of the process:
//! a file truncated under a view (Linux: SIGBUS), pages made inaccessible (an access
//! violation on Windows), while faults anywhere else still end the process as before.

mod common;

#[cfg(target_os = "linux")]
use common::cut_to;
use common::{Namespace, child, role, run_tests, unique};
use filemap::{Error, Mapping};

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    let mut tests: Vec<(&str, fn())> = vec![(
        "a_fault_elsewhere_still_ends_the_process",
        a_fault_elsewhere_still_ends_the_process,
    )];
    #[cfg(target_os = "linux")]
    tests.extend([
        (
            "truncation_under_a_view_is_an_error",
            truncation_under_a_view_is_an_error as fn(),
        ),
        (
            "a_commit_over_a_file_cut_short_leaves_it_short",
            a_commit_over_a_file_cut_short_leaves_it_short,
        ),
        (
            "a_fault_before_the_cut_is_not_called_a_cut",
            a_fault_before_the_cut_is_not_called_a_cut,
        ),
        (
            "a_flush_past_a_cut_in_mid_page_says_so",
            a_flush_past_a_cut_in_mid_page_says_so,
        ),
        (
            "a_handler_installed_before_still_gets_its_signals",
            a_handler_installed_before_still_gets_its_signals,
        ),
        (
            "faults_that_are_not_filemaps_end_the_process",
            faults_that_are_not_filemaps_end_the_process,
        ),
        (
            "a_one_time_handler_runs_once_and_filemap_stays",
            a_one_time_handler_runs_once_and_filemap_stays,
        ),
        (
            "a_handler_without_deferral_runs_unblocked",
            a_handler_without_deferral_runs_unblocked,
        ),
        (
            "a_handler_installed_after_filemaps_stays_in_a_child",
            a_handler_installed_after_filemaps_stays_in_a_child,
        ),
    ]);
    #[cfg(windows)]
    tests.push((
        "inaccessible_pages_are_an_error",
        inaccessible_pages_are_an_error as fn(),
    ));
    run_tests(&tests);
}

#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn play(role: &str, args: &[String]) -> i32 {
    match role {
        // Maps a view (which installs filemap's handler), then dereferences null. (In the
        // parent's namespace, which the parent removes.)
        "null-deref" => {
            let m = Mapping::create_new(unique("deref"), 4096).unwrap();
            let v = m.view().map().unwrap();
            v.write_at(0, b"mapped").unwrap();
            // SAFETY: deliberately not: this child must die of the fault.
            let byte = unsafe { std::ptr::null::<u8>().read_volatile() };
            println!("read {byte} through null");
            0
        }
        #[cfg(target_os = "linux")]
        "own-handler" => own_handler(),
        #[cfg(target_os = "linux")]
        "own-one-time-handler" => own_one_time_handler(),
        #[cfg(target_os = "linux")]
        "own-nodefer-handler" => own_nodefer_handler(),
        #[cfg(target_os = "linux")]
        "own-handler-then-fork" => own_handler_then_fork(),
        // A view's read into a buffer of this process that is not accessible: the fault is
        // in the caller's memory, not the view's, so it is not filemap's to report.
        #[cfg(target_os = "linux")]
        "bad-buffer" => {
            let m = Mapping::create_new(unique("buffer"), 4096).unwrap();
            let v = m.view().map().unwrap();
            // SAFETY: a fresh private anonymous page with no access, never freed (the child
            // is meant to die reading into it).
            let page = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(page, libc::MAP_FAILED);
            // SAFETY: deliberately not: the page is not readable or writable.
            let buf = unsafe { std::slice::from_raw_parts_mut(page.cast::<u8>(), 64) };
            println!("returned {:?}", v.read_at(0, buf));
            0
        }
        // A SIGBUS sent by a process (not a fault), twice, with or without a view (and so
        // with or without filemap's handler).
        #[cfg(target_os = "linux")]
        "sent-sigbus" => {
            let m = Mapping::create_new(unique("sent"), 4096).unwrap();
            let _v = (args.first().map(String::as_str) == Some("view")).then(|| m.view().map());
            for _ in 0..2 {
                // SAFETY: raising a signal with whatever action the process has.
                unsafe { libc::raise(libc::SIGBUS) };
            }
            println!("survived two sent SIGBUS");
            0
        }
        // One SIGBUS sent by a process (Rust's own handler, which filemap's passes it on
        // to, puts the default action back), then a copy over a file cut short: still an
        // error, not the end of the process.
        #[cfg(target_os = "linux")]
        "sent-sigbus-then-cut" => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("cut-after-a-sent-signal");
            std::fs::write(&path, vec![7u8; 1 << 16]).unwrap();
            let file = Mapping::from_path(&path).create().unwrap();
            let view = file.view().map().unwrap();
            // SAFETY: raising a signal with whatever action the process has.
            unsafe { libc::raise(libc::SIGBUS) };
            cut_to(&path, 4096);
            let mut buf = [0u8; 64];
            println!(
                "read past the cut: {:?}",
                view.read_at(32768, &mut buf).map_err(|e| e.to_string())
            );
            0
        }
        other => panic!("unknown role {other}"),
    }
}

/// A fault outside filemap's copy routines goes to whoever handled it before filemap: the
/// default action here, which ends the child (SIGSEGV; an access violation on Windows).
fn a_fault_elsewhere_still_ends_the_process() {
    let ns = Namespace::new();
    let out = match child("null-deref", &[]).output() {
        Ok(out) => out,
        // Wine now and then fails to report on a child that crashed (ERROR_INTERNAL_ERROR
        // from running or waiting for it): say so and run it once more.
        Err(e) if cfg!(windows) && e.raw_os_error() == Some(1359) => {
            println!("    Wine could not report on the crashed child ({e}); running it again");
            child("null-deref", &[]).output().unwrap()
        }
        Err(e) => panic!("running the child: {e}"),
    };
    drop(ns); // the dead child's entry goes with the directory
    assert!(
        !out.status.success(),
        "the child survived a null dereference"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("through null"),
        "the null read returned"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(11), "{:?}", out.status);
    }
}

/// `Mapping::commit` over a file another process cut short: the range past the cut is
/// `PageFault` (truncated), and the file stays as short as it was cut (the allocation grew
/// it back, with zeros, over what that process meant); a range before the cut commits.
#[cfg(target_os = "linux")]
fn a_commit_over_a_file_cut_short_leaves_it_short() {
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut");
    std::fs::write(&path, vec![7u8; 1 << 16]).unwrap();
    let mapping = Mapping::from_path(&path).create().unwrap();
    mapping.commit(0, 1 << 16).unwrap();
    cut_to(&path, 4096);
    match mapping.commit(0, 1 << 16) {
        Err(Error::PageFault {
            offset, truncated, ..
        }) => assert_eq!((offset, truncated), (4096, true)),
        other => panic!("a commit past the end of a file cut short: {other:?}"),
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096, "grown back");
    // A range wholly past the cut: the offset says where the file now ends.
    match mapping.commit(32768, 4096) {
        Err(Error::PageFault {
            offset, truncated, ..
        }) => assert_eq!((offset, truncated), (4096, true)),
        other => panic!("a commit past the end of a file cut short: {other:?}"),
    }
    mapping.commit(0, 4096).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
    // Nothing was allocated past the end (a sparse file of 4 KiB: its one page).
    {
        use std::os::unix::fs::MetadataExt;
        let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(
            allocated <= 8192,
            "{allocated} bytes allocated past a 4 KiB file"
        );
    }
    drop(mapping);
    ns.assert_empty();
}

/// A file-backed view whose file another program truncates: reads and writes past the new
/// end are `PageFault` (truncated), as many times as asked; what is still there reads
/// fine; once the file is long again, so is the view. The same for a named entry, and
/// the same for the guarded word operations (`load_u64`, `fetch_add_u32`, ...).
#[cfg(target_os = "linux")]
fn truncation_under_a_view_is_an_error() {
    use std::sync::atomic::Ordering::Relaxed;
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrinking");
    std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
    let file = Mapping::from_path(&path).create().unwrap();
    let name = unique("shrinking");
    let entry = Mapping::create_new(name.as_str(), 1 << 20).unwrap();
    let entry_path = filemap::namespace::directory()
        .join(filemap::namespace::info(name.as_str()).unwrap().file_name);
    for (mapping, path, data_offset) in [(&file, path.clone(), 0), (&entry, entry_path, 4096)] {
        let view = mapping.view().map().unwrap();
        view.write_at(65536, &[9; 16]).unwrap();
        cut_to(&path, data_offset + 4096);
        let mut buf = [0u8; 4096];
        for _ in 0..1000 {
            match view.read_at(65536, &mut buf) {
                Err(Error::PageFault {
                    offset, truncated, ..
                }) => {
                    assert_eq!(offset, 65536);
                    assert!(truncated);
                }
                other => panic!("read past the end of a truncated file: {other:?}"),
            }
            assert!(matches!(
                view.write_at(100_000, &[1; 64]),
                Err(Error::PageFault {
                    truncated: true,
                    ..
                })
            ));
            // The guarded word operations, each of its kind.
            let words = [
                view.load_u64(65536, Relaxed).map(drop),
                view.store_u32(65540, 1, Relaxed),
                view.swap_u64(65544, 1, Relaxed).map(drop),
                view.fetch_add_u32(65552, 1, Relaxed).map(drop),
                view.compare_exchange_u64(65560, 0, 1, Relaxed, Relaxed)
                    .map(drop),
            ];
            for word in words {
                assert!(
                    matches!(
                        word,
                        Err(Error::PageFault {
                            truncated: true,
                            ..
                        })
                    ),
                    "a word operation past the end: {word:?}"
                );
            }
        }
        aliased_copies_fault_at(&view, 4096, true);
        // Locking the view in memory: its pages past the end cannot be brought in, said as
        // such (it was "cannot lock: see RLIMIT_MEMLOCK"), and nothing stays locked.
        match view.lock() {
            Err(Error::PageFault {
                offset,
                truncated: true,
                ..
            }) => assert_eq!(offset, 4096),
            other => panic!("locking a view past the end of its file: {other:?}"),
        }
        assert_eq!(locked_kib(), 0, "a failed lock locked nothing");
        // Words still there work as before.
        view.store_u64(8, 10, Relaxed).unwrap();
        assert_eq!(view.fetch_add_u64(8, 5, Relaxed).unwrap(), 10);
        assert_eq!(view.load_u64(8, Relaxed).unwrap(), 15);
        let e = view.read_at(65536, &mut buf).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        // What is left reads as before.
        view.read_at(0, &mut buf).unwrap();
        cut_to(&path, data_offset + (1 << 20));
        view.read_at(65536, &mut buf).unwrap();
        assert_eq!(buf[0], 0, "the file grew back with zeros");
    }
    drop((file, entry));
    ns.assert_empty();
}

/// A fault in a part of the file still there (here a page of the view made inaccessible,
/// as an I/O error would fault) is no truncation, though the file was cut short further on
/// (it was reported as one: the cut was compared with the view's end, not the fault).
#[cfg(target_os = "linux")]
fn a_fault_before_the_cut_is_not_called_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut-further-on");
    std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
    let file = Mapping::from_path(&path).create().unwrap();
    let view = file.view().map().unwrap();
    cut_to(&path, 1 << 19);
    // SAFETY: takes all access from one page of this view's own mapping (it has 256).
    let protected =
        unsafe { libc::mprotect(view.as_mut_ptr().add(4096).cast(), 4096, libc::PROT_NONE) };
    assert_eq!(protected, 0, "mprotect");
    let mut buf = [0u8; 64];
    match view.read_at(4096, &mut buf) {
        Err(Error::PageFault {
            offset, truncated, ..
        }) => assert_eq!((offset, truncated), (4096, false)),
        other => panic!("a read of an inaccessible page: {other:?}"),
    }
    // Past the cut, the fault is the cut's.
    match view.read_at(600 << 10, &mut buf) {
        Err(Error::PageFault {
            offset, truncated, ..
        }) => assert_eq!((offset, truncated), (600 << 10, true)),
        other => panic!("a read past the cut: {other:?}"),
    }
    drop((view, file));
}

/// A file cut short in the middle of a page: that page stays mapped, so a write past the
/// new end succeeds, but it is never stored; the flush says so (it said all was well).
#[cfg(target_os = "linux")]
fn a_flush_past_a_cut_in_mid_page_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut-mid-page");
    std::fs::write(&path, vec![7u8; 8192]).unwrap();
    let file = Mapping::from_path(&path).create().unwrap();
    let view = file.view().map().unwrap();
    cut_to(&path, 4096 + 100);
    view.write_at(4096 + 200, b"never stored").unwrap();
    for flushed in [
        view.flush(),
        view.flush_range(4096, 1000),
        view.flush_async(),
    ] {
        match flushed {
            Err(Error::PageFault {
                offset, truncated, ..
            }) => assert_eq!((offset, truncated), (4096 + 100, true)),
            other => panic!("a flush past the cut: {other:?}"),
        }
    }
    // A range before the cut flushes as before.
    view.write_at(10, b"stored").unwrap();
    view.flush_range(0, 4096).unwrap();
    assert_eq!(&std::fs::read(&path).unwrap()[10..16], b"stored");
    drop((view, file));
}

/// This process's memory locked in memory (`VmLck` of /proc/self/status), in KiB.
#[cfg(target_os = "linux")]
fn locked_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmLck:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Copies of more than 4 KiB whose destination lies 1 to 63 bytes past the source modulo
/// 4096 go through the vector loops instead of `rep movsb`: reading and writing 8 KiB from
/// the start of `view`, whose bytes stop being there at `end`, is `PageFault` at `end`.
fn aliased_copies_fault_at(view: &filemap::View, end: u64, truncated: bool) {
    let mut spare = vec![0u8; 3 * 4096 + 8192];
    let view_at = view.as_ptr() as usize;
    for distance in [8usize, 40] {
        // Reading: the buffer `distance` bytes past the view; writing: the view `distance`
        // bytes past the buffer.
        for (reading, buf_at) in [(true, view_at + distance), (false, view_at - distance)] {
            let start = buf_at.wrapping_sub(spare.as_ptr() as usize) % 4096;
            let aliased = &mut spare[start..start + 8192];
            let (from, to) = match reading {
                true => (view_at, aliased.as_ptr() as usize),
                false => (aliased.as_ptr() as usize, view_at),
            };
            assert_eq!(to.wrapping_sub(from) % 4096, distance);
            let result = match reading {
                true => view.read_at(0, aliased),
                false => view.write_at(0, aliased),
            };
            match result {
                Err(Error::PageFault {
                    offset,
                    truncated: t,
                    ..
                }) => assert_eq!((offset, t), (end, truncated), "{distance} {reading}"),
                other => panic!("an aliased copy past the end: {other:?}"),
            }
        }
    }
}

/// Signals that are not faults in a view's memory are not filemap's: a fault in the
/// caller's own buffer during a copy (SIGSEGV), and a SIGBUS another process sends, end
/// the process as they would without filemap.
#[cfg(target_os = "linux")]
fn faults_that_are_not_filemaps_end_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let ns = Namespace::new();
    let out = child("bad-buffer", &[]).output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "{:?}, printed {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    // Sent signals end the same way with filemap's handler as without it (Rust's own
    // handler, installed at start-up, decides).
    // A sent signal that Rust's handler took (putting the default action back) leaves
    // filemap's handler in place: a copy over a file cut short after it is still an error
    // (the process died of that fault).
    let after = child("sent-sigbus-then-cut", &[]).output().unwrap();
    assert!(
        after.status.success()
            && String::from_utf8_lossy(&after.stdout).contains("read past the cut: Err("),
        "{:?} {}",
        after.status,
        String::from_utf8_lossy(&after.stdout)
    );
    let without = child("sent-sigbus", &["no-view"]).output().unwrap();
    let with = child("sent-sigbus", &["view"]).output().unwrap();
    assert_eq!(
        (with.status.signal(), with.stdout),
        (without.status.signal(), without.stdout),
        "a sent SIGBUS with a view ended otherwise than without one"
    );
    drop(ns);
}

/// A program that installed its own SIGBUS handler before filemap's first view keeps it: a
/// SIGBUS that is not filemap's (raised here) reaches it, and filemap's copies still
/// report their own faults.
#[cfg(target_os = "linux")]
fn a_handler_installed_before_still_gets_its_signals() {
    let ns = Namespace::new();
    let out = child("own-handler", &[]).output().unwrap();
    ns.assert_empty();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("own handler ran; filemap reported"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Maps a view of a file (filemap's handler goes in then, after the test's own), runs
/// `between`, cuts the file short, and says whether a read past its end was reported as
/// `PageFault`.
#[cfg(target_os = "linux")]
fn view_fault_reported(between: impl FnOnce()) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, vec![1u8; 1 << 16]).unwrap();
    let m = Mapping::from_path(&path).create().unwrap();
    let v = m.view().map().unwrap();
    between();
    cut_to(&path, 0);
    matches!(
        v.read_at(8192, &mut [0u8; 16]),
        Err(Error::PageFault { .. })
    )
}

#[cfg(target_os = "linux")]
fn own_handler() -> i32 {
    use std::sync::atomic::{AtomicBool, Ordering};
    static RAN: AtomicBool = AtomicBool::new(false);
    extern "C" fn mine(_: libc::c_int) {
        RAN.store(true, Ordering::SeqCst);
    }
    // SAFETY: a plain handler that stores to an atomic.
    unsafe { libc::signal(libc::SIGBUS, mine as *const () as libc::sighandler_t) };
    let reported = view_fault_reported(|| {});
    // SAFETY: raising a signal whose handler is installed.
    unsafe { libc::raise(libc::SIGBUS) };
    if RAN.load(Ordering::SeqCst) && reported {
        println!("own handler ran; filemap reported its fault");
        0
    } else {
        println!(
            "own handler ran: {}, filemap reported: {reported}",
            RAN.load(Ordering::SeqCst)
        );
        1
    }
}

/// A program's SIGBUS handler installed with `SA_RESETHAND` (run once, then the default)
/// before filemap's first view: a sent SIGBUS runs it once, and filemap's copies still
/// report their own faults afterwards (before, passing the signal on reset the process's
/// action to the default, removing filemap's handler: the next fault in a copy killed the
/// process).
#[cfg(target_os = "linux")]
fn a_one_time_handler_runs_once_and_filemap_stays() {
    let ns = Namespace::new();
    let out = child("own-one-time-handler", &[]).output().unwrap();
    ns.assert_empty();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "own handler ran once; filemap reported its fault"
    );
}

#[cfg(target_os = "linux")]
fn own_one_time_handler() -> i32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RAN: AtomicU32 = AtomicU32::new(0);
    extern "C" fn mine(_: libc::c_int) {
        RAN.fetch_add(1, Ordering::SeqCst);
    }
    // SAFETY: sigaction is plain data (zeros: no flags, an empty mask); the handler only
    // adds to an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = mine as *const () as usize;
        action.sa_flags = libc::SA_RESETHAND;
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
    // SAFETY: raising a signal whose handler is installed.
    let reported = view_fault_reported(|| unsafe {
        libc::raise(libc::SIGBUS);
    });
    let ran = RAN.load(Ordering::SeqCst);
    if ran == 1 && reported {
        println!("own handler ran once; filemap reported its fault");
    } else {
        println!("own handler ran {ran} times, filemap reported: {reported}");
    }
    0
}

/// A program's SIGBUS handler installed with `SA_NODEFER` before filemap's first view runs
/// with SIGBUS unblocked when filemap passes a signal on to it, as it would without
/// filemap (a handler that jumps out of itself, as memory probes do, would otherwise leave
/// the signal blocked, and the next fault would end the process).
#[cfg(target_os = "linux")]
fn a_handler_without_deferral_runs_unblocked() {
    let ns = Namespace::new();
    let out = child("own-nodefer-handler", &[]).output().unwrap();
    ns.assert_empty();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "own handler ran with SIGBUS unblocked; filemap reported its fault"
    );
}

#[cfg(target_os = "linux")]
fn own_nodefer_handler() -> i32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    // 0: not run; 1: ran with SIGBUS blocked; 2: unblocked.
    static RAN: AtomicU32 = AtomicU32::new(0);
    extern "C" fn mine(_: libc::c_int) {
        // SAFETY: a query of this thread's mask into a local set.
        let blocked = unsafe {
            let mut now: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut now);
            libc::sigismember(&now, libc::SIGBUS) == 1
        };
        RAN.store(if blocked { 1 } else { 2 }, Ordering::SeqCst);
    }
    // SAFETY: sigaction is plain data (zeros: an empty mask); the handler only reads its
    // thread's mask and stores to an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = mine as *const () as usize;
        action.sa_flags = libc::SA_NODEFER;
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
    // SAFETY: raising a signal whose handler is installed.
    let reported = view_fault_reported(|| unsafe {
        libc::raise(libc::SIGBUS);
    });
    match (RAN.load(Ordering::SeqCst), reported) {
        (2, true) => println!("own handler ran with SIGBUS unblocked; filemap reported its fault"),
        (ran, reported) => {
            println!("own handler ran: {ran} (1: blocked), filemap reported: {reported}")
        }
    }
    0
}

/// A program that installs its own SIGBUS handler after filemap's (passing what it does
/// not handle on to filemap's, as it should), then forks: in the child, which maps a view,
/// filemap leaves the program's handler in place (it put its own back on top before, which
/// passed a signal to the program's, which passed it back to filemap's, round and round).
#[cfg(target_os = "linux")]
fn a_handler_installed_after_filemaps_stays_in_a_child() {
    let ns = Namespace::new();
    let out = child("own-handler-then-fork", &[]).output().unwrap();
    ns.assert_empty();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "the child's own handler ran once"
    );
}

#[cfg(target_os = "linux")]
fn own_handler_then_fork() -> i32 {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicU32, Ordering};
    struct Replaced(UnsafeCell<libc::sigaction>);
    // SAFETY: written once, before the handler is installed; only read after.
    unsafe impl Sync for Replaced {}
    // SAFETY: sigaction is plain data; all zeros is the default action.
    static REPLACED: Replaced = Replaced(UnsafeCell::new(unsafe { std::mem::zeroed() }));
    static RAN: AtomicU32 = AtomicU32::new(0);
    extern "C" fn mine(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        if RAN.fetch_add(1, Ordering::SeqCst) > 0 {
            // Entered again from within itself: the signal goes round in a loop.
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(3) };
        }
        // SAFETY: written before this handler was installed; an SA_SIGINFO action's
        // handler has this signature.
        let replaced = unsafe { &*REPLACED.0.get() };
        if replaced.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(replaced.sa_sigaction) };
            f(signal, info, context);
        }
    }
    let m = Mapping::create_new(unique("before-fork"), 4096).unwrap();
    let v = m.view().map().unwrap();
    // SAFETY: sigaction is plain data; the replaced action is written before the handler
    // that reads it goes in (by this same call, which reports it).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = mine as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGBUS, &action, REPLACED.0.get());
    }
    // SAFETY: this process has one thread; the child only maps a view, raises a signal,
    // writes a line and exits.
    match unsafe { libc::fork() } {
        0 => {
            let again = Mapping::open(m.name().unwrap()).unwrap();
            let _view = again.view().map().unwrap();
            // SAFETY: raising a signal whose handler is installed.
            unsafe { libc::raise(libc::SIGBUS) };
            let ran = RAN.load(Ordering::SeqCst);
            let line = if ran == 1 {
                "the child's own handler ran once\n".to_string()
            } else {
                format!("the child's own handler ran {ran} times\n")
            };
            // SAFETY: writes a buffer of this process to standard output, then exits
            // without running the parent's destructors.
            unsafe {
                libc::write(1, line.as_ptr().cast(), line.len());
                libc::_exit(0)
            }
        }
        -1 => panic!("fork failed"),
        pid => {
            let mut status = 0;
            // SAFETY: waits for this process's own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            drop((v, m));
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                0
            } else {
                println!("the child ended with status {status:#x} (exit 3: a loop)");
                1
            }
        }
    }
}

/// Pages of a view made inaccessible (`PAGE_NOACCESS`): reads and writes through the safe
/// copies are `PageFault`, and work again once the pages are accessible.
#[cfg(windows)]
fn inaccessible_pages_are_an_error() {
    use std::sync::atomic::Ordering::Relaxed;
    use windows_sys::Win32::System::Memory::{PAGE_NOACCESS, PAGE_READWRITE, VirtualProtect};
    let ns = Namespace::new();
    let m = Mapping::create_new(unique("noaccess"), 1 << 16).unwrap();
    let v = m.view().map().unwrap();
    v.write_at(0, b"reachable").unwrap();
    // Page `page` of the view given `protection`.
    let protect = |page: usize, protection| {
        let mut old = 0u32;
        // SAFETY: changes the protection of one of this view's own pages (it has 16).
        let ok = unsafe {
            VirtualProtect(
                v.as_mut_ptr().add(page * 4096).cast(),
                4096,
                protection,
                &mut old,
            )
        };
        assert_ne!(ok, 0, "VirtualProtect failed");
    };
    protect(0, PAGE_NOACCESS);
    let mut buf = [0u8; 9];
    match v.read_at(0, &mut buf) {
        Err(Error::PageFault {
            offset, truncated, ..
        }) => {
            assert_eq!(offset, 0);
            assert!(!truncated);
        }
        other => panic!("read of an inaccessible page: {other:?}"),
    }
    assert!(matches!(v.write_at(0, b"x"), Err(Error::PageFault { .. })));
    // The guarded word operations too.
    assert!(matches!(
        v.load_u32(8, Relaxed),
        Err(Error::PageFault { offset: 8, .. })
    ));
    assert!(matches!(
        v.fetch_add_u64(8, 1, Relaxed),
        Err(Error::PageFault { .. })
    ));
    assert!(matches!(
        v.compare_exchange_u32(12, 0, 1, Relaxed, Relaxed),
        Err(Error::PageFault { .. })
    ));
    protect(0, PAGE_READWRITE);
    v.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"reachable");
    // The second page inaccessible: long copies stop at it, whichever loop they take.
    protect(1, PAGE_NOACCESS);
    aliased_copies_fault_at(&v, 4096, false);
    protect(1, PAGE_READWRITE);
    drop((v, m));
    ns.assert_empty();
}
