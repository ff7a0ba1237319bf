//! Small, bounded reads under the host root. A missing file is `None`, never an error: absence is
//! how sysfs and the device tree say "not here".

use std::fs::{self, File};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;

use crate::error::{io_error, malformed, Error};

/// sysfs attributes are at most a page and device-tree properties are small; anything larger is
/// not what we are looking for.
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// What is at a path, without following a final symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Missing,
    Dir,
    /// A character device and its raw `st_rdev`.
    CharDevice(u64),
    Symlink,
    Other,
}

fn not_found(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
}

pub(crate) fn lstat(path: &Path) -> Result<Kind, Error> {
    match fs::symlink_metadata(path) {
        Err(e) if not_found(&e) => Ok(Kind::Missing),
        Err(e) => Err(io_error(path, "stat", &e)),
        Ok(meta) => Ok(classify(&meta)),
    }
}

/// Like [`lstat`] but follows symlinks.
pub(crate) fn stat(path: &Path) -> Result<Kind, Error> {
    match fs::metadata(path) {
        Err(e) if not_found(&e) => Ok(Kind::Missing),
        Err(e) => Err(io_error(path, "stat", &e)),
        Ok(meta) => Ok(classify(&meta)),
    }
}

fn classify(meta: &fs::Metadata) -> Kind {
    let file_type = meta.file_type();
    if file_type.is_dir() {
        Kind::Dir
    } else if file_type.is_char_device() {
        Kind::CharDevice(meta.rdev())
    } else if file_type.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    }
}

/// The whole file, or `None` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let file = match File::open(path) {
        Err(e) if not_found(&e) => return Ok(None),
        Err(e) => return Err(io_error(path, "read", &e)),
        Ok(file) => file,
    };
    let mut data = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| io_error(path, "read", &e))?;
    if data.len() > MAX_FILE_BYTES {
        return Err(malformed(
            path,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(Some(data))
}

/// Linux `dev_t` -> (major, minor), as glibc's `major()`/`minor()` decode it.
pub(crate) fn split_dev(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0x0fff);
    let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff);
    // Both fit: major has 32 significant bits at most, minor 32.
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_numbers_decode_like_glibc() {
        assert_eq!(split_dev(0x0103), (1, 3)); // /dev/null
        assert_eq!(split_dev((243 << 8) | 7), (243, 7));
        // A large minor and major use the high bits.
        let rdev = ((0x1234_u64 & 0xfff) << 8)
            | ((0x1234_u64 & !0xfff) << 32)
            | (0x56789 & 0xff)
            | ((0x56789 & !0xff) << 12);
        assert_eq!(split_dev(rdev), (0x1234, 0x56789));
    }

    #[test]
    fn missing_files_are_none_and_big_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_optional(&dir.path().join("nope")).unwrap(), None);
        assert_eq!(lstat(&dir.path().join("nope")).unwrap(), Kind::Missing);
        assert_eq!(lstat(dir.path()).unwrap(), Kind::Dir);
        let big = dir.path().join("big");
        fs::write(&big, vec![b'1'; MAX_FILE_BYTES + 1]).unwrap();
        let err = read_optional(&big).unwrap_err().to_string();
        assert!(err.ends_with(": larger than 65536 bytes"), "{err}");
        fs::write(&big, vec![b'1'; MAX_FILE_BYTES]).unwrap();
        assert_eq!(read_optional(&big).unwrap().unwrap().len(), MAX_FILE_BYTES);
    }

    #[test]
    fn a_directory_cannot_be_read() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_optional(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with(": cannot read: Is a directory"), "{err}");
    }
}
