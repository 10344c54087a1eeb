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
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-windows-overlap", 10)?;
    /// m.view().map()?.write_at(0, b"0123456789")?;
    /// let mut seen = Vec::new();
    /// for view in m.windows(4)?.overlap(2) {
    ///     let view = view?;
    ///     seen.push(String::from_utf8(view.read_vec(0, view.len())?).unwrap());
    /// }
    /// assert_eq!(seen, ["012345", "456789", "89"]);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn overlap(mut self, overlap: u64) -> Self {
        self.overlap = overlap;
        self
    }

    /// Advice applied to each view as it is mapped (default [`Advice::Sequential`]);
    /// `None` for none.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Advice, Mapping};
    /// let m = Mapping::create_new("doc-windows-advice", 8192)?;
    /// let views = m.windows(4096)?.advice(None).collect::<filemap::Result<Vec<_>>>()?;
    /// assert_eq!(views.len(), 2);
    /// // Each view is advised as it is mapped: DontNeed is refused on a copy view.
    /// let mut copies = m.windows(4096)?.access(Access::Copy).advice(Advice::DontNeed);
    /// assert!(matches!(copies.next(), Some(Err(filemap::Error::Unsupported { .. }))));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn advice(mut self, advice: impl Into<Option<Advice>>) -> Self {
        self.advice = advice.into();
        self
    }

    /// The views' access (default [`Access::Read`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::{Access, Mapping};
    /// let m = Mapping::create_new("doc-windows-access", 3 * 4096)?;
    /// assert_eq!(m.windows(4096)?.next().unwrap()?.access(), Access::Read);
    /// for (i, view) in m.windows(4096)?.access(Access::Write).enumerate() {
    ///     view?.write_at(0, &[i as u8 + 1])?;
    /// }
    /// let v = m.view().map()?;
    /// let firsts = [v.read_vec(0, 1)?, v.read_vec(4096, 1)?, v.read_vec(8192, 1)?];
    /// assert_eq!(firsts, [[1], [2], [3]]);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Starts at `offset` instead of 0.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// let m = filemap::Mapping::create_new("doc-windows-start-at", 10_000)?;
    /// let offsets = m
    ///     .windows(4096)?
    ///     .start_at(5000)
    ///     .map(|view| Ok(view?.offset()))
    ///     .collect::<filemap::Result<Vec<_>>>()?;
    /// assert_eq!(offsets, [5000, 9096]);
    /// assert_eq!(m.windows(4096)?.start_at(10_000).count(), 0);
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
