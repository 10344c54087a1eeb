//! Synchronisation benchmarks (criterion): filemap's named mutex and events against
//! `std::sync::Mutex`, a raw robust pthread mutex, and a raw futex ping-pong, the last two
//! in the same run. Cross-process rows re-run this binary as the partner process.
//!
//! Run: `cargo bench -p filemap-bench --bench sync`

#[cfg(target_os = "linux")]
mod linux {
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use criterion::Criterion;
    use filemap::sync::{EventReset, NamedEvent, NamedMutex, SharedMutex};
    use filemap::Mapping;
    use filemap_bench::{FutexPair, RawRobustMutex};

    const ROLE: &str = "FILEMAP_BENCH_ROLE";

    /// The partner side, when this binary was started as one. Never returns if so.
    pub fn partner() {
        let Ok(role) = std::env::var(ROLE) else {
            return;
        };
        let name = std::env::var("FILEMAP_BENCH_NAME").expect("name");
        match role.as_str() {
            "event-echo" => {
                let ping = NamedEvent::open(format!("{name}-ping")).unwrap();
                let pong = NamedEvent::open(format!("{name}-pong")).unwrap();
                let stop = SharedMutex::<u32>::open(format!("{name}-stop")).unwrap();
                loop {
                    ping.wait().unwrap();
                    if *stop.lock().unwrap() != 0 {
                        break;
                    }
                    pong.set().unwrap();
                }
            }
            "futex-echo" => {
                let m = Mapping::open(name.as_str()).unwrap();
                let v = m.view().map().unwrap();
                let pair = FutexPair::new(v.atomic_u32(0).unwrap(), v.atomic_u32(64).unwrap());
                let mut n = 1u32;
                loop {
                    pair.wait_for(0, n);
                    if v.atomic_u32(128).unwrap().load(Ordering::Acquire) != 0 {
                        break;
                    }
                    pair.post(1, n);
                    n = n.wrapping_add(1);
                }
            }
            "shared-mutex-turns" => {
                let turn = SharedMutex::<u64>::open(name.as_str()).unwrap();
                loop {
                    let mut t = turn.lock().unwrap();
                    if *t == u64::MAX {
                        break;
                    }
                    if *t % 2 == 1 {
                        *t += 1;
                    }
                }
            }
            "raw-mutex-turns" => {
                let m = Mapping::open(name.as_str()).unwrap();
                let v = m.view().map().unwrap();
                // SAFETY: the parent initialised the mutex at offset 0 before starting us.
                let mutex = unsafe { RawRobustMutex::attach(v.as_mut_ptr()) };
                let turn = v.atomic_u64(64).unwrap();
                loop {
                    mutex.lock();
                    let t = turn.load(Ordering::Relaxed);
                    if t == u64::MAX {
                        mutex.unlock();
                        break;
                    }
                    if t % 2 == 1 {
                        turn.store(t + 1, Ordering::Relaxed);
                    }
                    mutex.unlock();
                }
            }
            other => panic!("unknown role {other}"),
        }
        std::process::exit(0);
    }

