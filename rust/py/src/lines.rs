//! The file driver's claim-line rewrite.

use std::path::Path;

use drafast_lines as lines;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

pyo3::import_exception!(drafast.errors, DeviceError);

pub(crate) fn error(e: lines::Error) -> PyErr {
    DeviceError::new_err(e.to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rewrite_claim_lines, m)?)
}

/// `Sequence[tuple[str, Sequence[str]]]` -> owned changes (they may move to a worker thread).
pub(crate) fn changes(arg: &Bound<'_, PyAny>) -> PyResult<Vec<lines::Change>> {
    let wrong = |i: usize| {
        PyValueError::new_err(format!(
            "changes[{i}]: expected a (claim uid, list of lines) tuple"
        ))
    };
    if arg.is_instance_of::<PyString>() {
        return Err(PyValueError::new_err(
            "changes: expected a sequence of tuples",
        ));
    }
    let items = arg
        .try_iter()
        .map_err(|_| PyValueError::new_err("changes: expected a sequence of tuples"))?;
    items
        .enumerate()
        .map(|(i, item)| {
            let item = item?;
            let tuple = item.cast::<PyTuple>().map_err(|_| wrong(i))?;
            if tuple.len() != 2 {
                return Err(wrong(i));
            }
            let uid: String = tuple.get_item(0)?.extract().map_err(|_| wrong(i))?;
            let texts = tuple.get_item(1)?;
            if texts.is_instance_of::<PyString>() {
                return Err(wrong(i));
            }
            let texts: Vec<String> = texts.extract().map_err(|_| wrong(i))?;
            if let Some(bad) = texts.iter().find(|t| t.contains('\n')) {
                return Err(PyValueError::new_err(format!(
                    "changes[{i}]: line {bad:?} contains a newline"
                )));
            }
            Ok((uid, texts))
        })
        .collect()
}

/// Apply `changes` (claim UID -> its lines; [] removes them) to `path`; True if it was written.
#[pyfunction]
#[pyo3(signature = (path, changes, durable, exact = false))]
fn rewrite_claim_lines(
    py: Python<'_>,
    path: &str,
    changes: &Bound<'_, PyAny>,
    durable: bool,
    exact: bool,
) -> PyResult<bool> {
    let changes = self::changes(changes)?;
    py.detach(|| lines::rewrite(Path::new(path), &changes, durable, exact))
        .map_err(error)
}

pub(crate) fn device_error(msg: String) -> PyErr {
    DeviceError::new_err(msg)
}
