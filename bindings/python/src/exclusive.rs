//! `Exclusive<T>`: a value reached only through `&mut`, hence `Sync` for any `Send` `T`.
//! Python classes must be `Sync`; the endpoints (`Sender`, `Receiver`, ...) are `Send`
//! but used by one thread at a time, which Python's exclusive borrow of the object
//! (`&mut self`) already enforces.

/// A value reachable only through `&mut Exclusive<T>`.
pub(crate) struct Exclusive<T>(T);

// SAFETY: a shared `&Exclusive<T>` gives no access to the `T` (there is no `&self` method
// reaching it), so sharing one between threads shares nothing; `get_mut` needs `&mut`,
// which is exclusive, and `T: Send` lets that access happen on any thread.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    pub(crate) fn new(value: T) -> Exclusive<T> {
        Exclusive(value)
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// The value of an endpoint that may have been closed (`None`): `ValueError` naming `what`
/// if it was.
pub(crate) fn open_mut<'a, T>(
    inner: &'a mut Option<Exclusive<T>>,
    what: &str,
) -> pyo3::PyResult<&'a mut T> {
    inner
        .as_mut()
        .map(Exclusive::get_mut)
        .ok_or_else(|| crate::errors::closed(what))
}
