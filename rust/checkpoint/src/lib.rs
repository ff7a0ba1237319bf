//! Crash-safe key -> JSON record store kept in a base file and its journal.
//!
//! The base file is an envelope line (magic, format version, crc32c and length of the payload)
//! followed by a compact JSON payload `{"generation":N,"claims":{...}}`. A commit appends one
//! checksummed entry to `<base>.journal` and fdatasyncs it; once the journal outgrows the base,
//! a commit compacts: it replaces the base with temp file + fsync + rename + directory fsync,
//! then empties the journal. Checksums and lengths catch anything else (bit rot, a torn copy, a
//! hand edit).

mod error;
mod format;
mod journal;
mod record;
mod store;

pub use error::{Error, RecordError};
pub use format::{decode, encode, Snapshot, FORMAT_VERSION, MAGIC};
pub use journal::JOURNAL_MAGIC;
pub use record::{check_key, Records, Value};
pub use store::{load, Store};
