//! Errors name the offending value and the rule it breaks.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not JSON, wrong types, unknown or missing fields.
    #[error("CDI spec: {0}")]
    Parse(String),
    /// Well-formed but breaks a rule, e.g. `CDI device name "-x": must start with a letter or digit`.
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {action}: {source}")]
    Io {
        path: String,
        action: &'static str,
        source: io::Error,
    },
}

pub(crate) fn invalid(message: String) -> Error {
    Error::Invalid(message)
}
