//! Whole-probe tests on fixture trees: an LPAR with NX, an LPAR without, a two-chip PowerNV box,
//! and broken variants. Device-tree values are written as the firmware does (NUL-terminated
//! strings, big-endian cells); the device node is a real character device when we may mknod.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use drafast_nx::{probe, Platform, Source};
use tempfile::TempDir;

fn put(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

const CAPS: &str = "sys/devices/vio/ibm,compression-v1/nx_gzip_caps";
const VAS: &str = "sys/devices/virtual/misc/vas/vas0/gzip";
const XSCOM0: &str = "proc/device-tree/xscom@603fc00000000";
const XSCOM8: &str = "proc/device-tree/xscom@623fc00000000";

fn lpar(with_dev: bool) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, &format!("{CAPS}/req_max_processed_len"), b"1048576\n");
    put(root, &format!("{CAPS}/min_compress_len"), b"4096\n");
    put(root, &format!("{CAPS}/min_decompress_len"), b"2048\n");
    for (group, total, used) in [("default", "240", "2"), ("qos", "0", "0")] {
        let group = format!("{VAS}/{group}_capabilities");
        put(
            root,
            &format!("{group}/nr_total_credits"),
            format!("{total}\n").as_bytes(),
        );
        put(
            root,
            &format!("{group}/nr_used_credits"),
            format!("{used}\n").as_bytes(),
        );
    }
    // An LPAR's device tree has no ibm,powerN-nx node, only the VIO device.
    put(
        root,
        "proc/device-tree/vdevice/ibm,compression-v1@4001/compatible",
        b"ibm,compression-v1\0",
    );
    if with_dev {
        put(root, "sys/class/nx-gzip/nx-gzip/dev", b"243:0\n");
    }
    dir
}

fn powernv() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (xscom, chip, generation) in [(XSCOM0, 0u32, 10), (XSCOM8, 8, 10)] {
        put(root, &format!("{xscom}/ibm,chip-id"), &chip.to_be_bytes());
        put(
            root,
            &format!("{xscom}/compatible"),
            b"ibm,xscom\0ibm,power10-xscom\0",
        );
        let compat = format!("ibm,power{generation}-nx\0ibm,power-nx\0");
        put(
            root,
            &format!("{xscom}/nx@2010000/compatible"),
            compat.as_bytes(),
        );
        put(
            root,
            &format!("{xscom}/nx@2010000/ibm,gzip-high-fifo@1/compatible"),
            b"ibm,p10-gzip-fifo\0",
        );
    }
    put(root, "proc/device-tree/cpus/compatible", b"odd\0\0\xff"); // not ours: ignored
    put(root, "sys/class/nx-gzip/nx-gzip/dev", b"243:0\n");
    dir
}

#[test]
fn lpar_with_nx() {
    let dir = lpar(true);
    let p = probe(dir.path()).unwrap();
    assert_eq!(p.platform, Platform::PowerVm);
    assert!(p.usable(), "{}", p.reason);
    let caps = p.vio.unwrap();
    assert_eq!(caps.req_max_processed_len, Some(1_048_576));
    assert_eq!(caps.min_compress_len, Some(4096));
    assert_eq!(caps.min_decompress_len, Some(2048));
    assert_eq!(
        (caps.default_credits_total, caps.default_credits_used),
        (Some(240), Some(2))
    );
    assert_eq!(
        (caps.qos_credits_total, caps.qos_credits_used),
        (Some(0), Some(0))
    );
    assert!(p.engines.is_empty());
    let dev = p.char_device.unwrap();
    assert_eq!((dev.major, dev.minor, dev.source), (243, 0, Source::Sysfs));
}

#[test]
fn lpar_with_nx_but_no_device_node() {
    let dir = lpar(false);
    let p = probe(dir.path()).unwrap();
    assert_eq!(p.platform, Platform::PowerVm);
    assert!(!p.usable());
    assert!(
        p.reason
            .starts_with("NX-gzip accelerator found (powervm) but neither "),
        "{}",
        p.reason
    );
}

#[test]
fn lpar_without_nx() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(
        root,
        "proc/device-tree/vdevice/vty@30000000/compatible",
        b"hvterm1\0",
    );
    let p = probe(root).unwrap();
    assert_eq!(p.platform, Platform::None);
    assert!(p.vio.is_none() && p.engines.is_empty() && p.char_device.is_none());
    assert_eq!(
        p.reason,
        format!(
            "no NX-gzip accelerator: {}/{CAPS} does not exist (PowerVM) and \
             {}/proc/device-tree has no ibm,powerN-nx node with N >= 9 (PowerNV)",
            root.display(),
            root.display()
        )
    );
}

#[test]
fn the_host_root_must_be_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = probe(&missing).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{}: host root does not exist", missing.display())
    );
    put(dir.path(), "file", b"");
    let err = probe(&dir.path().join("file")).unwrap_err().to_string();
    assert!(
        err.ends_with("/file: host root is not a directory"),
        "{err}"
    );
}

#[test]
fn empty_root_has_no_device_tree() {
    let dir = tempfile::tempdir().unwrap();
    let p = probe(dir.path()).unwrap();
    assert_eq!(p.device_tree, None);
    assert!(
        p.reason.contains("there is no device tree at "),
        "{}",
        p.reason
    );
}

