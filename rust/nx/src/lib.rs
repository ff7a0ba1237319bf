//! NX-gzip probing for the drafast NX driver: find the IBM Power compression accelerator under an
//! injectable host root and return typed records.
//!
//! Three sources, all read-only and bounded:
//! * PowerVM LPAR: `sys/devices/vio/ibm,compression-v1/nx_gzip_caps` and the VAS credit pools
//!   ([`vio`]);
//! * PowerNV (bare metal): `ibm,powerN-nx` nodes in the device tree, with their chip ids
//!   ([`devtree`]);
//! * the character device `dev/crypto/nx-gzip` or its sysfs `dev` attribute ([`chardev`]).
//!
//! Missing hardware is a [`Probe`] with a `reason`; a malformed tree is an [`Error`] naming the
//! file. No pyo3 here: `rust/py` binds it.

pub mod chardev;
pub mod devtree;
mod error;
mod files;
mod probe;
pub mod value;
pub mod vio;

pub use chardev::{CharDevice, Source};
pub use devtree::Engine;
pub use error::Error;
pub use files::MAX_FILE_BYTES;
pub use probe::{probe, Platform, Probe};
pub use vio::VioCaps;
