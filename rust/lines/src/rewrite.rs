//! The rewrite itself.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// What separates a line's text from the UID of the claim that owns it.
pub const CLAIM_MARK: &[u8] = b" claim=";
/// Temp files are `.<name><TEMP_MARK><pid>.<counter>`; the driver removes leftovers at start.
pub const TEMP_MARK: &str = ".drafast-tmp.";
/// A spare is `.<name><TEMP_MARK>spare` (no pid: any writer may take it).
const SPARE_TAIL: &str = "spare";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A claim's new lines (empty: remove its lines).
pub type Change = (String, Vec<String>);

/// The UID of the claim owning `line`: the text after the last ` claim=`, if both sides are
/// non-empty and the UID has no space.
pub fn claim_of(line: &[u8]) -> Option<&[u8]> {
    let at = line
        .windows(CLAIM_MARK.len())
        .rposition(|w| w == CLAIM_MARK)?;
    let uid = &line[at + CLAIM_MARK.len()..];
    (at > 0 && !uid.is_empty() && !uid.contains(&b' ')).then_some(uid)
}

/// Applies `changes` to `path`; returns whether the file was written.
///
/// With `exact` the claims in `changes` become the only claims in the file (restore after a
/// crash): lines of any other claim go. Lines that name no claim are always kept. A missing file
/// is an error unless every change is a removal.
pub fn rewrite(path: &Path, changes: &[Change], durable: bool, exact: bool) -> Result<bool, Error> {
    let name = || path.display().to_string();
    let (mode, old) = match read(path) {
        Ok(found) => found,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if changes.iter().all(|(_, lines)| lines.is_empty()) {
                return Ok(false); // only removals, and the file is gone: nothing is left to remove
            }
            return Err(Error::Missing { path: name() });
        }
        Err(source) => {
            return Err(Error::Read {
                path: name(),
                source,
            })
        }
    };
    let changed: HashSet<&[u8]> = changes.iter().map(|(uid, _)| uid.as_bytes()).collect();
    let old_lines = split_lines(&old);
    let mut kept: Vec<&[u8]> = old_lines
        .iter()
        .copied()
        .filter(|line| match claim_of(line) {
            Some(uid) => !changed.contains(uid) && !exact,
            None => true,
        })
        .collect();
    for (_, lines) in changes {
        kept.extend(lines.iter().map(String::as_bytes));
    }
    if kept == old_lines {
        return Ok(false); // nothing to change: no write at all
    }
    let mut data = Vec::with_capacity(old.len() + 64);
    for line in &kept {
        data.extend_from_slice(line);
        data.push(b'\n');
    }
    replace(path, &data, mode, durable).map_err(|source| Error::Write {
        path: name(),
        source,
    })?;
    Ok(true)
}

/// Mode bits and content, from one open of the file.
fn read(path: &Path) -> io::Result<(u32, Vec<u8>)> {
    let mut file = File::open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok((mode, data))
}

/// Lines without their `\n`; a final line without one still counts.
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    if data.is_empty() {
        return Vec::new();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    body.split(|&b| b == b'\n').collect()
}

