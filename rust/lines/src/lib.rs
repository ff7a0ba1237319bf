//! Per-claim lines in shared files: the file driver's write path.
//!
//! A file may serve several claims; a claim owns the lines ending in ` claim=<uid>`. A rewrite
//! reads the file, replaces the lines of the claims that changed, and swaps a temp file into
//! its place (fsync first when durable): a crash leaves the old or the new content, never a mix, and
//! lines written by anyone else are kept. Lines are `\n`-separated bytes, so content that is not
//! UTF-8 passes through untouched.

mod error;
mod rewrite;

pub use error::Error;
pub use rewrite::{claim_of, rewrite, Change, CLAIM_MARK, TEMP_MARK};
