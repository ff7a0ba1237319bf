//! Error types. Every [`Error`] message starts with the file name (or path) it is about.

use std::io;

/// A key or value that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("key {key:?}: {rule}")]
    InvalidKey { key: String, rule: &'static str },
    #[error("value of key {key:?}: {detail}")]
    InvalidValue { key: String, detail: String },
    #[error("key {key:?}: duplicate")]
    DuplicateKey { key: String },
}

/// Why a checkpoint image could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{name}: not a drafast checkpoint (bad magic)")]
    BadMagic { name: String },
    #[error(
        "{name}: written by a newer drafast (format v{version}); this build reads v{}",
        crate::FORMAT_VERSION
    )]
    NewerFormat { name: String, version: u64 },
    #[error("{name}: malformed envelope line: {detail}")]
    BadEnvelope { name: String, detail: &'static str },
    #[error("{name}: truncated (torn write?): {got} bytes, envelope line incomplete")]
    TruncatedEnvelope { name: String, got: usize },
    #[error("{name}: truncated (torn write?): {got} of {want} bytes")]
    Truncated {
        name: String,
        got: usize,
        want: usize,
    },
    #[error("{name}: trailing garbage: {got} payload bytes, envelope says {want}")]
    TrailingGarbage {
        name: String,
        got: usize,
        want: usize,
    },
    #[error(
        "{name}: checksum mismatch: corrupted (crc32c {actual:08x}, envelope says {expected:08x})"
    )]
    ChecksumMismatch {
        name: String,
        actual: u32,
        expected: u32,
    },
    #[error("{name}: malformed payload: {detail}")]
    BadPayload { name: String, detail: String },
    #[error("{name}: {source}")]
    Record { name: String, source: RecordError },
    #[error("{name}: entry at byte {offset}: {detail}")]
    Journal {
        name: String,
        offset: usize,
        detail: String,
    },
    #[error("{name}: generation overflow")]
    GenerationOverflow { name: String },
    #[error("{name}: {action}: {source}")]
    Io {
        name: String,
        action: &'static str,
        source: io::Error,
    },
}
