//! The character device user space opens: `/dev/crypto/nx-gzip` (class `nx-gzip`, one node for
//! the whole system). Its numbers come from the node itself, or, when `/dev` is not visible
//! under the root, from the class device's `dev` attribute (`MAJOR:MINOR`).

use std::path::Path;

use crate::error::{malformed, Error};
use crate::files::{lstat, read_optional, split_dev, Kind};
use crate::value::parse_dev;

pub const DEVICE_NODE: &str = "dev/crypto/nx-gzip";
pub const SYSFS_DEV: &str = "sys/class/nx-gzip/nx-gzip/dev";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `stat` of the device node.
    Node,
    /// The class device's `dev` attribute.
    Sysfs,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Node => "node",
            Source::Sysfs => "sysfs",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharDevice {
    /// The file the numbers were read from (the node, or the sysfs `dev` attribute).
    pub path: String,
    pub major: u32,
    pub minor: u32,
    pub source: Source,
}

/// `None` when neither the node nor the sysfs attribute exists.
pub fn probe_char_device(root: &Path) -> Result<Option<CharDevice>, Error> {
    let node = root.join(DEVICE_NODE);
    match lstat(&node)? {
        Kind::CharDevice(rdev) => {
            let (major, minor) = split_dev(rdev);
            return Ok(Some(CharDevice {
                path: node.display().to_string(),
                major,
                minor,
                source: Source::Node,
            }));
        }
        Kind::Missing => {}
        _ => return Err(malformed(&node, "not a character device")),
    }
    let attr = root.join(SYSFS_DEV);
    let Some(value) = read_optional(&attr)? else {
        return Ok(None);
    };
    let (major, minor) = parse_dev(&attr, &value)?;
    Ok(Some(CharDevice {
        path: attr.display().to_string(),
        major,
        minor,
        source: Source::Sysfs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn numbers_from_sysfs_when_there_is_no_node() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(probe_char_device(root).unwrap(), None);
        let attr = root.join(SYSFS_DEV);
        fs::create_dir_all(attr.parent().unwrap()).unwrap();
        fs::write(&attr, "243:0\n").unwrap();
        let dev = probe_char_device(root).unwrap().unwrap();
        assert_eq!((dev.major, dev.minor, dev.source), (243, 0, Source::Sysfs));
        assert_eq!(dev.path, attr.display().to_string());
        fs::write(&attr, "243\n").unwrap();
        assert!(probe_char_device(root).is_err());
    }

    #[test]
    fn a_regular_file_is_not_the_device() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join(DEVICE_NODE);
        fs::create_dir_all(node.parent().unwrap()).unwrap();
        fs::write(&node, "").unwrap();
        let err = probe_char_device(dir.path()).unwrap_err().to_string();
        assert_eq!(err, format!("{}: not a character device", node.display()));
    }
}
