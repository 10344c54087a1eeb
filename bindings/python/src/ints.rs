//! Unsigned integer arguments (sizes, offsets, counts), taken through
//! `#[pyo3(from_py_with = ints::NAME)]`: any Python int is read, then checked against the
//! parameter's Rust type, and one that does not fit is an `InvalidArgumentError` (a
//! `ValueError`) that names the parameter. (pyo3's own conversion raises an
//! `OverflowError` that names none: "can't convert negative int to unsigned".)

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;

use crate::errors::invalid;

/// A Rust type an unsigned argument is converted to.
pub(crate) trait Argument: Sized {
    fn convert(obj: &Bound<'_, PyAny>, parameter: &str) -> PyResult<Self>;
}

macro_rules! unsigned_types {
    ($($t:ty),*) => {$(
        impl Argument for $t {
            fn convert(obj: &Bound<'_, PyAny>, parameter: &str) -> PyResult<$t> {
                let value = checked_int(obj, parameter, <$t>::MAX as u128)?;
                // (Within the type's range: checked.)
                <$t>::try_from(value)
                    .map_err(|_| invalid(obj.py(), format!("{parameter} is out of range")))
            }
        }
    )*};
}

unsigned_types!(u32, u64, usize);

/// An optional argument: `None`, or an int checked as above.
impl<T: Argument> Argument for Option<T> {
    fn convert(obj: &Bound<'_, PyAny>, parameter: &str) -> PyResult<Option<T>> {
        if obj.is_none() {
            return Ok(None);
        }
        T::convert(obj, parameter).map(Some)
    }
}

/// `obj` as an int from 0 to `max`, or the error that says which parameter it is not.
fn checked_int(obj: &Bound<'_, PyAny>, parameter: &str, max: u128) -> PyResult<u128> {
    let py = obj.py();
    // (Anything with `__index__`, as pyo3's own conversion takes; anything else is its
    // `TypeError`, which pyo3 prefixes with the parameter's name.)
    let value = match obj.extract::<i128>() {
        Ok(value) => Some(value),
        Err(e) if e.is_instance_of::<PyOverflowError>(py) => None,
        Err(e) => return Err(e),
    };
    let got = match value {
        Some(value) => format!("got {value}"),
        None => "got an int wider than 128 bits".to_string(),
    };
    let negative = match value {
        Some(value) => value < 0,
        // (The sign of its `__index__`, which the conversion read: the object's own `<`
        // may say otherwise, or be missing.)
        None => py
            .import("operator")?
            .getattr("index")?
            .call1((obj,))?
            .lt(0)?,
    };
    if negative {
        return Err(invalid(
            py,
            format!("{parameter} must not be negative ({got})"),
        ));
    }
    match value.and_then(|v| u128::try_from(v).ok()) {
        Some(value) if value <= max => Ok(value),
        _ => Err(invalid(
            py,
            format!("{parameter} is too large ({got}; at most {max})"),
        )),
    }
}

/// One extractor per parameter name and type, for `from_py_with`, so that its errors
/// name the parameter.
macro_rules! parameters {
    ($($extractor:ident($name:literal): $t:ty),* $(,)?) => {$(
        #[doc = concat!("The `", $name, "` argument.")]
        pub(crate) fn $extractor(obj: &Bound<'_, PyAny>) -> PyResult<$t> {
            <$t as Argument>::convert(obj, $name)
        }
    )*};
}

parameters! {
    capacity("capacity"): u64,
    size("size"): u64,
    size_or_none("size"): Option<u64>,
    offset("offset"): u64,
    index_offset("offset"): usize,
    length_or_none("length"): Option<u64>,
    index_length_or_none("length"): Option<usize>,
    permissions_or_none("permissions"): Option<u32>,
    senders("senders"): u32,
    clients("clients"): u32,
    max_subscribers("max_subscribers"): u32,
    history("history"): u32,
    initial("initial"): u32,
    maximum("maximum"): u32,
    count("count"): u32,
    client("client"): u32,
    number("number"): u64,
}
