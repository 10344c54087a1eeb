//! A channel's receiver and sender over shared memory a hostile writer scribbled on (see
//! `filemap::fuzzing::channel`). Needs `FILEMAP_DIR` (scripts/fuzz sets it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| filemap::fuzzing::channel(data));