#[test]
fn two_chip_powernv() {
    let dir = powernv();
    let p = probe(dir.path()).unwrap();
    assert_eq!(p.platform, Platform::PowerNv);
    assert!(p.usable(), "{}", p.reason);
    let nodes: Vec<_> = p
        .engines
        .iter()
        .map(|e| {
            (
                e.node.as_str(),
                e.compatible.as_str(),
                e.generation,
                e.chip_id,
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            ("xscom@603fc00000000/nx@2010000", "ibm,power10-nx", 10, 0),
            ("xscom@623fc00000000/nx@2010000", "ibm,power10-nx", 10, 8),
        ]
    );
}

#[test]
fn device_tree_through_an_absolute_symlink_is_rerooted() {
    let dir = powernv();
    let root = dir.path();
    fs::create_dir_all(root.join("sys/firmware/devicetree")).unwrap();
    fs::rename(
        root.join("proc/device-tree"),
        root.join("sys/firmware/devicetree/base"),
    )
    .unwrap();
    symlink(
        "/sys/firmware/devicetree/base",
        root.join("proc/device-tree"),
    )
    .unwrap();
    let p = probe(root).unwrap();
    assert_eq!(p.engines.len(), 2);
    let tree = root.join("sys/firmware/devicetree/base");
    assert_eq!(
        p.device_tree.as_deref(),
        Some(tree.display().to_string().as_str())
    );
    // Without the /proc link, the sysfs path is found directly.
    fs::remove_file(root.join("proc/device-tree")).unwrap();
    assert_eq!(probe(root).unwrap().engines.len(), 2);
}

#[test]
fn chip_id_on_the_nx_node_wins_over_the_parent() {
    let dir = powernv();
    put(
        dir.path(),
        &format!("{XSCOM8}/nx@2010000/ibm,chip-id"),
        &16u32.to_be_bytes(),
    );
    let chips: Vec<_> = probe(dir.path())
        .unwrap()
        .engines
        .iter()
        .map(|e| e.chip_id)
        .collect();
    assert_eq!(chips, [0, 16]);
}

fn broken(edit: impl FnOnce(&Path)) -> String {
    let dir = powernv();
    edit(dir.path());
    probe(dir.path()).unwrap_err().to_string()
}

#[test]
fn broken_trees_name_the_file() {
    let err = broken(|r| put(r, &format!("{XSCOM8}/ibm,chip-id"), &[0, 0, 8]));
    assert!(
        err.ends_with(
            "xscom@623fc00000000/ibm,chip-id: expected 4 bytes (one big-endian cell), found 3"
        ),
        "{err}"
    );
    let err = broken(|r| {
        put(
            r,
            &format!("{XSCOM0}/nx@2010000/compatible"),
            b"ibm,power9-nx",
        )
    });
    assert!(
        err.contains("xscom@603fc00000000/nx@2010000/compatible: not NUL-terminated"),
        "{err}"
    );
    let err = broken(|r| fs::remove_file(r.join(format!("{XSCOM0}/ibm,chip-id"))).unwrap());
    assert!(
        err.ends_with("xscom@603fc00000000/nx@2010000: NX node without ibm,chip-id (neither in the node nor in a parent node)"),
        "{err}"
    );
    let err = broken(|r| put(r, &format!("{XSCOM8}/ibm,chip-id"), &0u32.to_be_bytes()));
    assert!(
        err.ends_with("xscom@623fc00000000/nx@2010000: chip id 0 is also the chip id of NX node xscom@603fc00000000/nx@2010000"),
        "{err}"
    );
    let err = broken(|r| put(r, "sys/class/nx-gzip/nx-gzip/dev", b"243-0\n"));
    assert!(
        err.contains("sys/class/nx-gzip/nx-gzip/dev: expected MAJOR:MINOR"),
        "{err}"
    );
    let err = broken(|r| put(r, &format!("{CAPS}/min_compress_len"), b"-4096\n"));
    assert!(
        err.ends_with("nx_gzip_caps/min_compress_len: not a decimal number: \"-4096\""),
        "{err}"
    );
    let err = broken(|r| {
        fs::remove_dir_all(r.join("proc/device-tree")).unwrap();
        put(r, "proc/device-tree", b"");
    });
    assert!(err.ends_with("/proc/device-tree: not a directory"), "{err}");
}

#[test]
fn a_too_deep_tree_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let deep = (0..70)
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join("/");
    fs::create_dir_all(dir.path().join("proc/device-tree").join(deep)).unwrap();
    let err = probe(dir.path()).unwrap_err().to_string();
    assert!(
        err.ends_with(": more than 64 levels below the device-tree root"),
        "{err}"
    );
}

/// A real character device (the numbers of /dev/null) when this process may mknod.
fn mknod(path: &Path) -> bool {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    Command::new("mknod")
        .arg(path)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_device_node_wins_over_sysfs() {
    let dir = powernv();
    if !mknod(&dir.path().join("dev/crypto/nx-gzip")) {
        eprintln!("skipped: cannot mknod here");
        return;
    }
    let dev = probe(dir.path()).unwrap().char_device.unwrap();
    assert_eq!((dev.major, dev.minor, dev.source), (1, 3, Source::Node));
    assert!(dev.path.ends_with("/dev/crypto/nx-gzip"));
}
