//! # filemap
//!
//! The Windows file-mapping model for Rust on Linux and Windows: named and file-backed
//! mapping objects, views at any offset, durable flushes, copy-on-write, one namespace
//! with `Local\` and `Global\` names, lifetimes that survive crashes, and typed errors.
//!
//! | Win32 | filemap |
//! |---|---|
//! | `CreateFileMapping(INVALID_HANDLE_VALUE, …, name)` | [`Mapping::create_new`], [`Mapping::create_or_open`] → [`Disposition`] |
//! | `CreateFile` + `CreateFileMapping(hFile, …)` | [`Mapping::from_path`], [`Mapping::from_file`] |
//! | `OpenFileMapping` | [`Mapping::open`], [`Mapping::open_with`] |
//! | `MapViewOfFile` | [`Mapping::view`] → [`ViewBuilder`] → [`View`] |
//! | `FlushViewOfFile` + `FlushFileBuffers` | [`View::flush`] |
//! | `UnmapViewOfFile`, `CloseHandle` | `Drop`, in any order |
//! | `bInheritHandle`, `DuplicateHandle` | [`CommandExt::share_mapping`], [`Mapping::send_to`] |
//! | `CreateMutex`, `WaitForSingleObject`, `WAIT_ABANDONED` | [`sync::NamedMutex`], [`sync::MutexGuard::abandoned`] |
//! | `CreateEvent`, `CreateSemaphore` | [`sync::NamedEvent`], [`sync::NamedSemaphore`] |
//! | `WaitForMultipleObjects` (any, all) | [`wait_any`], [`wait_all`] |
//! | shared `int` + named mutex | [`sync::SharedMutex`] |
//! | `FILE_MAP_COPY` + "copy the changed pages back" | [`View::modified_pages`], [`View::commit`] |
//! | `SEC_RESERVE` + `VirtualAlloc(MEM_COMMIT)` | [`CreateOptions::reserve`], [`Mapping::commit`] |
//! | a section + two events as a message queue | [`channel::Sender`], [`channel::Receiver`] |
//! | someone else's section (`psm_…`, `shm_open`) | [`Mapping::open_foreign`] |
//!
//! Files larger than memory are read through [`Mapping::windows`]; `docs/win32-guide.md` in
//! the repository walks through every call of the classic tutorials, and
//! `docs/architecture.md` describes the design as built (the layers, the entry format, the
//! lifetime and ring protocols, and what keeps safe calls sound against any writer).
//!
//! A tour:
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
//! use filemap::{Access, Mapping};
//!
//! // A named, memory-backed object: gone when the last handle in any process closes.
//! let m = Mapping::create_new("Local\\tour", 1 << 20)?;
//! let v = m.view().offset(4096).len(64).map()?;
//! v.write_at(0, b"shared")?;
//!
//! // Another process opens it by name; here, a read-only handle in the same process.
//! let r = Mapping::open_with("tour", Access::Read)?;
//! assert_eq!(r.view().offset(4096).len(6).map()?.read_vec(0, 6)?, b"shared");
//!
//! // Errors say what was wrong.
//! let err = Mapping::open("no/such").unwrap_err();
//! assert_eq!(err.to_string(), "invalid name \"no/such\": '/' at byte 2 is not allowed");
//! # Ok::<(), filemap::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Reads and writes of shared memory are sound under other processes' writes, and a fault
// under them (a file cut short, an I/O error) an error, through routines written for
// x86_64 (`copy.rs`, `word.rs`, the fault handlers). Elsewhere the fallbacks would mix
// atomic accesses of different sizes on the same bytes (undefined behaviour in Rust's
// memory model) and a fault would end the process: refused until they are written.
#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "filemap builds for x86_64 only: its racy copies, word accesses and fault handling \
     have no routines for other architectures yet"
);

pub mod channel;
mod copy;
mod error;
mod foreign;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod header;
pub mod inbox;
mod mapping;
mod name;
pub mod namespace;
mod object;
mod rings;
pub mod service;
mod share;
mod sliding;
pub mod sync;
mod sys;
pub mod topic;
mod view;
mod vocabulary;
pub mod wait;
mod word;

pub use error::{BackingFileProblem, Error, ErrorCategory, HumanDuration, NameProblem, Result};
pub use mapping::{CreateOptions, FileOptions, Mapping};
pub use name::{IntoName, Name, Scope};
pub use share::{CommandExt, SharedHandles};
pub use sliding::Windows;
pub use view::{View, ViewBuilder, allocation_granularity, page_size};
pub use vocabulary::{
    Access, Advice, Disposition, Kind, LargePages, Protect, Protection, ShareMode,
};
pub use wait::{wait_all, wait_any};
