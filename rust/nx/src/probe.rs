//! The whole probe: what the host offers, and why nothing is usable when that is the case.

use std::path::Path;

use crate::chardev::{probe_char_device, CharDevice, DEVICE_NODE, SYSFS_DEV};
use crate::devtree::{find_root, probe_engines, Engine, DEVICE_TREE_PROC, DEVICE_TREE_SYS};
use crate::error::{malformed, Error};
use crate::files::{stat, Kind};
use crate::vio::{probe_vio, VioCaps, VIO_CAPS_DIR};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// No NX-gzip hardware found.
    None,
    /// A PowerVM LPAR (`nx_gzip_caps` present); wins if a device tree also lists NX units.
    PowerVm,
    /// Bare metal: NX units in the device tree.
    PowerNv,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::None => "",
            Platform::PowerVm => "powervm",
            Platform::PowerNv => "powernv",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub platform: Platform,
    pub vio: Option<VioCaps>,
    /// The device-tree root walked, if there is one.
    pub device_tree: Option<String>,
    /// NX units from the device tree, by chip id (PowerNV).
    pub engines: Vec<Engine>,
    pub char_device: Option<CharDevice>,
    /// Empty when the accelerator is usable (hardware and device node found); otherwise why not,
    /// in words for the log.
    pub reason: String,
}

impl Probe {
    pub fn usable(&self) -> bool {
        self.reason.is_empty()
    }
}

/// Probes NX-gzip under `root` (`/` on the host itself, or wherever the host's `/sys`, `/proc`
/// and `/dev` are visible). Missing hardware is a result with a reason, not an error; an error
/// names the file that is malformed or unreadable.
pub fn probe(root: &Path) -> Result<Probe, Error> {
    match stat(root)? {
        Kind::Dir => {}
        Kind::Missing => return Err(malformed(root, "host root does not exist")),
        _ => return Err(malformed(root, "host root is not a directory")),
    }
    let vio = probe_vio(root)?;
    let tree = find_root(root)?;
    let engines = match &tree {
        Some(tree) => probe_engines(tree)?,
        None => Vec::new(),
    };
    let char_device = probe_char_device(root)?;
    let platform = if vio.is_some() {
        Platform::PowerVm
    } else if !engines.is_empty() {
        Platform::PowerNv
    } else {
        Platform::None
    };
    let reason = reason(root, platform, tree.as_deref(), char_device.as_ref());
    Ok(Probe {
        platform,
        vio,
        device_tree: tree.map(|t| t.display().to_string()),
        engines,
        char_device,
        reason,
    })
}

fn reason(
    root: &Path,
    platform: Platform,
    tree: Option<&Path>,
    char_device: Option<&CharDevice>,
) -> String {
    let at = |rel: &str| root.join(rel).display().to_string();
    if platform == Platform::None {
        let tree = match tree {
            Some(tree) => format!(
                "{} has no ibm,powerN-nx node with N >= {}",
                tree.display(),
                crate::devtree::MIN_GENERATION
            ),
            None => format!(
                "there is no device tree at {} or {}",
                at(DEVICE_TREE_PROC),
                at(DEVICE_TREE_SYS)
            ),
        };
        return format!(
            "no NX-gzip accelerator: {} does not exist (PowerVM) and {tree} (PowerNV)",
            at(VIO_CAPS_DIR)
        );
    }
    if char_device.is_none() {
        return format!(
            "NX-gzip accelerator found ({}) but neither {} nor {} exists: \
             is the kernel's nx-gzip driver loaded?",
            platform.as_str(),
            at(DEVICE_NODE),
            at(SYSFS_DEV)
        );
    }
    String::new()
}
