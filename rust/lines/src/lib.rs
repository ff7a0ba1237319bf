//! Per-claim lines in shared files: the file driver's write path.
//!
//! A file may serve several claims; a claim owns the lines ending in ` claim=<uid>`. A rewrite
//! reads the file, replaces the lines of the claims that changed, and swaps a temp file into
//! its place (fsync first when durable): a crash leaves the old or the new content, never a mix, and
//! lines written by anyone else are kept. The temp file is the file's spare when one was made
//! ahead ([`make_spare`]), so the inode allocation need not be on the rewrite's way. Lines are
//! `\n`-separated bytes, so content that is not UTF-8 passes through untouched.

mod error;
mod rewrite;

pub use error::Error;
pub use rewrite::{claim_of, make_spare, rewrite, spare_of, Change, CLAIM_MARK, TEMP_MARK};
