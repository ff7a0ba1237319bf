//! PowerVM LPAR: the VIO device of compatible `ibm,compression-v1` and its `nx_gzip_caps`
//! attribute group, plus the VAS credit pools the partition was given.
//!
//! Layout (Linux `nx-common-pseries` and `vas-sysfs`), every value `%lld\n` / `%d\n`:
//! ```text
//! sys/devices/vio/ibm,compression-v1/nx_gzip_caps/{req_max_processed_len,min_compress_len,min_decompress_len}
//! sys/devices/virtual/misc/vas/vas0/gzip/{default,qos}_capabilities/{nr_total_credits,nr_used_credits}
//! ```
//! The directory `nx_gzip_caps` is what marks an LPAR with NX-gzip (the peer driver stats it and
//! nothing else). Each attribute is optional (kernels differ); a present one must parse.

use std::path::Path;

use crate::error::{malformed, Error};
use crate::files::{lstat, read_optional, Kind};
use crate::value::parse_u64;

pub const VIO_CAPS_DIR: &str = "sys/devices/vio/ibm,compression-v1/nx_gzip_caps";
pub const VAS_GZIP_DIR: &str = "sys/devices/virtual/misc/vas/vas0/gzip";
pub const CAPS_ATTRIBUTES: [&str; 3] = [
    "req_max_processed_len",
    "min_compress_len",
    "min_decompress_len",
];

/// What an LPAR's NX-gzip capabilities say. Credits: one per open VAS window; the default pool is
/// what ordinary windows draw from, the QoS pool what high-priority windows draw from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VioCaps {
    /// The `nx_gzip_caps` directory read.
    pub path: String,
    /// Maximum bytes (input + output) one request may process.
    pub req_max_processed_len: Option<u64>,
    /// Recommended minimum input size for compression / decompression on the accelerator.
    pub min_compress_len: Option<u64>,
    pub min_decompress_len: Option<u64>,
    pub default_credits_total: Option<u64>,
    pub default_credits_used: Option<u64>,
    pub qos_credits_total: Option<u64>,
    pub qos_credits_used: Option<u64>,
}

fn read_u64(path: &Path) -> Result<Option<u64>, Error> {
    read_optional(path)?
        .map(|bytes| parse_u64(path, &bytes))
        .transpose()
}

/// `None` when the LPAR has no NX-gzip capabilities directory.
pub fn probe_vio(root: &Path) -> Result<Option<VioCaps>, Error> {
    let caps = root.join(VIO_CAPS_DIR);
    match lstat(&caps)? {
        Kind::Missing => return Ok(None),
        Kind::Dir => {}
        _ => return Err(malformed(&caps, "not a directory")),
    }
    let [req_max, min_compress, min_decompress] = CAPS_ATTRIBUTES;
    let vas = root.join(VAS_GZIP_DIR);
    let credits = |group: &str, name: &str| read_u64(&vas.join(group).join(name));
    Ok(Some(VioCaps {
        path: caps.display().to_string(),
        req_max_processed_len: read_u64(&caps.join(req_max))?,
        min_compress_len: read_u64(&caps.join(min_compress))?,
        min_decompress_len: read_u64(&caps.join(min_decompress))?,
        default_credits_total: credits("default_capabilities", "nr_total_credits")?,
        default_credits_used: credits("default_capabilities", "nr_used_credits")?,
        qos_credits_total: credits("qos_capabilities", "nr_total_credits")?,
        qos_credits_used: credits("qos_capabilities", "nr_used_credits")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn put(root: &Path, rel: &str, content: &[u8]) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    #[test]
    fn absent_caps_directory_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe_vio(dir.path()).unwrap(), None);
        // The 842-only VIO device without gzip capabilities is not NX-gzip either.
        fs::create_dir_all(dir.path().join("sys/devices/vio/ibm,compression-v1")).unwrap();
        assert_eq!(probe_vio(dir.path()).unwrap(), None);
    }

    #[test]
    fn reads_every_attribute_present() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        put(
            root,
            &format!("{VIO_CAPS_DIR}/req_max_processed_len"),
            b"1048576\n",
        );
        put(root, &format!("{VIO_CAPS_DIR}/min_compress_len"), b"4096\n");
        put(
            root,
            &format!("{VAS_GZIP_DIR}/default_capabilities/nr_total_credits"),
            b"240\n",
        );
        put(
            root,
            &format!("{VAS_GZIP_DIR}/default_capabilities/nr_used_credits"),
            b"3\n",
        );
        let caps = probe_vio(root).unwrap().unwrap();
        assert_eq!(caps.path, root.join(VIO_CAPS_DIR).display().to_string());
        assert_eq!(caps.req_max_processed_len, Some(1 << 20));
        assert_eq!(caps.min_compress_len, Some(4096));
        assert_eq!(caps.min_decompress_len, None);
        assert_eq!(caps.default_credits_total, Some(240));
        assert_eq!(caps.default_credits_used, Some(3));
        assert_eq!(
            (caps.qos_credits_total, caps.qos_credits_used),
            (None, None)
        );
    }

    #[test]
    fn malformed_values_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let file = format!("{VIO_CAPS_DIR}/min_decompress_len");
        put(root, &file, b"4k\n");
        let err = probe_vio(root).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: not a decimal number: \"4k\"",
                root.join(file).display()
            )
        );
    }

    #[test]
    fn caps_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), VIO_CAPS_DIR, b"");
        let err = probe_vio(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("nx_gzip_caps: not a directory"), "{err}");
    }
}
