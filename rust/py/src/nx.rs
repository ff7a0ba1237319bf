//! NX-gzip probe: `nx_probe(host_root)` and its small frozen record classes.

use std::path::Path;

use drafast_nx as nx;
use pyo3::prelude::*;

pyo3::import_exception!(drafast.errors, DeviceError);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NxProbe>()?;
    m.add_class::<NxVioCaps>()?;
    m.add_class::<NxEngine>()?;
    m.add_class::<NxCharDevice>()?;
    m.add_function(wrap_pyfunction!(nx_probe, m)?)
}

/// Probe NX-gzip under ``host_root`` (GIL released while reading).
#[pyfunction]
fn nx_probe(py: Python<'_>, host_root: &str) -> PyResult<NxProbe> {
    let probe = py
        .detach(|| nx::probe(Path::new(host_root)))
        .map_err(|e| DeviceError::new_err(e.to_string()))?;
    Ok(NxProbe::from(probe))
}

fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| v.to_string())
}

/// The result of one probe.
#[pyclass(frozen, eq, get_all, module = "drafast._native")]
#[derive(Clone, PartialEq)]
pub struct NxProbe {
    platform: &'static str,
    vio: Option<NxVioCaps>,
    device_tree: Option<String>,
    engines: Vec<NxEngine>,
    char_device: Option<NxCharDevice>,
    reason: String,
}

#[pymethods]
impl NxProbe {
    #[getter]
    fn usable(&self) -> bool {
        self.reason.is_empty()
    }

    fn __repr__(&self) -> String {
        format!(
            "NxProbe(platform={:?}, vio={}, device_tree={:?}, engines=[{}], char_device={}, \
             reason={:?})",
            self.platform,
            self.vio
                .as_ref()
                .map_or("None".to_owned(), NxVioCaps::__repr__),
            self.device_tree,
            self.engines
                .iter()
                .map(NxEngine::__repr__)
                .collect::<Vec<_>>()
                .join(", "),
            self.char_device
                .as_ref()
                .map_or("None".to_owned(), NxCharDevice::__repr__),
            self.reason,
        )
    }
}

impl From<nx::Probe> for NxProbe {
    fn from(p: nx::Probe) -> Self {
        NxProbe {
            platform: p.platform.as_str(),
            vio: p.vio.map(NxVioCaps::from),
            device_tree: p.device_tree,
            engines: p.engines.into_iter().map(NxEngine::from).collect(),
            char_device: p.char_device.map(NxCharDevice::from),
            reason: p.reason,
        }
    }
}

/// PowerVM LPAR capabilities (`nx_gzip_caps`) and VAS credit pools.
#[pyclass(frozen, eq, get_all, module = "drafast._native")]
#[derive(Clone, PartialEq)]
pub struct NxVioCaps {
    path: String,
    req_max_processed_len: Option<u64>,
    min_compress_len: Option<u64>,
    min_decompress_len: Option<u64>,
    default_credits_total: Option<u64>,
    default_credits_used: Option<u64>,
    qos_credits_total: Option<u64>,
    qos_credits_used: Option<u64>,
}

#[pymethods]
impl NxVioCaps {
    fn __repr__(&self) -> String {
        format!(
            "NxVioCaps(path={:?}, req_max_processed_len={}, min_compress_len={}, \
             min_decompress_len={}, default_credits_total={}, default_credits_used={}, \
             qos_credits_total={}, qos_credits_used={})",
            self.path,
            opt(self.req_max_processed_len),
            opt(self.min_compress_len),
            opt(self.min_decompress_len),
            opt(self.default_credits_total),
            opt(self.default_credits_used),
            opt(self.qos_credits_total),
            opt(self.qos_credits_used),
        )
    }
}

impl From<nx::VioCaps> for NxVioCaps {
    fn from(c: nx::VioCaps) -> Self {
        NxVioCaps {
            path: c.path,
            req_max_processed_len: c.req_max_processed_len,
            min_compress_len: c.min_compress_len,
            min_decompress_len: c.min_decompress_len,
            default_credits_total: c.default_credits_total,
            default_credits_used: c.default_credits_used,
            qos_credits_total: c.qos_credits_total,
            qos_credits_used: c.qos_credits_used,
        }
    }
}

/// One PowerNV NX unit from the device tree.
#[pyclass(frozen, eq, get_all, module = "drafast._native")]
#[derive(Clone, PartialEq)]
pub struct NxEngine {
    node: String,
    compatible: String,
    generation: u32,
    chip_id: u32,
}

#[pymethods]
impl NxEngine {
    fn __repr__(&self) -> String {
        format!(
            "NxEngine(node={:?}, compatible={:?}, generation={}, chip_id={})",
            self.node, self.compatible, self.generation, self.chip_id
        )
    }
}

impl From<nx::Engine> for NxEngine {
    fn from(e: nx::Engine) -> Self {
        NxEngine {
            node: e.node,
            compatible: e.compatible,
            generation: e.generation,
            chip_id: e.chip_id,
        }
    }
}

/// The `nx-gzip` character device numbers and where they came from.
#[pyclass(frozen, eq, get_all, module = "drafast._native")]
#[derive(Clone, PartialEq)]
pub struct NxCharDevice {
    path: String,
    major: u32,
    minor: u32,
    source: &'static str,
}

#[pymethods]
impl NxCharDevice {
    fn __repr__(&self) -> String {
        format!(
            "NxCharDevice(path={:?}, major={}, minor={}, source={:?})",
            self.path, self.major, self.minor, self.source
        )
    }
}

impl From<nx::CharDevice> for NxCharDevice {
    fn from(d: nx::CharDevice) -> Self {
        NxCharDevice {
            path: d.path,
            major: d.major,
            minor: d.minor,
            source: d.source.as_str(),
        }
    }
}
