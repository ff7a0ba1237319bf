//! The store: a base file plus a journal of commits (see the crate docs for the layout).
//!
//! Commits are serialized by a writer mutex held across the disk I/O; readers take a short-lived
//! lock only to clone an `Arc` of the current snapshot, so they never wait for an fsync.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::format::{decode, encode, Snapshot};
use crate::journal::{encode_entry, replay, Change};
use crate::record::{check_key, Value};
use crate::Error;

/// Distinguishes temp files of concurrent writers within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The journal is compacted into the base once it would grow past this or the base's size,
/// whichever is larger: replay at open stays short and the disk holds at most ~2x the state.
const JOURNAL_MIN_LIMIT: u64 = 64 * 1024;

/// The journal's path: the base file's path + `.journal`.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// The writer's view of the files (guarded by the writer mutex).
#[derive(Debug)]
struct Writer {
    /// The journal opened for appending (opened at the first append).
    journal: Option<File>,
    /// Bytes of whole entries in the journal.
    journal_len: u64,
    base_len: u64,
    /// The journal may end in bytes that are not a whole entry (a failed append or truncation):
    /// the next commit must compact instead of appending after them.
    must_compact: bool,
}

/// A crash-safe key -> JSON record store backed by a base file and its journal. One owner per
/// file: opening removes temp files left by any earlier writer and a torn journal tail.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    name: String,
    journal_path: PathBuf,
    journal_name: String,
    dir: PathBuf,
    file_name: String,
    writer: Mutex<Writer>,
    state: RwLock<Arc<Snapshot>>,
    commits: AtomicU64,
}

/// Reads the state the files hold (missing = empty, generation 0) without changing them; a torn
/// journal tail is ignored. Safe while a writer commits: the journal is read before the base, and
/// a compaction replaces the base before it empties the journal, so a reader racing one sees the
/// new base with every journal entry it read already folded in.
pub fn load(path: impl AsRef<Path>) -> Result<Snapshot, Error> {
    let (snapshot, _) = read_files(path.as_ref())?;
    Ok(snapshot)
}

/// The snapshot and the sizes: (whole journal entries, journal file, base file).
fn read_files(path: &Path) -> Result<(Snapshot, (u64, u64, u64)), Error> {
    let name = path.display().to_string();
    let journal = journal_path(path);
    let journal_name = journal.display().to_string();
    let read = |file: &Path, name: &str| match fs::read(file) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            name: name.to_owned(),
            action: "read",
            source,
        }),
    };
    let entries = read(&journal, &journal_name)?;
    let base = read(path, &name)?;
    let mut snapshot = match &base {
        Some(data) => decode(data, &name)?,
        None => Snapshot::default(),
    };
    let whole = match &entries {
        Some(data) => replay(data, &journal_name, &mut snapshot)?,
        None => 0,
    };
    let len = |d: &Option<Vec<u8>>| d.as_ref().map_or(0, |d| d.len() as u64);
    Ok((snapshot, (whole as u64, len(&entries), len(&base))))
}

