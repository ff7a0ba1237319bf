//! Atomic spec files: temp file in the same directory, then rename, so a runtime never reads a
//! half-written spec. No fsync: `/var/run/cdi` is tmpfs, the claim checkpoint is the durable
//! record, and prepare re-materializes every spec after a reboot; an fsync here would only add
//! ~1 ms (far more under disk contention) to every prepare.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{invalid, Error};

/// Distinguishes temp files of concurrent writers within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A spec file name: `*.json` or `*.yaml` (runtimes load only those), no `/` or NUL, and not
/// hidden (temp files are hidden and must never look like a spec).
pub fn check_file_name(file_name: &str) -> Result<(), Error> {
    let fail = |rule: &str| {
        Err(invalid(format!(
            "CDI spec file name \"{file_name}\": {rule}"
        )))
    };
    if file_name.contains(['/', '\0']) {
        fail("must not contain '/' or NUL")
    } else if file_name.starts_with('.') {
        fail("must not start with '.'")
    } else if !(file_name.ends_with(".json") || file_name.ends_with(".yaml")) {
        fail("must end in .json or .yaml")
    } else {
        Ok(())
    }
}

/// Renders `spec` (see [`crate::render`]) and writes it atomically as `directory/file_name`
/// (JSON is valid YAML, so `.yaml` names get the same bytes). Returns the path written.
pub fn write_spec(directory: &Path, file_name: &str, spec: &[u8]) -> Result<PathBuf, Error> {
    check_file_name(file_name)?;
    let rendered = crate::render(spec)?;
    let path = directory.join(file_name);
    let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = directory.join(format!(".{file_name}.tmp.{}.{counter}", std::process::id()));
    let io = |action, source| Error::Io {
        path: path.display().to_string(),
        action,
        source,
    };
    let written = write_new(&temp, &rendered)
        .map_err(|e| io("write temp file", e))
        .and_then(|()| fs::rename(&temp, &path).map_err(|e| io("rename", e)));
    if written.is_err() {
        let _ = fs::remove_file(&temp); // best effort
    }
    written.map(|()| path)
}

/// Removes `directory/file_name`; `false` if it did not exist.
pub fn remove_spec(directory: &Path, file_name: &str) -> Result<bool, Error> {
    check_file_name(file_name)?;
    let path = directory.join(file_name);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Io {
            path: path.display().to_string(),
            action: "remove",
            source,
        }),
    }
}

fn write_new(temp: &Path, data: &[u8]) -> io::Result<()> {
    // Runtimes (root) read the file; 0644 like the Go CDI library.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(temp)?;
    file.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[u8] = br#"{"kind":"v/c","devices":[{"name":"d"}]}"#;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn file_names() {
        for ok in ["v-c.json", "v-c_uid.yaml", "a.b.json"] {
            check_file_name(ok).unwrap();
        }
        let rule = |name: &str| check_file_name(name).unwrap_err().to_string();
        assert_eq!(
            rule("x.yml"),
            "CDI spec file name \"x.yml\": must end in .json or .yaml"
        );
        assert_eq!(
            rule("a/b.json"),
            "CDI spec file name \"a/b.json\": must not contain '/' or NUL"
        );
        assert_eq!(
            rule("a\0.json"),
            "CDI spec file name \"a\0.json\": must not contain '/' or NUL"
        );
        assert_eq!(
            rule(".json"),
            "CDI spec file name \".json\": must not start with '.'"
        );
    }

    #[test]
    fn write_replace_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_spec(dir.path(), "v-c.json", SPEC).unwrap();
        assert_eq!(path, dir.path().join("v-c.json"));
        assert_eq!(fs::read(&path).unwrap(), crate::render(SPEC).unwrap());
        let other = br#"{"kind":"v/c","devices":[{"name":"e"}]}"#;
        write_spec(dir.path(), "v-c.json", other).unwrap();
        assert_eq!(fs::read(&path).unwrap(), crate::render(other).unwrap());
        assert_eq!(names(dir.path()), ["v-c.json"], "no temp files left");
        assert!(remove_spec(dir.path(), "v-c.json").unwrap());
        assert!(!remove_spec(dir.path(), "v-c.json").unwrap());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn invalid_spec_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        write_spec(dir.path(), "v-c.json", b"{}").unwrap_err();
        write_spec(dir.path(), "v-c.txt", SPEC).unwrap_err();
        remove_spec(dir.path(), "../x.json").unwrap_err();
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn io_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = write_spec(&missing, "v-c.json", SPEC)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}: write temp file: ",
                missing.join("v-c.json").display()
            )),
            "{err}"
        );
        // A directory in the way: rename fails, the temp file is cleaned up.
        fs::create_dir(dir.path().join("v-c.json")).unwrap();
        fs::write(dir.path().join("v-c.json/x"), b"").unwrap();
        let err = write_spec(dir.path(), "v-c.json", SPEC)
            .unwrap_err()
            .to_string();
        assert!(err.contains(": rename: "), "{err}");
        assert_eq!(names(dir.path()), ["v-c.json"]);
        let err = remove_spec(dir.path(), "v-c.json").unwrap_err().to_string();
        assert!(err.contains(": remove: "), "{err}");
    }
}
