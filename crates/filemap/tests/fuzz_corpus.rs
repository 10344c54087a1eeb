//! Replays the fuzz targets' kept inputs (`fuzz/corpus/TARGET`, and the crash reproducers
//! in `fuzz/regressions/TARGET`) through the same entry points the fuzzers call, so every
//! input that once found new behaviour, or a bug, is checked by the normal suite on every
//! platform. (The CLI's size parser replays its own corpus in its unit tests.)

mod common;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut all = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) {
            all.extend(
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.')),
            );
        }
    }
    all.sort();
    all
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no kept inputs for the {target} target");
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            panic!("{target}: {} fails: {panic:?}", path.display());
        }
    }
    inputs.len()
}

fn main() {
    let ns = common::Namespace::new();
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut targets = vec![
        ("header", filemap::fuzzing::header as fn(&[u8])),
        ("name", filemap::fuzzing::name),
        ("channel", filemap::fuzzing::channel),
        ("topic", filemap::fuzzing::topic),
    ];
    // Entries are files in the namespace directory on Linux only.
    #[cfg(target_os = "linux")]
    targets.push(("entry", filemap::fuzzing::open_entry));
    for (target, run) in targets {
        let n = replay(target, run);
        println!("fuzz corpus {target}: {n} inputs ok");
    }
    ns.assert_empty();
}
