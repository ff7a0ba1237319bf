//! `drafast._native`: the only PyO3 crate. A thin binding over `drafast-checkpoint`,
//! `drafast-cdi`, `drafast-nx`, `drafast-lines` and `drafast-cpuset`; the contract is
//! `python/drafast/_native.pyi`.
//!
//! Errors become `drafast.errors.CheckpointError` / `CDIError` / `DeviceError` / `CpuListError` /
//! `CpuAllocationError` (imported, not defined here), or `ValueError` for arguments of the wrong
//! shape. Disk I/O runs with the GIL released; compute-only calls (cpuset) run inline. Rust never
//! calls back into Python: background jobs (`IoWorker`) report through a socket the event loop
//! watches, and Python collects the outcomes.

use pyo3::prelude::*;

mod args;
mod cdi;
mod checkpoint;
mod cpuset;
mod jobs;
mod lines;
mod nx;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    checkpoint::register(m)?;
    cdi::register(m)?;
    nx::register(m)?;
    lines::register(m)?;
    jobs::register(m)?;
    cpuset::register(m)?;
    // PyO3 fills `__all__` as names are added; the stub (the contract) declares none, and
    // star-imports without it take the same public names.
    m.delattr("__all__")
}
