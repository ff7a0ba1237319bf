//! Store tests: commits, the journal, compaction, failures at every step.

use super::*;
use crate::format::decode;

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

/// A store at `ckpt` in a new temp dir (kept alive by the returned guard).
fn fresh_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt");
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

#[test]
fn open_missing_commit_reopen() {
    let (dir, path, store) = fresh_store();
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

/// A value big enough that the next commit compacts (the journal would pass its minimum limit).
fn big() -> Vec<u8> {
    format!("\"{}\"", "x".repeat(JOURNAL_MIN_LIMIT as usize)).into_bytes()
}

fn files(store: &Store) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    (
        fs::read(store.path()).ok(),
        fs::read(store.journal_path()).ok(),
    )
}

#[test]
fn commits_append_to_the_journal_until_it_outgrows_the_base() {
    let (_dir, path, store) = fresh_store();
    store.commit(&[("a", b"1")], &[]).unwrap();
    store.commit(&[("b", b"2")], &["a"]).unwrap();
    assert!(!path.exists(), "no base until the first compaction");
    let journal = fs::read(store.journal_path()).unwrap();
    assert!(journal.starts_with(b"drafast-journal/v1 crc32c="));
    assert_eq!(journal.iter().filter(|&&b| b == b'\n').count(), 4);

    let big = big();
    assert_eq!(store.commit(&[("c", &big)], &[]).unwrap(), 3);
    let base = decode(&fs::read(&path).unwrap(), "b").unwrap();
    assert_eq!((base.generation, base.records.len()), (3, 2));
    assert_eq!(fs::read(store.journal_path()).unwrap(), b"", "emptied");
    // The limit is now the base's size: small commits append again.
    store.commit(&[("d", b"4")], &[]).unwrap();
    assert!(!fs::read(store.journal_path()).unwrap().is_empty());
    assert_eq!(decode(&fs::read(&path).unwrap(), "b").unwrap(), base);

    let reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.generation(), 4);
    assert_eq!(items(&reopened), items(&store));
    assert_eq!(load(&path).unwrap(), *store.snapshot());
}

#[test]
fn a_torn_journal_tail_is_cut_at_open() {
    let (_dir, path, store) = fresh_store();
    store.commit(&[("a", b"1")], &[]).unwrap();
    let whole = fs::read(store.journal_path()).unwrap();
    store.commit(&[("b", b"2")], &[]).unwrap();
    let both = fs::read(store.journal_path()).unwrap();
    drop(store);
    fs::write(journal_path(&path), &both[..both.len() - 3]).unwrap();
    assert_eq!(
        load(&path).unwrap().generation,
        1,
        "load reads past a torn tail"
    );
    assert_eq!(
        fs::read(journal_path(&path)).unwrap().len(),
        both.len() - 3,
        "load changes nothing"
    );
    let store = Store::open(&path).unwrap();
    assert_eq!(
        fs::read(store.journal_path()).unwrap(),
        whole,
        "cut at open"
    );
    assert_eq!(store.commit(&[("c", b"3")], &[]).unwrap(), 2);
    let reopened = Store::open(&path).unwrap();
    assert_eq!(
        items(&reopened),
        [("a".into(), "1".into()), ("c".into(), "3".into())]
    );
}

#[test]
fn a_damaged_journal_refuses_to_open_and_is_left_alone() {
    let (_dir, path, store) = fresh_store();
    store.commit(&[("a", b"\"value\"")], &[]).unwrap();
    store.commit(&[("b", b"2")], &[]).unwrap();
    let mut data = fs::read(store.journal_path()).unwrap();
    let payload = data.iter().position(|&b| b == b'\n').unwrap() + 1;
    data[payload + 5] ^= 0x01; // in the first entry's payload
    fs::write(store.journal_path(), &data).unwrap();
    let err = Store::open(&path).unwrap_err().to_string();
    let name = store.journal_path().display().to_string();
    assert!(
        err.starts_with(&format!("{name}: entry at byte 0: checksum mismatch")),
        "{err}"
    );
    assert_eq!(fs::read(store.journal_path()).unwrap(), data);
}

#[test]
fn failed_appends_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("ckpt")).unwrap();
    store.commit(&[("a", b"1")], &[]).unwrap();
    let before = files(&store);
    for step in ["append", "sync journal"] {
        FAIL_AT.with(|at| at.set(Some(step)));
        let err = store.commit(&[("a", b"2")], &[]).unwrap_err().to_string();
        FAIL_AT.with(|at| at.set(None));
        assert!(
            err.contains(&format!("injected failure at {step}")),
            "{err}"
        );
        assert!(
            err.starts_with(&store.journal_path().display().to_string()),
            "{err}"
        );
        assert_eq!(files(&store), before, "files intact after {step}");
        assert_eq!((store.generation(), store.commits()), (1, 1));
    }
    assert_eq!(store.commit(&[("a", b"3")], &[]).unwrap(), 2);
    let reopened = Store::open(store.path()).unwrap();
    assert_eq!(items(&reopened), [("a".into(), "3".into())]);
}

#[test]
fn failed_compactions_keep_old_files_and_state() {
    let (dir, path, store) = fresh_store();
    store.commit(&[("a", b"1")], &[]).unwrap();
    let before = files(&store);
    let big = big();
    for step in ["write", "fsync", "rename"] {
        FAIL_AT.with(|at| at.set(Some(step)));
        let err = store.commit(&[("a", &big)], &[]).unwrap_err().to_string();
        FAIL_AT.with(|at| at.set(None));
        assert!(
            err.contains(&format!("injected failure at {step}")),
            "{err}"
        );
        assert_eq!(files(&store), before, "old files intact after {step}");
        assert_eq!((store.generation(), store.commits()), (1, 1));
        assert_eq!(items(&store), [("a".into(), "1".into())]);
        assert!(
            temp_files(dir.path()).is_empty(),
            "temp file removed after {step}"
        );
    }
    assert_eq!(store.commit(&[("a", &big)], &[]).unwrap(), 2);
    assert_eq!(Store::open(&path).unwrap().generation(), 2);
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
    let (_dir, path, store) = fresh_store();
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