fn replace(path: &Path, data: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = hidden_name(path, &format!("{}.{counter}", std::process::id()))?;
    let written = (|| {
        let mut file = match claim_spare(path, &temp)? {
            Some(file) => file,
            None => OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&temp)?,
        };
        // create_new applies the umask, and a spare has the mode of its day: the copy must
        // keep the original's exact bits.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(data)?;
        if durable {
            file.sync_all()?;
        }
        drop(file);
        if durable {
            fs::rename(&temp, path) // the data is on disk already
        } else {
            swap_in(&temp, path)
        }
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// `.<name><TEMP_MARK><tail>` beside `path`: hidden, and removed by the driver at start.
fn hidden_name(path: &Path, tail: &str) -> io::Result<PathBuf> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(path.with_file_name(format!(".{}{TEMP_MARK}{tail}", file_name.to_string_lossy())))
}

/// The spare of `path`: an empty file made ahead of the next rewrite (see [`make_spare`]).
pub fn spare_of(path: &Path) -> io::Result<PathBuf> {
    hidden_name(path, SPARE_TAIL)
}

/// Creates `path`'s spare, with `path`'s mode, unless it exists or `path` is gone; returns
/// whether it created one.
///
/// A rewrite that finds a spare writes into it instead of creating its temp file: the inode
/// allocation then happens here, after the caller got its answer, not on the way to it. (On
/// ext4 without a journal it is the slow part of a rewrite: the allocator skips, one inode table
/// lookup each, every inode deleted in the last minutes.) The new content still goes to a fresh
/// inode nobody else has open, so readers see exactly what they saw without a spare.
pub fn make_spare(path: &Path) -> io::Result<bool> {
    let mode = match fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta.permissions().mode() & 0o7777,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(spare_of(path)?)
    {
        Ok(file) => file
            .set_permissions(fs::Permissions::from_mode(mode))
            .map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes `path`'s spare for this rewrite: renames it to `temp` (atomic, so two writers never
/// share one) and opens it. None when there is no spare, or it is not what [`make_spare`] left
/// (a regular file, empty, one link): then it stays at `temp` and is removed with it.
fn claim_spare(path: &Path, temp: &Path) -> io::Result<Option<File>> {
    match fs::rename(spare_of(path)?, temp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let opened = OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32) // a planted symlink: ELOOP
        .open(temp);
    if let Ok(file) = opened {
        if matches!(file.metadata(), Ok(m) if m.is_file() && m.len() == 0 && m.nlink() == 1) {
            return Ok(Some(file));
        }
    }
    fs::remove_file(temp)?;
    Ok(None)
}

/// Puts `temp` in `path`'s place atomically: exchanges the two (renameat2 `RENAME_EXCHANGE`),
/// then unlinks `temp`, which now holds the old content. A rename over an existing file would do
/// the same, but on ext4 it also flushes the new data to disk first (`auto_da_alloc`, meant for
/// writers that never fsync): ~0.15 ms of kernel time per rewrite, measured. These writes need
/// no such flush: after a power loss the file driver rewrites every file from the checkpoint.
/// Falls back to a rename where the filesystem cannot exchange, or `path` is gone.
fn swap_in(temp: &Path, path: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, temp, CWD, path, RenameFlags::EXCHANGE) {
        Ok(()) => {
            // A leftover (old content, a hidden temp name) is removed at the driver's next start.
            let _ = fs::remove_file(temp);
            Ok(())
        }
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::NOENT) => {
            fs::rename(temp, path)
        }
        Err(errno) => Err(errno.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(uid: &str, lines: &[&str]) -> Change {
        (
            uid.to_owned(),
            lines.iter().map(|l| (*l).to_owned()).collect(),
        )
    }

    fn file(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, content).unwrap();
        (dir, path)
    }

    #[test]
    fn claim_marks() {
        assert_eq!(claim_of(b"ns/p claim=abc"), Some(&b"abc"[..]));
        assert_eq!(claim_of(b"a claim=x claim=y"), Some(&b"y"[..]));
        assert_eq!(claim_of(b" claim=abc"), None); // nothing before the mark
        assert_eq!(claim_of(b"ns/p claim="), None);
        assert_eq!(claim_of(b"ns/p claim=a b"), None);
        assert_eq!(claim_of(b"plain text"), None);
    }

    #[test]
    fn replaces_only_the_changed_claims() {
        let (_d, path) = file("header\nns/a claim=1\nns/b claim=2\n");
        let wrote = rewrite(&path, &[change("1", &["ns/c claim=1"])], false, false).unwrap();
        assert!(wrote);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "header\nns/b claim=2\nns/c claim=1\n"
        );
    }

    #[test]
    fn no_change_means_no_write() {
        let (_d, path) = file("ns/a claim=1\n");
        let before = fs::metadata(&path).unwrap();
        let wrote = rewrite(&path, &[change("1", &["ns/a claim=1"])], true, false).unwrap();
        assert!(!wrote);
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(fs::metadata(&path).unwrap().ino(), before.ino());
    }

    #[test]
    fn swaps_in_a_new_file_and_leaves_nothing_beside_it() {
        for durable in [false, true] {
            let (dir, path) = file("ns/a claim=1\n");
            let mut reader = File::open(&path).unwrap(); // opened before: keeps the old content
            rewrite(&path, &[change("1", &["ns/b claim=1"])], durable, false).unwrap();
            let mut old = String::new();
            reader.read_to_string(&mut old).unwrap();
            assert_eq!(old, "ns/a claim=1\n");
            assert_eq!(fs::read_to_string(&path).unwrap(), "ns/b claim=1\n");
            assert_eq!(names(dir.path()), ["f"], "durable={durable}");
        }
    }

    #[test]
    fn swap_in_falls_back_to_a_rename_when_the_file_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let (temp, path) = (dir.path().join(".t"), dir.path().join("f"));
        fs::write(&temp, "new\n").unwrap();
        swap_in(&temp, &path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert!(!temp.exists());
    }

    fn inode(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        fs::symlink_metadata(path).unwrap().ino()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_rewrite_writes_into_the_spare() {
        for durable in [false, true] {
            let (dir, path) = file("ns/a claim=1\n");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            assert!(make_spare(&path).unwrap());
            let spare = spare_of(&path).unwrap();
            assert_eq!(fs::metadata(&spare).unwrap().len(), 0);
            assert_eq!(
                fs::metadata(&spare).unwrap().permissions().mode() & 0o7777,
                0o640
            );
            let spare_inode = inode(&spare);
            rewrite(&path, &[change("2", &["ns/b claim=2"])], durable, false).unwrap();
            assert_eq!(inode(&path), spare_inode, "durable={durable}");
            assert_eq!(
                fs::read_to_string(&path).unwrap(),
                "ns/a claim=1\nns/b claim=2\n"
            );
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
                0o640
            );
            assert_eq!(names(dir.path()), ["f"], "durable={durable}");
        }
    }

    #[test]
    fn make_spare_only_once_and_only_for_a_file() {
        let (dir, path) = file("x\n");
        assert!(make_spare(&path).unwrap());
        assert!(!make_spare(&path).unwrap()); // one is there already
        assert!(!make_spare(&dir.path().join("gone")).unwrap());
        assert!(!make_spare(dir.path()).unwrap()); // a directory: no spare
        assert_eq!(names(dir.path()), [".f.drafast-tmp.spare", "f"]);
    }

    #[test]
    fn a_spare_that_is_not_what_make_spare_left_is_not_used() {
        let (dir, path) = file("ns/a claim=1\n");
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep\n").unwrap();
        let spare = spare_of(&path).unwrap();
        for plant in ["content", "symlink", "hard link"] {
            match plant {
                "content" => fs::write(&spare, "junk\n").unwrap(),
                "symlink" => std::os::unix::fs::symlink(&victim, &spare).unwrap(),
                _ => fs::hard_link(&victim, &spare).unwrap(),
            }
            // Held open, so its inode number cannot be reused (a symlink is opened through: the
            // victim is held, the link itself is not, so only the victim's content is checked).
            let mut planted = File::open(&spare).unwrap();
            let before = inode(&spare);
            rewrite(
                &path,
                &[change(
                    "1",
                    &[&format!("ns/{} claim=1", plant.replace(' ', "-"))],
                )],
                false,
                false,
            )
            .unwrap();
            if plant != "symlink" {
                assert_ne!(inode(&path), before, "{plant}");
            }
            let mut left = String::new();
            planted.read_to_string(&mut left).unwrap();
            assert!(left == "junk\n" || left == "keep\n", "{plant}: {left:?}");
            assert_eq!(
                fs::read_to_string(&path).unwrap(),
                format!("ns/{} claim=1\n", plant.replace(' ', "-"))
            );
            assert_eq!(fs::read_to_string(&victim).unwrap(), "keep\n", "{plant}");
            assert_eq!(names(dir.path()), ["f", "victim"], "{plant}");
        }
    }

    #[test]
    fn exact_drops_other_claims_keeps_plain_lines() {
        let (_d, path) = file("note\nns/a claim=1\nns/b claim=2");
        rewrite(&path, &[change("2", &["ns/b claim=2"])], false, true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "note\nns/b claim=2\n");
    }

    #[test]
    fn keeps_mode_and_non_utf8_bytes() {
        let (_d, path) = file("");
        fs::write(&path, b"\xff\xfe raw\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        rewrite(&path, &[change("9", &["ns/x claim=9"])], true, false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"\xff\xfe raw\nns/x claim=9\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o640
        );
    }

    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone");
        assert!(!rewrite(&path, &[change("1", &[])], false, false).unwrap());
        let err = rewrite(&path, &[change("1", &["ns/a claim=1"])], false, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("file {}: does not exist (any more)", path.display())
        );
    }

    #[test]
    fn unreadable_path_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = rewrite(dir.path(), &[change("1", &["x claim=1"])], false, false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("file {}: cannot read: ", dir.path().display())),
            "{text}"
        );
        assert!(!text.contains("os error"), "{text}");
    }

    #[test]
    fn failed_write_leaves_no_temp_file() {
        // A 250-byte name is valid, its temp name is over NAME_MAX: creating it fails (as root
        // too, unlike a read-only directory).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f".repeat(250));
        fs::write(&path, "ns/a claim=1\n").unwrap();
        let err = rewrite(&path, &[change("2", &["ns/b claim=2"])], false, false).unwrap_err();
        assert!(matches!(err, Error::Write { .. }), "{err}");
        assert!(
            err.to_string()
                .ends_with(": cannot rewrite: File name too long"),
            "{err}"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(fs::read_to_string(&path).unwrap(), "ns/a claim=1\n");
    }
}
