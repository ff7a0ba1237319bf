//! Errors name the file (or device-tree node) and what is wrong with it.

use std::io;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The file exists but holds something the kernel never writes there.
    #[error("{path}: {message}")]
    Malformed { path: String, message: String },
    /// The file exists but cannot be read or listed (permissions, I/O error, wrong file type).
    #[error("{path}: cannot {action}: {reason}")]
    Io {
        path: String,
        action: &'static str,
        reason: String,
    },
}

pub(crate) fn malformed(path: &Path, message: impl Into<String>) -> Error {
    Error::Malformed {
        path: path.display().to_string(),
        message: message.into(),
    }
}

pub(crate) fn io_error(path: &Path, action: &'static str, err: &io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        action,
        reason: strerror(err),
    }
}

/// The C library's text for an OS error, without Rust's ` (os error N)` suffix, so messages
/// read the same as Python's `OSError.strerror`.
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) if err.raw_os_error().is_some() => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_like_strerror() {
        let err = io::Error::from_raw_os_error(13);
        let e = io_error(Path::new("/x/y"), "read", &err);
        assert_eq!(e.to_string(), "/x/y: cannot read: Permission denied");
    }

    #[test]
    fn malformed_names_the_path() {
        let e = malformed(Path::new("/a/b"), "empty value");
        assert_eq!(e.to_string(), "/a/b: empty value");
    }
}
