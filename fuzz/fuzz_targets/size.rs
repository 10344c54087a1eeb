//! The CLI's size and duration parsers (`64MiB`, `1.5s`) over arbitrary text: the module is
//! the CLI's own source file, compiled in here.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/filemap-cli/src/units.rs"]
mod units;

libfuzzer_sys::fuzz_target!(|data: &[u8]| units::fuzz(data));
