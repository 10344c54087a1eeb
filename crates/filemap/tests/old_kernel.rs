//! Waits on a kernel without `futex_waitv` (older than 5.16, or a seccomp filter that
//! forbids it, as container runtimes' older default profiles do): a child process installs
//! a seccomp filter that makes `futex_waitv` fail with `ENOSYS` (and checks that it does),
//! then waits on many objects, and awaits receives and semaphore units, from other
//! threads' sends and releases, some of them after the waiter thread sat idle. Everything
//! arrives, in order, taken once. Linux only (elsewhere it says so).

mod common;

#[cfg(target_os = "linux")]
use std::time::Duration;

use common::run_tests;
#[cfg(target_os = "linux")]
use common::{Namespace, child, role, unique};

fn main() {
    #[cfg(target_os = "linux")]
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    #[cfg(not(target_os = "linux"))]
    println!("waits_without_futex_waitv: Linux only (futex_waitv is a Linux call)");
    run_tests(&[
        #[cfg(target_os = "linux")]
        ("waits_without_futex_waitv", waits_without_futex_waitv),
    ]);
}

#[cfg(target_os = "linux")]
const PATIENCE: Duration = Duration::from_secs(20);

#[cfg(target_os = "linux")]
fn waits_without_futex_waitv() {
    let _ns = Namespace::new();
    let name = unique("old-kernel");
    let mut play = child("no-waitv", &[&name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a wait that never ends fails the test instead of hanging it.
    let started = std::time::Instant::now();
    while play.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = play.kill();
            let _ = play.wait();
            panic!("the child did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = play.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("futex_waitv refused: ENOSYS"), "{stdout}");
    assert!(stdout.contains("all arrived"), "{stdout}");
}

/// Makes `futex_waitv` fail with `ENOSYS` in this process from now on (a seccomp filter:
/// every other call goes through).
#[cfg(target_os = "linux")]
fn refuse_futex_waitv() {
    const LOAD_SYSCALL_NUMBER: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JUMP_IF_EQUAL: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RETURN: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let filter = [
        // (The syscall number is the first word of `struct seccomp_data`.)
        libc::sock_filter {
            code: LOAD_SYSCALL_NUMBER,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: JUMP_IF_EQUAL,
            jt: 0,
            jf: 1,
            k: libc::SYS_futex_waitv as u32,
        },
        libc::sock_filter {
            code: RETURN,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        },
        libc::sock_filter {
            code: RETURN,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: plain calls with a valid filter program that outlives them (the kernel
    // copies it); no new privileges is required of a process that is not privileged.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const libc::sock_fprog,
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: a call with no waits; the filter answers before the kernel reads anything.
    let refused =
        unsafe { libc::syscall(libc::SYS_futex_waitv, std::ptr::null::<u8>(), 0, 0, 0, 0) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    assert_eq!((refused, errno), (-1, Some(libc::ENOSYS)));
    println!("futex_waitv refused: ENOSYS");
}

#[cfg(target_os = "linux")]
fn play(role: &str, args: &[String]) -> i32 {
    use filemap::channel::{Receiver, Sender};
    use filemap::sync::{EventReset, NamedEvent, NamedSemaphore};
    use filemap::wait::{block_on, wait_any};

    assert_eq!(role, "no-waitv");
    let name = &args[0];
    refuse_futex_waitv();

    // A wait on many objects: the one set, each time.
    let events: Vec<NamedEvent> = (0..3)
        .map(|i| {
            NamedEvent::create_new(format!("{name}-e{i}").as_str(), EventReset::Auto, false)
                .unwrap()
        })
        .collect();
    for round in 0..30 {
        let which = round % 3;
        std::thread::scope(|s| {
            let set = &events[which];
            s.spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                set.set().unwrap();
            });
            let refs: Vec<&dyn filemap::wait::Waitable> = events
                .iter()
                .map(|e| e as &dyn filemap::wait::Waitable)
                .collect();
            assert_eq!(wait_any(&refs, Some(PATIENCE)).unwrap().index, which);
        });
    }

    // Async receives, one message at a time, some after the waiter thread sat idle.
    let mut rx = Receiver::create_or_open(format!("{name}-ch").as_str(), 1 << 16).unwrap();
    let mut tx = Sender::open(format!("{name}-ch").as_str()).unwrap();
    let count = 200u32;
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..count {
                if i % 50 == 0 {
                    // Long enough for the waiter thread to have nothing to sleep for.
                    std::thread::sleep(Duration::from_millis(150));
                }
                tx.send(&i.to_le_bytes()).unwrap();
            }
        });
        for i in 0..count {
            let slot = block_on(rx.recv_async()).unwrap();
            assert_eq!(slot.to_vec().unwrap(), i.to_le_bytes());
        }
    });

    // Async semaphore units, each taken once.
    let units = NamedSemaphore::create_new(format!("{name}-sem").as_str(), 0, 1000).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..100 {
                if i % 25 == 0 {
                    std::thread::sleep(Duration::from_millis(150));
                }
                units.release(1).unwrap();
            }
        });
        for _ in 0..100 {
            block_on(units.acquire_async()).unwrap();
        }
    });
    assert!(!units.try_acquire().unwrap(), "a unit was counted twice");
    println!("all arrived");
    0
}
