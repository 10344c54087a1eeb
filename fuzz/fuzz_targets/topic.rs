//! A topic's publisher and subscribers over shared memory a hostile writer scribbled on
//! (see `filemap::fuzzing::topic`). Needs `FILEMAP_DIR` (scripts/fuzz sets it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| filemap::fuzzing::topic(data));
