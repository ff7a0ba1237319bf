//! CPU picking: `CpuTopology`, `cpuset_normalize`, `cpuset_take`.
//!
//! Compute-only and microseconds long, so they run inline with the GIL held (releasing and
//! re-taking it would cost more than the work).

use drafast_cpuset as cs;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::import_exception!(drafast.errors, CpuListError);
pyo3::import_exception!(drafast.errors, CpuAllocationError);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CpuTopology>()?;
    m.add_function(wrap_pyfunction!(cpuset_normalize, m)?)?;
    m.add_function(wrap_pyfunction!(cpuset_take, m)?)
}

fn parse(text: &str) -> PyResult<cs::CpuSet> {
    cs::CpuSet::parse(text).map_err(|e| CpuListError::new_err(e.to_string()))
}

/// Where each logical CPU sits; immutable, built once per host (or per test topology).
#[pyclass(frozen, module = "drafast._native")]
pub struct CpuTopology {
    inner: cs::Topology,
}

#[pymethods]
impl CpuTopology {
    #[new]
    fn new(
        cpus: Vec<i64>,
        sockets: Vec<i64>,
        numa_nodes: Vec<i64>,
        cores: Vec<i64>,
        uncores: Vec<i64>,
    ) -> PyResult<Self> {
        let ids = cpus
            .iter()
            .enumerate()
            .map(|(i, &cpu)| {
                u32::try_from(cpu)
                    .ok()
                    .filter(|&c| c <= cs::MAX_CPU_ID)
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "cpus[{i}]: CPU id {cpu} is not in 0..{}",
                            cs::MAX_CPU_ID
                        ))
                    })
            })
            .collect::<PyResult<Vec<u32>>>()?;
        let inner = cs::Topology::new(&ids, &sockets, &numa_nodes, &cores, &uncores)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(CpuTopology { inner })
    }

    #[getter]
    fn num_cpus(&self) -> usize {
        self.inner.num_cpus()
    }

    #[getter]
    fn num_cores(&self) -> usize {
        self.inner.num_cores()
    }

    #[getter]
    fn num_sockets(&self) -> usize {
        self.inner.num_sockets()
    }

    #[getter]
    fn num_numa_nodes(&self) -> usize {
        self.inner.num_numa_nodes()
    }

    #[getter]
    fn num_uncores(&self) -> usize {
        self.inner.num_uncores()
    }

    #[getter]
    fn cpus_per_core(&self) -> usize {
        self.inner.cpus_per_core()
    }

    #[getter]
    fn cpus(&self) -> String {
        self.inner.cpus().to_string()
    }

    fn __repr__(&self) -> String {
        let t = &self.inner;
        format!(
            "CpuTopology(cpus='{}', sockets={}, numa_nodes={}, cores={}, uncores={})",
            t.cpus(),
            t.num_sockets(),
            t.num_numa_nodes(),
            t.num_cores(),
            t.num_uncores()
        )
    }
}

/// Parse a cpulist and return its canonical form.
#[pyfunction]
fn cpuset_normalize(text: &str) -> PyResult<String> {
    Ok(parse(text)?.to_cpulist())
}

/// Pick `count` CPUs of `free` as the kubelet's static policy would (see drafast_cpuset::take).
#[pyfunction]
#[pyo3(signature = (topology, free, count, *, spread_numa=false, full_cores=false, prefer_uncore=true))]
fn cpuset_take(
    topology: &CpuTopology,
    free: &str,
    count: i64,
    spread_numa: bool,
    full_cores: bool,
    prefer_uncore: bool,
) -> PyResult<String> {
    let free_set = parse(free)?;
    let options = cs::TakeOptions {
        spread_numa,
        full_cores,
        prefer_uncore,
    };
    // Below 1 is refused by `take` itself; only the sign needs saving from the cast.
    let asked = usize::try_from(count.max(0)).unwrap_or(usize::MAX);
    match cs::take(&topology.inner, &free_set, asked, options) {
        Ok(picked) => Ok(picked.to_cpulist()),
        Err(cs::AllocationError::OutsideTopology { cpus }) => Err(CpuListError::new_err(format!(
            "free cpulist {free:?}: CPUs {cpus} are not in the topology ({})",
            topology.inner.cpus()
        ))),
        Err(cs::AllocationError::Refused { free, reason, .. }) => Err(CpuAllocationError::new_err(
            format!("asked for {count} CPUs, {free} free: {reason}"),
        )),
    }
}
