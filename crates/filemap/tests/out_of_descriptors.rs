//! A process out of file descriptors (its `RLIMIT_NOFILE` reached at every step of a
//! create or an open in turn): each fails with an error, never a panic, and leaves the
//! namespace as it was: no entry, no persistent name over an object that was never made
//! whole, and an object another handle holds still there. Runs in a child process, whose
//! limit it lowers (Linux).

mod common;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("running 0 tests (no descriptor limit to lower: Windows has no RLIMIT_NOFILE)");
}

#[cfg(target_os = "linux")]
mod linux {
    use crate::common::{Namespace, role, run_child, run_tests, unique};
    use filemap::Mapping;
    use filemap::channel::Sender;
    use filemap::inbox::{Inbox, InboxOptions};
    use filemap::service::{Server, ServiceOptions};
    use filemap::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore};
    use filemap::topic::{Publisher, TopicOptions};
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    pub fn main() {
        if let Some((role, args)) = role() {
            std::process::exit(play(&role, &args));
        }
        run_tests(&[(
            "every_step_of_a_create_out_of_descriptors_leaves_nothing",
            every_step_of_a_create_out_of_descriptors_leaves_nothing,
        )]);
    }

    fn every_step_of_a_create_out_of_descriptors_leaves_nothing() {
        let ns = Namespace::new();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backing.bin");
        std::fs::write(&file, [0u8; 4096]).unwrap();
        let said = run_child("creates", &[file.to_str().unwrap()]);
        println!("{said}");
        // Every kind failed at least once (at the lowest limit), and was made once.
        for kind in [
            "persistent file-backed",
            "mapping",
            "channel",
            "mutex",
            "persistent mapping",
            "event",
            "semaphore",
            "topic",
            "inbox",
            "service",
            "mapping open",
            "mutex open",
        ] {
            let line = said
                .lines()
                .find(|l| l.starts_with(kind))
                .unwrap_or_else(|| panic!("nothing said of {kind}: {said}"));
            let failed: usize = line
                .split("failed at ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{line}"));
            assert!(failed > 0 && line.contains("made at"), "{line}");
        }
        ns.assert_empty();
    }

    /// Tries `create` under descriptor limits from 3 up, until one lets it through; after
    /// each failure, with the limit put back, looks for what it left in the namespace
    /// directory. Says how many limits failed and where it was made.
    fn at_every_limit<T>(
        kind: &str,
        namespace: &std::path::Path,
        create: impl Fn() -> filemap::Result<T>,
        clean_up: impl Fn(T),
    ) -> Result<String, String> {
        let listing = || -> Result<Vec<std::ffi::OsString>, String> {
            let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(namespace)
                .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|e: std::io::Error| format!("cannot list the namespace: {e}"))?;
            names.sort();
            Ok(names)
        };
        let before = listing()?;
        let normal = getrlimit(Resource::Nofile);
        let mut failures = Vec::new();
        for limit in 3..256 {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(limit),
                    maximum: normal.maximum,
                },
            )
            .map_err(|e| format!("cannot lower the limit: {e}"))?;
            let made = create();
            setrlimit(Resource::Nofile, normal)
                .map_err(|e| format!("cannot put the limit back: {e}"))?;
            match made {
                Ok(made) => {
                    clean_up(made);
                    return Ok(format!(
                        "{kind}: failed at {} limits ({}), made at {limit}",
                        failures.len(),
                        failures.join("; ")
                    ));
                }
                Err(e) => {
                    let after = listing()?;
                    if after != before {
                        return Err(format!(
                            "{kind}: failed at a limit of {limit} descriptors ({e}) and \
                             left the namespace {after:?}, not {before:?}"
                        ));
                    }
                    failures.push(format!("{limit}: {e}"));
                }
            }
        }
        Err(format!(
            "{kind}: never made, even with 255 descriptors ({})",
            failures.last().map_or("", String::as_str)
        ))
    }

    fn play(role: &str, args: &[String]) -> i32 {
        assert_eq!(role, "creates");
        let namespace = std::path::PathBuf::from(std::env::var_os("FILEMAP_DIR").unwrap());
        let file = std::path::Path::new(&args[0]);
        let name = unique("limited");
        let results = [
            at_every_limit(
                "persistent file-backed",
                &namespace,
                || {
                    Mapping::from_path(file)
                        .size(4096)
                        .name(name.as_str())
                        .persistent(true)
                        .create()
                },
                |_| Mapping::remove(name.as_str()).unwrap(),
            ),
            at_every_limit(
                "mapping",
                &namespace,
                || Mapping::create_new(name.as_str(), 4096),
                drop,
            ),
            at_every_limit(
                "channel",
                &namespace,
                || Sender::create_or_open(name.as_str(), 4096),
                drop,
            ),
            at_every_limit(
                "mutex",
                &namespace,
                || NamedMutex::create_or_open(name.as_str()),
                drop,
            ),
            at_every_limit(
                "persistent mapping",
                &namespace,
                || {
                    Mapping::options()
                        .size(4096)
                        .persistent(true)
                        .create_new(name.as_str())
                },
                |_| Mapping::remove(name.as_str()).unwrap(),
            ),
            at_every_limit(
                "event",
                &namespace,
                || NamedEvent::create_or_open(name.as_str(), EventReset::Manual, false),
                drop,
            ),
            at_every_limit(
                "semaphore",
                &namespace,
                || NamedSemaphore::create_or_open(name.as_str(), 0, 4),
                drop,
            ),
            at_every_limit(
                "topic",
                &namespace,
                || Publisher::create_or_open(name.as_str(), &TopicOptions::new()),
                drop,
            ),
            at_every_limit(
                "inbox",
                &namespace,
                || Inbox::create_or_open(name.as_str(), &InboxOptions::new()),
                drop,
            ),
            at_every_limit(
                "service",
                &namespace,
                || Server::create_or_open(name.as_str(), &ServiceOptions::new()),
                drop,
            ),
            // Opens of an object this process holds: a failed one takes nothing away.
            Mapping::create_new(name.as_str(), 4096)
                .map_err(|e| format!("held mapping: {e}"))
                .and_then(|held| {
                    let opened = at_every_limit(
                        "mapping open",
                        &namespace,
                        || Mapping::open(name.as_str()),
                        drop,
                    );
                    drop(held);
                    opened
                }),
            NamedMutex::create_or_open(name.as_str())
                .map_err(|e| format!("held mutex: {e}"))
                .and_then(|held| {
                    let opened = at_every_limit(
                        "mutex open",
                        &namespace,
                        || NamedMutex::open(name.as_str()),
                        drop,
                    );
                    drop(held);
                    opened
                }),
        ];
        let mut code = 0;
        for result in results {
            match result {
                Ok(said) => println!("{said}"),
                Err(problem) => {
                    eprintln!("{problem}");
                    code = 1;
                }
            }
        }
        // (A failure is an error, never a panic: a panic would have ended the child.)
        code
    }
}
