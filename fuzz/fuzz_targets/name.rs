//! Name parsing over arbitrary bytes (see `filemap::fuzzing::name`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| filemap::fuzzing::name(data));