impl Store {
    /// Loads and verifies the base and the journal, removes leftover temp files and cuts a torn
    /// journal tail.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        let io = |action, source| Error::Io {
            name: name.clone(),
            action,
            source,
        };
        let invalid = || {
            io(
                "open",
                io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
            )
        };
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(invalid)?
            .to_owned();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        remove_temp_files(&dir, &file_name).map_err(|e| io("remove leftover temp files", e))?;
        let (snapshot, (whole, journal_len, base_len)) = read_files(&path)?;
        let journal_path = journal_path(&path);
        let journal_name = journal_path.display().to_string();
        // A torn tail is a commit that never returned: cut it so appends follow whole entries.
        // If that fails, the next commit compacts (which empties the journal) instead.
        let cut = whole == journal_len || truncate(&journal_path, whole).is_ok();
        Ok(Store {
            path,
            name,
            journal_path,
            journal_name,
            dir,
            file_name,
            writer: Mutex::new(Writer {
                journal: None,
                journal_len: whole,
                base_len,
                must_compact: !cut,
            }),
            state: RwLock::new(Arc::new(snapshot)),
            commits: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn journal_path(&self) -> &Path {
        &self.journal_path
    }

    /// The current state (cheap: shares the records).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    /// Durable writes made through this object.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Applies `puts` then `deletes` in one durable write and returns the new generation. Nothing
    /// to apply means no write (the current generation is returned). On error nothing changed in
    /// memory; the files hold the old state, or the new one if only a final directory fsync
    /// failed.
    pub fn commit(&self, puts: &[(&str, &[u8])], deletes: &[&str]) -> Result<u64, Error> {
        let record = |source| Error::Record {
            name: self.name.clone(),
            source,
        };
        // Validate before taking the writer lock: parsing values can take a while.
        let puts = puts
            .iter()
            .map(|&(key, bytes)| Ok((key, Value::parse(key, bytes).map_err(record)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        for key in deletes {
            check_key(key).map_err(record)?;
        }
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.snapshot();
        if puts.is_empty() && deletes.is_empty() {
            return Ok(current.generation);
        }
        let generation =
            current
                .generation
                .checked_add(1)
                .ok_or_else(|| Error::GenerationOverflow {
                    name: self.name.clone(),
                })?;
        let change = Change::new(puts, deletes);
        let mut records = current.records.clone();
        change.apply(&mut records).map_err(record)?;
        let entry = encode_entry(generation, &change);
        let limit = JOURNAL_MIN_LIMIT.max(writer.base_len);
        if writer.must_compact || writer.journal_len + entry.len() as u64 > limit {
            let image = encode(generation, &records);
            self.replace_file(&image)?;
            writer.base_len = image.len() as u64;
            self.empty_journal(&mut writer);
        } else {
            self.append(&mut writer, &entry)?;
        }
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Snapshot {
            generation,
            records,
        });
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(generation)
    }

    /// Appends one entry and fdatasyncs it. On failure the journal is cut back to its whole
    /// entries (or, if that fails too, the next commit compacts).
    fn append(&self, writer: &mut Writer, entry: &[u8]) -> Result<(), Error> {
        let io = |action, source| Error::Io {
            name: self.journal_name.clone(),
            action,
            source,
        };
        if writer.journal.is_none() {
            writer.journal = Some(self.open_journal().map_err(|e| io("open", e))?);
        }
        let Some(file) = writer.journal.as_mut() else {
            unreachable!("opened above");
        };
        let written = fail_point("append")
            .and_then(|()| file.write_all(entry))
            .and_then(|()| fail_point("sync journal"))
            .and_then(|()| file.sync_data());
        match written {
            Ok(()) => {
                writer.journal_len += entry.len() as u64;
                Ok(())
            }
            Err(e) => {
                let keep = writer.journal_len;
                if file.set_len(keep).and_then(|()| file.sync_data()).is_err() {
                    writer.must_compact = true;
                }
                Err(io("append", e))
            }
        }
    }

    /// Opens the journal for appending; a new journal's directory entry is made durable first.
    fn open_journal(&self) -> io::Result<File> {
        let existed = self.journal_path.exists();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.journal_path)?;
        if !existed {
            fail_point("sync directory")?;
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(file)
    }

    /// After a compaction every entry is folded into the base: empty the journal. A failure
    /// only means the next commit compacts again.
    fn empty_journal(&self, writer: &mut Writer) {
        let emptied = match writer.journal.as_mut() {
            _ if writer.journal_len == 0 && !writer.must_compact => Ok(()),
            Some(file) => file.set_len(0).and_then(|()| file.sync_data()),
            None => truncate(&self.journal_path, 0),
        };
        writer.must_compact = emptied.is_err();
        if emptied.is_ok() {
            writer.journal_len = 0;
        }
    }

    /// temp file in the same directory -> fsync -> rename over the target -> fsync directory.
    fn replace_file(&self, image: &[u8]) -> Result<(), Error> {
        let io = |action, source| Error::Io {
            name: self.name.clone(),
            action,
            source,
        };
        let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!(
            ".{}.tmp.{}.{counter}",
            self.file_name,
            std::process::id()
        ));
        let written = write_synced(&temp, image)
            .map_err(|e| io("write temp file", e))
            .and_then(|()| {
                fail_point("rename")
                    .and_then(|()| fs::rename(&temp, &self.path))
                    .map_err(|e| io("rename", e))
            });
        if written.is_err() {
            let _ = fs::remove_file(&temp); // best effort; the next open removes it too
            return written;
        }
        fail_point("sync directory")
            .and_then(|()| File::open(&self.dir)?.sync_all())
            .map_err(|e| io("fsync directory", e))
    }
}

/// Cuts an existing file to `len` bytes, durably (a missing file is fine: nothing to cut).
fn truncate(path: &Path, len: u64) -> io::Result<()> {
    match OpenOptions::new().write(true).open(path) {
        Ok(file) => file.set_len(len).and_then(|()| file.sync_data()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn write_synced(temp: &Path, image: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)?;
    fail_point("write")?;
    file.write_all(image)?;
    fail_point("fsync")?;
    file.sync_all()
}

/// Removes `.<file_name>.tmp.<pid>.<counter>` files: only an interrupted writer leaves them.
fn remove_temp_files(dir: &Path, file_name: &str) -> io::Result<()> {
    let prefix = format!(".{file_name}.tmp.");
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let numbers = rest
            .split_once('.')
            .filter(|(pid, n)| is_number(pid) && is_number(n));
        if numbers.is_some() {
            match fs::remove_file(entry.path()) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(not(test))]
#[inline(always)]
fn fail_point(_step: &str) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// The write step at which the next commit on this thread fails (tests only).
    static FAIL_AT: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

#[cfg(test)]
fn fail_point(step: &str) -> io::Result<()> {
    if FAIL_AT.with(|at| at.get()) == Some(step) {
        return Err(io::Error::other(format!("injected failure at {step}")));
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
