//! The status mapping a bridge publishes about itself (for `filemap ls`) can be cut short
//! by any process of its user: the bridge's next status write is then an error it logs, not
//! its death (it wrote the sequence number through a Rust atomic, and SIGBUS ended it).

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod common;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_status_mapping_cut_short_does_not_end_the_bridge() {
    use std::time::{Duration, Instant};

    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let bridge = {
        let lines = lines.clone();
        filemap_zenoh::Bridge::builder()
            .export("cut-short-status")
            .start_with_log(move |line| lines.lock().unwrap().push(line.to_string()))
            .unwrap()
    };
    let status_file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(filemap_zenoh::STATUS_PREFIX))
        })
        .expect("the bridge's status mapping");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&status_file)
        .unwrap()
        .set_len(0)
        .unwrap();
    // The bridge writes its status every half second: the next write after the cut is
    // the error it logs (it was the process's end), and the bridge goes on.
    let said =
        || {
            lines.lock().unwrap().iter().any(|l| {
                l.contains("writing the status for filemap ls:") && l.contains("truncated")
            })
        };
    let started = Instant::now();
    while !said() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        said(),
        "no status write failed in 30 s: {:?}",
        lines.lock().unwrap()
    );
    bridge.stop();
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
#[test]
fn a_status_mapping_cut_short_does_not_end_the_bridge() {
    println!(
        "Linux on x86_64 only: Windows keeps a section's size while any view of it lives, and \
         elsewhere faults are not caught yet"
    );
}
