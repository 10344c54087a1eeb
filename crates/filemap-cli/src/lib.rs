//! The library side of the `filemap` command-line tool: the two-process benchmark harness
//! behind `filemap bench`, shared with the side-by-side suite in `crates/filemap-bench` (so
//! each measurement is written once). The commands themselves live in the binary.

pub mod bench;
