//! The store: one file, replaced atomically on every commit.
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
use crate::record::{check_key, Value};
use crate::Error;

/// Distinguishes temp files of concurrent writers within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A crash-safe key -> JSON record store backed by one file. One owner per file: opening removes
/// temp files left by any earlier writer of the same file.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    name: String,
    dir: PathBuf,
    file_name: String,
    writer: Mutex<()>,
    state: RwLock<Arc<Snapshot>>,
    commits: AtomicU64,
}

impl Store {
    /// Loads and verifies `path` (missing = empty, generation 0) and removes leftover temp files.
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
        let snapshot = match fs::read(&path) {
            Ok(data) => decode(&data, &name)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Snapshot::default(),
            Err(e) => return Err(io("read", e)),
        };
        Ok(Store {
            path,
            name,
            dir,
            file_name,
            writer: Mutex::new(()),
            state: RwLock::new(Arc::new(snapshot)),
            commits: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
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
    /// memory, and the file holds the old or (if only the directory fsync failed) the new state.
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
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
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
        let mut records = current.records.clone();
        for (key, value) in puts {
            records.insert(key, value).map_err(record)?;
        }
        for key in deletes {
            records.remove(key);
        }
        let image = encode(generation, &records);
        self.replace_file(&image)?;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Snapshot {
            generation,
            records,
        });
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(generation)
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
mod tests {
    use super::*;

    fn items(store: &Store) -> Vec<(String, String)> {
        let snap = store.snapshot();
        snap.records
            .iter()
            .map(|(k, v)| (k.to_owned(), v.as_str().to_owned()))
            .collect()
    }

    fn temp_files(dir: &Path) -> Vec<String> {
        let names = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap());
        names.filter(|n| n.contains(".tmp.")).collect()
    }

    #[test]
    fn open_missing_commit_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt");
        let store = Store::open(&path).unwrap();
        assert_eq!((store.generation(), store.commits()), (0, 0));
        assert!(!path.exists());
        assert_eq!(store.commit(&[], &[]).unwrap(), 0);
        assert!(!path.exists(), "an empty commit does not write");
        assert_eq!(
            store
                .commit(&[("a", b"1"), ("b", b"{}"), ("a", b"2")], &[])
                .unwrap(),
            1
        );
        assert_eq!(store.commit(&[("c", b"[]")], &["b", "missing"]).unwrap(), 2);
        assert_eq!(
            store.commit(&[("d", b"1")], &["d"]).unwrap(),
            3,
            "puts, then deletes"
        );
        assert_eq!(store.commits(), 3);
        let want = vec![("a".into(), "2".into()), ("c".into(), "[]".into())];
        assert_eq!(items(&store), want);
        let reopened = Store::open(&path).unwrap();
        assert_eq!((reopened.generation(), items(&reopened)), (3, want));
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn invalid_input_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("ckpt")).unwrap();
        let name = store.path().display().to_string();
        let err = store
            .commit(&[("ok", b"1"), ("bad", b"{")], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{name}: value of key \"bad\"")),
            "{err}"
        );
        let err = store.commit(&[], &["a\"b"]).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{name}: key \"a\\\"b\"")), "{err}");
        assert_eq!((store.generation(), store.commits()), (0, 0));
    }

    #[test]
    fn failed_write_keeps_old_file_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt");
        let store = Store::open(&path).unwrap();
        store.commit(&[("a", b"1")], &[]).unwrap();
        let before = fs::read(&path).unwrap();
        for step in ["write", "fsync", "rename"] {
            FAIL_AT.with(|at| at.set(Some(step)));
            let err = store.commit(&[("a", b"2")], &[]).unwrap_err().to_string();
            FAIL_AT.with(|at| at.set(None));
            assert!(
                err.contains(&format!("injected failure at {step}")),
                "{err}"
            );
            assert_eq!(
                fs::read(&path).unwrap(),
                before,
                "old file intact after {step}"
            );
            assert_eq!((store.generation(), store.commits()), (1, 1));
            assert_eq!(items(&store), [("a".into(), "1".into())]);
            assert!(
                temp_files(dir.path()).is_empty(),
                "temp file removed after {step}"
            );
        }
        assert_eq!(store.commit(&[("a", b"3")], &[]).unwrap(), 2);
    }

    #[test]
    fn open_removes_leftover_temp_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".ckpt.tmp.12.0",
            ".ckpt.tmp.999.17",
            ".ckpt.tmp.x.1",
            ".other.tmp.1.1",
            "keep",
        ] {
            fs::write(dir.path().join(name), b"junk").unwrap();
        }
        Store::open(dir.path().join("ckpt")).unwrap();
        let mut left = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<Vec<_>>();
        left.sort();
        assert_eq!(left, [".ckpt.tmp.x.1", ".other.tmp.1.1", "keep"]);
    }

    #[test]
    fn open_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt");
        fs::write(&path, b"garbage").unwrap();
        let err = Store::open(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: not a drafast checkpoint (bad magic)", path.display())
        );
        let missing_dir = dir.path().join("nope/ckpt");
        let err = Store::open(&missing_dir).unwrap_err().to_string();
        assert!(err.starts_with(&format!(
            "{}: remove leftover temp files",
            missing_dir.display()
        )));
    }

    #[test]
    fn relative_path_uses_current_directory() {
        let store = Store::open("drafast-test-never-written").unwrap();
        assert_eq!(store.generation(), 0);
    }

    #[test]
    fn concurrent_commits_are_serialized() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt");
        let store = Store::open(&path).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let store = &store;
                s.spawn(move || {
                    for i in 0..25 {
                        let key = format!("t{t}-{i}");
                        store.commit(&[(key.as_str(), b"true")], &[]).unwrap();
                        assert!(store.snapshot().records.get(&key).is_some());
                    }
                });
            }
        });
        assert_eq!((store.generation(), store.commits()), (100, 100));
        let reopened = Store::open(&path).unwrap();
        assert_eq!(
            (reopened.generation(), reopened.snapshot().records.len()),
            (100, 100)
        );
    }
}
