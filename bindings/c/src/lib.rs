//! The C interface of filemap (`include/filemap.h`, generated from this crate by cbindgen).
//!
//! Every function that can fail returns a `filemap_status` (0 is success) and writes its
//! results through out-pointers (the `_close` functions and `filemap_view_unmap` return
//! nothing; `filemap_view_data` and `filemap_view_size` say a failure with NULL and 0); `filemap_last_error_message` gives the message of the calling thread's last
//! failure. Objects are opaque handles made by `..._create...`/`..._open` and freed by
//! their `..._close` (a view by `filemap_view_unmap`); closing NULL does nothing. Each
//! handle carries its type's tag, checked wherever one is used (`handle.rs`). No panic
//! crosses the boundary: a panic inside filemap becomes `FILEMAP_PANIC`.

#![allow(clippy::missing_safety_doc)] // the header documents each function's contract
#![allow(non_camel_case_types)] // the C names of the handle types

mod channel;
mod error;
mod handle;
mod mapping;
mod parties;
mod sync;
mod topic;
mod wait;

pub use channel::*;
pub use error::*;
pub use mapping::*;
pub use parties::*;
pub use sync::*;
pub use topic::*;
pub use wait::*;

/// The value of a `timeout_ms` argument that waits for ever.
pub const FILEMAP_INFINITE: i64 = -1;
