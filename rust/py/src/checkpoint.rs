//! Checkpoint functions and the `Checkpoint` store class.

use std::sync::Arc;

use drafast_checkpoint::{self as ckpt, Records, Store};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::args::{borrow_pairs, borrow_strings, pairs, strings};

pyo3::import_exception!(drafast.errors, CheckpointError);

/// `list[tuple[str, bytes]]`
type Items<'py> = Vec<(String, Bound<'py, PyBytes>)>;

pub(crate) fn error(e: impl ToString) -> PyErr {
    CheckpointError::new_err(e.to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CHECKPOINT_FORMAT_VERSION", ckpt::FORMAT_VERSION)?;
    m.add_function(wrap_pyfunction!(encode_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(decode_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(load_checkpoint, m)?)?;
    m.add_class::<Checkpoint>()
}

/// Encode a checkpoint file image: envelope line + canonical JSON payload (keys sorted).
#[pyfunction]
fn encode_checkpoint<'py>(
    py: Python<'py>,
    generation: &Bound<'py, PyAny>,
    entries: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let generation: u64 = generation
        .extract()
        .map_err(|_| PyValueError::new_err("generation: expected an int in range(2**64)"))?;
    let holders = pairs(entries, "entries")?;
    let entries = borrow_pairs(&holders)?;
    let image = py.detach(|| {
        Records::from_entries(entries.iter().copied())
            .map(|records| ckpt::encode(generation, &records))
    });
    Ok(PyBytes::new(
        py,
        &image.map_err(|e| error(format!("checkpoint: {e}")))?,
    ))
}

/// Verify and decode a checkpoint image; `name` is used in error messages (the file path).
#[pyfunction]
fn decode_checkpoint<'py>(py: Python<'py>, data: &[u8], name: &str) -> PyResult<(u64, Items<'py>)> {
    let snapshot = py.detach(|| ckpt::decode(data, name)).map_err(error)?;
    let records = snapshot.records.iter();
    let items = records
        .map(|(k, v)| (k.to_owned(), PyBytes::new(py, v.as_bytes())))
        .collect();
    Ok((snapshot.generation, items))
}

/// Read the state a checkpoint's files hold (base + journal) without changing them.
#[pyfunction]
fn load_checkpoint<'py>(py: Python<'py>, path: &str) -> PyResult<(u64, Items<'py>)> {
    let snapshot = py.detach(|| ckpt::load(path)).map_err(error)?;
    let records = snapshot.records.iter();
    let items = records
        .map(|(k, v)| (k.to_owned(), PyBytes::new(py, v.as_bytes())))
        .collect();
    Ok((snapshot.generation, items))
}

/// A crash-safe key -> JSON record store backed by a base file and its journal.
#[pyclass(frozen, module = "drafast._native")]
pub struct Checkpoint {
    /// Shared with `IoWorker` threads running background commits.
    pub(crate) store: Arc<Store>,
    path: String,
}

#[pymethods]
impl Checkpoint {
    #[new]
    fn new(py: Python<'_>, path: String) -> PyResult<Self> {
        let store = py.detach(|| Store::open(&path)).map_err(error)?;
        Ok(Checkpoint {
            store: Arc::new(store),
            path,
        })
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    #[getter]
    fn journal_path(&self) -> String {
        self.store.journal_path().display().to_string()
    }

    #[getter]
    fn generation(&self) -> u64 {
        self.store.generation()
    }

    /// Number of durable writes made by this object (for group-commit accounting).
    #[getter]
    fn commits(&self) -> u64 {
        self.store.commits()
    }

    fn get<'py>(&self, py: Python<'py>, key: &str) -> Option<Bound<'py, PyBytes>> {
        let snapshot = self.store.snapshot();
        snapshot
            .records
            .get(key)
            .map(|v| PyBytes::new(py, v.as_bytes()))
    }

    fn keys(&self) -> Vec<String> {
        self.store
            .snapshot()
            .records
            .iter()
            .map(|(k, _)| k.to_owned())
            .collect()
    }

    fn items<'py>(&self, py: Python<'py>) -> Items<'py> {
        let snapshot = self.store.snapshot();
        let records = snapshot.records.iter();
        records
            .map(|(k, v)| (k.to_owned(), PyBytes::new(py, v.as_bytes())))
            .collect()
    }

    fn __len__(&self) -> usize {
        self.store.snapshot().records.len()
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        let key = key.cast::<PyString>().ok().and_then(|k| k.to_str().ok());
        key.is_some_and(|k| self.store.snapshot().records.get(k).is_some())
    }

    fn __repr__(&self) -> String {
        let snapshot = self.store.snapshot();
        format!(
            "Checkpoint({:?}, generation={}, records={})",
            self.path,
            snapshot.generation,
            snapshot.records.len()
        )
    }

    /// Apply ``puts`` then ``deletes`` in one durable write; return the new generation.
    fn commit(
        &self,
        py: Python<'_>,
        puts: &Bound<'_, PyAny>,
        deletes: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let (put_holders, delete_holders) = (pairs(puts, "puts")?, strings(deletes, "deletes")?);
        let (puts, deletes) = (
            borrow_pairs(&put_holders)?,
            borrow_strings(&delete_holders)?,
        );
        py.detach(|| self.store.commit(&puts, &deletes))
            .map_err(error)
    }
}