    fn start(role: &str, name: &str) -> Child {
        Command::new(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .env("FILEMAP_BENCH_NAME", name)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn unique(what: &str) -> String {
        format!("bench-{}-{what}", std::process::id())
    }

    pub fn uncontended(c: &mut Criterion) {
        let mut g = c.benchmark_group("uncontended lock+unlock");
        let named = NamedMutex::create_new(unique("m")).unwrap();
        g.bench_function("filemap NamedMutex", |b| {
            b.iter(|| drop(named.lock().unwrap()))
        });
        let shared = SharedMutex::<u64>::create_new(unique("s"), 0).unwrap();
        g.bench_function("filemap SharedMutex<u64> (+1)", |b| {
            b.iter(|| *shared.lock().unwrap() += 1)
        });
        let std_mutex = std::sync::Mutex::new(0u64);
        g.bench_function("std::sync::Mutex<u64> (+1)", |b| {
            b.iter(|| *std_mutex.lock().unwrap() += 1)
        });
        let region = Mapping::unnamed(4096).unwrap();
        let view = region.view().map().unwrap();
        // SAFETY: a fresh, private, page-aligned region that outlives the mutex's uses.
        let raw = unsafe { RawRobustMutex::init(view.as_mut_ptr()) };
        g.bench_function("raw robust pthread mutex", |b| {
            b.iter(|| {
                raw.lock();
                raw.unlock();
            })
        });
        g.finish();
    }

    /// Round trips between two processes, reported per one-way hop (half a round trip).
    pub fn wakeups(c: &mut Criterion) {
        let mut g = c.benchmark_group("cross-process wake (one way)");
        g.measurement_time(Duration::from_secs(3));

        let name = unique("ev");
        let ping = NamedEvent::create_new(format!("{name}-ping"), EventReset::Auto, false).unwrap();
        let pong = NamedEvent::create_new(format!("{name}-pong"), EventReset::Auto, false).unwrap();
        let stop = SharedMutex::<u32>::create_new(format!("{name}-stop"), 0).unwrap();
        let mut child = start("event-echo", &name);
        g.bench_function("filemap NamedEvent ping-pong", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    ping.set().unwrap();
                    pong.wait().unwrap();
                }
                t.elapsed() / 2
            })
        });
        *stop.lock().unwrap() = 1;
        ping.set().unwrap();
        child.wait().unwrap();

        let name = unique("fx");
        let m = Mapping::create_new(name.as_str(), 4096).unwrap();
        let v = m.view().map().unwrap();
        let pair = FutexPair::new(v.atomic_u32(0).unwrap(), v.atomic_u32(64).unwrap());
        let mut child = start("futex-echo", &name);
        let mut n = 0u32;
        g.bench_function("raw futex ping-pong (floor)", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    n = n.wrapping_add(1);
                    pair.post(0, n);
                    pair.wait_for(1, n);
                }
                t.elapsed() / 2
            })
        });
        v.atomic_u32(128).unwrap().store(1, Ordering::Release);
        pair.post(0, n.wrapping_add(1));
        child.wait().unwrap();
        g.finish();
    }

    /// Two processes taking turns on a counter under a mutex: each turn is a hand-off.
    pub fn handoff(c: &mut Criterion) {
        let mut g = c.benchmark_group("cross-process mutex hand-off (per turn)");
        g.measurement_time(Duration::from_secs(3));

        let name = unique("turns");
        let turn = SharedMutex::<u64>::create_new(name.as_str(), 0).unwrap();
        let mut child = start("shared-mutex-turns", &name);
        g.bench_function("filemap SharedMutex<u64>", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                let mut done = 0;
                while done < iters {
                    let mut v = turn.lock().unwrap();
                    if *v % 2 == 0 {
                        *v += 1;
                        done += 1;
                    }
                }
                t.elapsed() / 2
            })
        });
        // Wait for the partner's last turn, then stop it.
        loop {
            let mut v = turn.lock().unwrap();
            if *v % 2 == 0 {
                *v = u64::MAX;
                break;
            }
        }
        child.wait().unwrap();

        let name = unique("rawturns");
        let m = Mapping::create_new(name.as_str(), 4096).unwrap();
        let v = m.view().map().unwrap();
        // SAFETY: fresh shared memory; the partner starts only after this.
        let mutex = unsafe { RawRobustMutex::init(v.as_mut_ptr()) };
        let turn = v.atomic_u64(64).unwrap();
        let mut child = start("raw-mutex-turns", &name);
        g.bench_function("raw robust pthread mutex", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                let mut done = 0;
                while done < iters {
                    mutex.lock();
                    let now = turn.load(Ordering::Relaxed);
                    if now % 2 == 0 {
                        turn.store(now + 1, Ordering::Relaxed);
                        done += 1;
                    }
                    mutex.unlock();
                }
                t.elapsed() / 2
            })
        });
        loop {
            mutex.lock();
            let now = turn.load(Ordering::Relaxed);
            if now % 2 == 0 {
                turn.store(u64::MAX, Ordering::Relaxed);
                mutex.unlock();
                break;
            }
            mutex.unlock();
        }
        child.wait().unwrap();
        g.finish();
    }
}

#[cfg(target_os = "linux")]
fn main() {
    linux::partner();
    // Objects live in a directory of the benchmark's own, removed at the end.
    let dir = std::env::temp_dir().join(format!("filemap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::env::set_var("FILEMAP_DIR", &dir);
    let mut c = criterion::Criterion::default().configure_from_args();
    linux::uncontended(&mut c);
    linux::wakeups(&mut c);
    linux::handoff(&mut c);
    c.final_summary();
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the synchronisation benchmarks compare against Linux mechanisms");
}
