//! PowerNV (bare metal): the firmware's device tree lists one NX unit per chip, e.g.
//! `xscom@603fc00000000/nx@2010000` with `compatible = "ibm,power9-nx\0ibm,power-nx\0"`; the chip
//! id is the `ibm,chip-id` cell of the node or of its nearest ancestor that has one (skiboot
//! puts it on the `xscom@` parent).
//!
//! The tree is read as the kernel exposes it: a directory per node, a file per property, values
//! raw (strings NUL-terminated, integers big-endian 32-bit cells). Only the nodes that claim to
//! be NX-gzip capable (`ibm,powerN-nx`, N >= 9: POWER8's NX has no gzip engine) are checked
//! strictly; a malformed property elsewhere in the tree is none of our business.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use crate::error::{io_error, malformed, Error};
use crate::files::{lstat, read_optional, stat, Kind};
use crate::value::{parse_cell, show};

pub const DEVICE_TREE_PROC: &str = "proc/device-tree";
pub const DEVICE_TREE_SYS: &str = "sys/firmware/devicetree/base";
/// Real trees are less than ten levels deep; this bounds a walk of a looping or hostile tree.
pub const MAX_DEPTH: usize = 64;
/// The first POWER generation whose NX has a gzip engine.
pub const MIN_GENERATION: u32 = 9;

/// One NX unit found in the device tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// Node path relative to the device-tree root, e.g. `xscom@603fc00000000/nx@2010000`.
    pub node: String,
    /// The matching `compatible` string, e.g. `ibm,power10-nx`.
    pub compatible: String,
    /// N of `ibm,powerN-nx`.
    pub generation: u32,
    pub chip_id: u32,
}

/// The device-tree root under `root`: `proc/device-tree` (a symlink to
/// `/sys/firmware/devicetree/base` on real systems, re-rooted under `root`), else
/// `sys/firmware/devicetree/base`; `None` if neither exists.
pub fn find_root(root: &Path) -> Result<Option<PathBuf>, Error> {
    let proc = root.join(DEVICE_TREE_PROC);
    match lstat(&proc)? {
        Kind::Dir => return Ok(Some(proc)),
        Kind::Missing => {}
        Kind::Symlink => {
            let target = fs::read_link(&proc).map_err(|e| io_error(&proc, "read link", &e))?;
            let bytes = target.as_os_str().as_bytes();
            let resolved = match bytes.first() {
                Some(b'/') => {
                    let start = bytes.iter().position(|&b| b != b'/').unwrap_or(bytes.len());
                    root.join(OsStr::from_bytes(&bytes[start..]))
                }
                _ => root.join("proc").join(&target),
            };
            match stat(&resolved)? {
                Kind::Dir => return Ok(Some(resolved)),
                Kind::Missing => {}
                _ => {
                    let what = format!("links to {}, not a directory", resolved.display());
                    return Err(malformed(&proc, what));
                }
            }
        }
        _ => return Err(malformed(&proc, "not a directory")),
    }
    let sys = root.join(DEVICE_TREE_SYS);
    match lstat(&sys)? {
        Kind::Dir => Ok(Some(sys)),
        Kind::Missing => Ok(None),
        _ => Err(malformed(&sys, "not a directory")),
    }
}

