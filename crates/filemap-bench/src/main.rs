//! `cargo run -p filemap-bench --release -- [--report] [--json]`: filemap side by side with
//! its peers in one run (see the library's documentation); also the partner process of its
//! two-process measurements (`filemap-bench bench-partner <role> ...`).

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = if args.first().map(String::as_str) == Some(filemap_harness::PARTNER_COMMAND) {
        filemap_bench::partner_main(&args[1..])
    } else {
        filemap_bench::suite::main(&args)
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("filemap-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("filemap-bench compares filemap with Linux builds of its peers: run it on Linux");
}
