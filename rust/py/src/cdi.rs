//! CDI spec functions.

use std::path::Path;

use drafast_cdi as cdi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

pyo3::import_exception!(drafast.errors, CDIError);

fn error(e: cdi::Error) -> PyErr {
    CDIError::new_err(e.to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CDI_VERSIONS", cdi::VERSIONS.to_vec())?;
    m.add_function(wrap_pyfunction!(cdi_validate_vendor, m)?)?;
    m.add_function(wrap_pyfunction!(cdi_validate_class, m)?)?;
    m.add_function(wrap_pyfunction!(cdi_validate_device_name, m)?)?;
    m.add_function(wrap_pyfunction!(cdi_minimum_version, m)?)?;
    m.add_function(wrap_pyfunction!(cdi_render_spec, m)?)?;
    m.add_function(wrap_pyfunction!(cdi_write_spec, m)?)?;
    m.add_function(wrap_pyfunction!(cdi_remove_spec, m)?)
}

#[pyfunction]
fn cdi_validate_vendor(name: &str) -> PyResult<()> {
    cdi::validate_vendor(name).map_err(error)
}

#[pyfunction]
fn cdi_validate_class(name: &str) -> PyResult<()> {
    cdi::validate_class(name).map_err(error)
}

#[pyfunction]
fn cdi_validate_device_name(name: &str) -> PyResult<()> {
    cdi::validate_device_name(name).map_err(error)
}

/// The lowest cdiVersion that can express this spec (JSON, ``cdiVersion`` ignored).
#[pyfunction]
fn cdi_minimum_version(spec: &[u8]) -> PyResult<&'static str> {
    cdi::minimum_version_of(spec).map_err(error)
}

/// Validate a spec, set ``cdiVersion`` to the minimum needed and return its canonical JSON.
#[pyfunction]
fn cdi_render_spec<'py>(py: Python<'py>, spec: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &cdi::render(spec).map_err(error)?))
}

/// Render ``spec`` and write it atomically as ``directory/file_name``; returns the path written.
///
/// Keeps the GIL on purpose: this is a ~30 µs write on tmpfs, called inline on the event loop.
/// Releasing the GIL would let a busy worker thread take it, and getting it back can cost up to
/// the interpreter's 5 ms switch interval -- measured at 4x the cost of the write itself.
#[pyfunction]
fn cdi_write_spec(directory: &str, file_name: &str, spec: &[u8]) -> PyResult<String> {
    let path = cdi::write_spec(Path::new(directory), file_name, spec).map_err(error)?;
    // Built from two str arguments: valid UTF-8.
    Ok(path.to_string_lossy().into_owned())
}

/// Remove ``directory/file_name``; False if it did not exist. Keeps the GIL, as the write does.
#[pyfunction]
fn cdi_remove_spec(directory: &str, file_name: &str) -> PyResult<bool> {
    cdi::remove_spec(Path::new(directory), file_name).map_err(error)
}
