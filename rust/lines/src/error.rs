//! Errors; every message starts with `file <path>:`.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("file {path}: does not exist (any more)")]
    Missing { path: String },
    #[error("file {path}: cannot read: {}", describe(.source))]
    Read { path: String, source: io::Error },
    #[error("file {path}: cannot rewrite: {}", describe(.source))]
    Write { path: String, source: io::Error },
}

/// The OS's text for an error without Rust's ` (os error N)` suffix: the same words Python's
/// `OSError.strerror` gives, so both implementations report identically.
pub fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    match (err.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(at)) => text[..at].to_owned(),
        _ => text,
    }
}