/// `ibm,powerN-nx` with N a decimal without leading zero and N >= [`MIN_GENERATION`].
pub fn nx_generation(compatible: &[u8]) -> Option<u32> {
    let digits = compatible
        .strip_prefix(b"ibm,power")?
        .strip_suffix(b"-nx")?;
    let well_formed = (1..=4).contains(&digits.len())
        && digits[0] != b'0'
        && digits.iter().all(u8::is_ascii_digit);
    if !well_formed {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    (n >= MIN_GENERATION).then_some(n)
}

/// The first NX-gzip string of a `compatible` property; if there is one, the whole property must
/// be a well-formed string list (each string non-empty printable ASCII, each NUL-terminated).
pub fn match_compatible(path: &Path, value: &[u8]) -> Result<Option<(String, u32)>, Error> {
    let found = value
        .split(|&b| b == 0)
        .find_map(|s| nx_generation(s).map(|generation| (s, generation)));
    let Some((string, generation)) = found else {
        return Ok(None);
    };
    let Some(strings) = value.strip_suffix(b"\0") else {
        return Err(malformed(
            path,
            format!(
                "not NUL-terminated (device-tree strings end in NUL): {}",
                show(value)
            ),
        ));
    };
    for s in strings.split(|&b| b == 0) {
        if s.is_empty() {
            return Err(malformed(
                path,
                format!("empty string in the list: {}", show(value)),
            ));
        }
        if let Some(b) = s.iter().find(|b| !(0x21..=0x7e).contains(*b)) {
            return Err(malformed(
                path,
                format!("byte 0x{b:02x} is not printable ASCII in {}", show(s)),
            ));
        }
    }
    // Printable ASCII, checked above.
    let compatible = String::from_utf8_lossy(string).into_owned();
    Ok(Some((compatible, generation)))
}

/// Every NX-gzip unit in the tree at `tree`, sorted by chip id.
pub fn probe_engines(tree: &Path) -> Result<Vec<Engine>, Error> {
    let mut found = Vec::new();
    let mut ancestors = vec![tree.to_path_buf()];
    walk(&mut ancestors, "", &mut found)?;
    let mut owners: HashMap<u32, &str> = HashMap::new();
    for engine in &found {
        if let Some(other) = owners.insert(engine.chip_id, &engine.node) {
            return Err(malformed(
                &tree.join(&engine.node),
                format!(
                    "chip id {} is also the chip id of NX node {other}",
                    engine.chip_id
                ),
            ));
        }
    }
    found.sort_by_key(|e| e.chip_id);
    Ok(found)
}

/// Pre-order, children in byte order of their names; symlinks are not followed.
fn walk(ancestors: &mut Vec<PathBuf>, rel: &str, found: &mut Vec<Engine>) -> Result<(), Error> {
    let dir = ancestors
        .last()
        .expect("the tree root is always there")
        .clone();
    if ancestors.len() > MAX_DEPTH + 1 {
        return Err(malformed(
            &dir,
            format!("more than {MAX_DEPTH} levels below the device-tree root"),
        ));
    }
    let list_error = |e: std::io::Error| io_error(&dir, "list", &e);
    let mut children = Vec::new();
    let mut has_compatible = false;
    for entry in fs::read_dir(&dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let file_type = entry.file_type().map_err(list_error)?;
        let name = entry.file_name();
        if file_type.is_dir() {
            children.push(name);
        } else if file_type.is_file() && name == "compatible" {
            has_compatible = true;
        }
    }
    if has_compatible {
        let path = dir.join("compatible");
        if let Some(value) = read_optional(&path)? {
            if let Some((compatible, generation)) = match_compatible(&path, &value)? {
                let chip_id = chip_id(ancestors)?;
                found.push(Engine {
                    node: rel.to_owned(),
                    compatible,
                    generation,
                    chip_id,
                });
            }
        }
    }
    children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in children {
        let child_rel = match rel {
            "" => name.to_string_lossy().into_owned(),
            _ => format!("{rel}/{}", name.to_string_lossy()),
        };
        ancestors.push(dir.join(&name));
        walk(ancestors, &child_rel, found)?;
        ancestors.pop();
    }
    Ok(())
}

/// `ibm,chip-id` of the node (the last of `ancestors`) or of its nearest ancestor.
fn chip_id(ancestors: &[PathBuf]) -> Result<u32, Error> {
    for dir in ancestors.iter().rev() {
        let path = dir.join("ibm,chip-id");
        if let Some(value) = read_optional(&path)? {
            return parse_cell(&path, &value);
        }
    }
    let node = ancestors.last().expect("the tree root is always there");
    Err(malformed(
        node,
        "NX node without ibm,chip-id (neither in the node nor in a parent node)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations() {
        assert_eq!(nx_generation(b"ibm,power9-nx"), Some(9));
        assert_eq!(nx_generation(b"ibm,power10-nx"), Some(10));
        assert_eq!(nx_generation(b"ibm,power11-nx"), Some(11));
        for no in [
            &b"ibm,power8-nx"[..],
            b"ibm,power-nx",
            b"ibm,power09-nx",
            b"ibm,power10-nx-gzip",
            b"ibm,p9-nx-gzip",
            b"ibm,power10000-nx",
            b"ibm,powerx-nx",
            b"IBM,power9-nx",
            b"",
        ] {
            assert_eq!(nx_generation(no), None, "{}", show(no));
        }
    }

    fn p() -> &'static Path {
        Path::new("/dt/nx/compatible")
    }

    #[test]
    fn compatible_lists() {
        let ok = match_compatible(p(), b"ibm,power9-nx\0ibm,power-nx\0").unwrap();
        assert_eq!(ok, Some(("ibm,power9-nx".to_owned(), 9)));
        let second = match_compatible(p(), b"ibm,power-nx\0ibm,power10-nx\0").unwrap();
        assert_eq!(second, Some(("ibm,power10-nx".to_owned(), 10)));
        // Other nodes are not checked, however odd.
        assert_eq!(match_compatible(p(), b"foo\0\0\xff").unwrap(), None);
        assert_eq!(match_compatible(p(), b"ibm,power8-nx").unwrap(), None);
    }

    #[test]
    fn malformed_nx_compatible() {
        let err = |v: &[u8]| match_compatible(p(), v).unwrap_err().to_string();
        assert_eq!(
            err(b"ibm,power9-nx"),
            "/dt/nx/compatible: not NUL-terminated (device-tree strings end in NUL): \
             \"ibm,power9-nx\""
        );
        assert_eq!(
            err(b"ibm,power9-nx\0\0"),
            "/dt/nx/compatible: empty string in the list: \"ibm,power9-nx\\x00\\x00\""
        );
        assert_eq!(
            err(b"ibm,power9-nx\0ibm power\0"),
            "/dt/nx/compatible: byte 0x20 is not printable ASCII in \"ibm power\""
        );
    }
}
