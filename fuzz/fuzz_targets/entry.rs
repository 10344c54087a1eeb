//! A namespace entry of any kind made of arbitrary bytes, opened as every kind and used
//! (see `filemap::fuzzing::open_entry`). Needs `FILEMAP_DIR` (scripts/fuzz sets it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| filemap::fuzzing::open_entry(data));
