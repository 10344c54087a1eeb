//! An open that is refused after it took its hold on an object (the object's permissions
//! were widened behind filemap's back, say) lets go of it as any handle does: if the
//! object's other holders closed meanwhile, seeing it hold the object, its name goes with
//! the refused open instead of staying behind, stale, for the next open to find. Runs one
//! test at a time (it changes `FILEMAP_DIR`).

mod common;

fn main() {
    #[cfg(unix)]
    common::run_tests(&[(
        "a_refused_open_that_was_the_last_hold_takes_the_name",
        unix::a_refused_open_that_was_the_last_hold_takes_the_name,
    )]);
    #[cfg(not(unix))]
    println!("\nrunning 0 tests (Windows removes a name with its last handle itself)");
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use crate::common::{Namespace, unique};
    use filemap::{Error, Mapping};

    /// How many objects are made and closed while another thread's opens are refused.
    const ROUNDS: usize = 300;

    pub fn a_refused_open_that_was_the_last_hold_takes_the_name() {
        let ns = Namespace::new();
        let uid = rustix::process::geteuid().as_raw();
        let refused = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        for round in 0..ROUNDS {
            let name = unique("widened");
            let held = Mapping::create_new(&name, 4096).unwrap();
            // Widened behind filemap's back: every open is refused, after its hold.
            let path = ns.path().join(format!("filemap.u{uid}.{name}"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let opener = {
                let (name, stop, refused) = (name.clone(), stop.clone(), refused.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match Mapping::open(name.as_str()) {
                            Err(Error::InsecurePermissions { .. }) => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            // The name went with the last handle (this open's or the
                            // creator's).
                            Err(Error::NotFound { .. }) => return,
                            other => panic!("round {round}: {:?}", other.map(drop)),
                        }
                    }
                })
            };
            // Closed at some point of the opener's loop: often while an open holds the
            // object, between its hold and its refusal.
            std::thread::sleep(Duration::from_micros(50 + (round as u64 * 37) % 200));
            drop(held);
            stop.store(true, Ordering::Relaxed);
            opener.join().unwrap();
            assert!(
                !path.exists(),
                "round {round}: the name stayed behind after every handle closed"
            );
        }
        println!(
            "{ROUNDS} objects closed while opens were refused ({} refusals) in {:.1} s",
            refused.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
        ns.assert_empty();
    }
}
