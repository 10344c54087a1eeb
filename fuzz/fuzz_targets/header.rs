//! The entry header parser over arbitrary bytes (see `filemap::fuzzing::header`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| filemap::fuzzing::header(data));
