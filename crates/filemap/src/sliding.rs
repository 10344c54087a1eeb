//! Sliding windows over a mapping of any size: an iterator of views of a chosen length
//! (with an optional overlap for records that cross a boundary), each advised for the
//! access pattern, so that a scan's resident memory is bounded by the window, not the file.

use crate::error::{Error, Result};
use crate::mapping::Mapping;
use crate::view::View;
use crate::vocabulary::{Access, Advice};

/// An iterator of views over consecutive windows of a mapping. Made by
/// [`Mapping::windows`]. Each item is a view of `window + overlap` bytes (less at the
/// end) starting `window` bytes after the previous one; dropping a view unmaps it, so keep
/// only the one you are working on.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
/// use filemap::{Advice, Mapping};
/// let m = Mapping::create_new("windows-demo", 10_000)?;
/// let mut starts = Vec::new();
/// for view in m.windows(4096)?.overlap(16).advice(Advice::Sequential) {
///     let view = view?;
///     starts.push((view.offset(), view.len()));
/// }
/// assert_eq!(starts, [(0, 4112), (4096, 4112), (8192, 1808)]);
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "an iterator does nothing unless consumed"]
pub struct Windows<'a> {
    mapping: &'a Mapping,
    window: u64,
    overlap: u64,
    advice: Option<Advice>,
    access: Access,
    next: u64,
}

impl<'a> Windows<'a> {
    pub(crate) fn new(mapping: &'a Mapping, window: u64) -> Result<Windows<'a>> {
        if window == 0 {
            return Err(Error::InvalidSize {
                size: 0,
                problem: "a window needs at least one byte",
            });
        }
        Ok(Windows {
            mapping,
            window,
            overlap: 0,
            advice: Some(Advice::Sequential),
            access: Access::Read,
            next: 0,
        })
    }

    /// Extra bytes each view reaches past its window (default 0), so that a record
    /// starting near the end of one window is whole in it.
    pub fn overlap(mut self, overlap: u64) -> Self {
        self.overlap = overlap;
        self
    }

    /// Advice applied to each view as it is mapped (default [`Advice::Sequential`]);
    /// `None` for none.
    pub fn advice(mut self, advice: impl Into<Option<Advice>>) -> Self {
        self.advice = advice.into();
        self
    }

    /// The views' access (default [`Access::Read`]).
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Starts at `offset` instead of 0.
    pub fn start_at(mut self, offset: u64) -> Self {
        self.next = offset;
        self
    }
}

impl Iterator for Windows<'_> {
    type Item = Result<View>;

    fn next(&mut self) -> Option<Result<View>> {
        let size = self.mapping.len();
        if self.next >= size {
            return None;
        }
        let start = self.next;
        let len = self.window.saturating_add(self.overlap).min(size - start);
        self.next = start.saturating_add(self.window);
        let view = self
            .mapping
            .view()
            .access(self.access)
            .offset(start)
            .len(len)
            .map();
        Some(view.and_then(|v| {
            if let Some(advice) = self.advice {
                v.advise(advice)?;
            }
            Ok(v)
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.mapping.len().saturating_sub(self.next);
        let n = left.div_ceil(self.window) as usize;
        (n, Some(n))
    }
}
