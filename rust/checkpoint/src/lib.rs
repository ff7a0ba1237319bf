//! Crash-safe key -> JSON record store kept in one file.
//!
//! The file is an envelope line (magic, format version, crc32c and length of the payload) followed
//! by a compact JSON payload `{"generation":N,"claims":{...}}`. Writers replace the file with
//! temp file + fsync + rename + directory fsync, so a reader sees either the old or the new image;
//! the checksum and length catch anything else (bit rot, a torn copy, a hand edit).

mod error;
mod format;
mod record;
mod store;

pub use error::{Error, RecordError};
pub use format::{decode, encode, Snapshot, FORMAT_VERSION, MAGIC};
pub use record::{check_key, Records, Value};
pub use store::Store;
