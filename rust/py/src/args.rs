//! Argument extraction for sequence arguments, with `ValueError` naming the bad element.
//!
//! Items are borrowed as `&str` / `&[u8]` from the Python objects (kept alive by the returned
//! holders), so the data is not copied and can be used with the GIL released.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

/// `Sequence[tuple[str, bytes]]` -> the tuples' items.
pub fn pairs<'py>(
    arg: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Vec<(Bound<'py, PyString>, Bound<'py, PyBytes>)>> {
    let wrong = |at: String| PyValueError::new_err(format!("{at}: expected a (str, bytes) tuple"));
    items(arg, what, "(str, bytes) tuples")?
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let tuple = item
                .cast::<PyTuple>()
                .map_err(|_| wrong(format!("{what}[{i}]")))?;
            if tuple.len() != 2 {
                return Err(wrong(format!("{what}[{i}]")));
            }
            let (key, value) = (tuple.get_item(0)?, tuple.get_item(1)?);
            let key = key
                .cast_into::<PyString>()
                .map_err(|_| wrong(format!("{what}[{i}][0]")))?;
            let value = value
                .cast_into::<PyBytes>()
                .map_err(|_| wrong(format!("{what}[{i}][1]")))?;
            Ok((key, value))
        })
        .collect()
}

/// `Sequence[str]` (a lone `str` is rejected, not iterated character by character).
pub fn strings<'py>(arg: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyString>>> {
    items(arg, what, "str")?
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            item.cast_into::<PyString>()
                .map_err(|_| PyValueError::new_err(format!("{what}[{i}]: expected a str")))
        })
        .collect()
}

/// Borrows `(key, value)` views from `pairs` holders.
pub fn borrow_pairs<'a>(
    holders: &'a [(Bound<'_, PyString>, Bound<'_, PyBytes>)],
) -> PyResult<Vec<(&'a str, &'a [u8])>> {
    holders
        .iter()
        .map(|(k, v)| Ok((k.to_str()?, v.as_bytes())))
        .collect()
}

/// Borrows `&str` views from `strings` holders.
pub fn borrow_strings<'a>(holders: &'a [Bound<'_, PyString>]) -> PyResult<Vec<&'a str>> {
    holders.iter().map(|s| s.to_str()).collect()
}

fn items<'py>(arg: &Bound<'py, PyAny>, what: &str, of: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let wrong = || PyValueError::new_err(format!("{what}: expected a sequence of {of}"));
    if arg.is_instance_of::<PyString>() || arg.is_instance_of::<PyBytes>() {
        return Err(wrong());
    }
    arg.try_iter().map_err(|_| wrong())?.collect()
}
