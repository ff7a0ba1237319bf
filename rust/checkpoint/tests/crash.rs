//! kill -9 a process that commits in a loop, many times, at random moments: the base file and its
//! journal must always read as exactly one committed state, never a mix, and never lose an
//! acknowledged commit. The values are small, so most commits append to the journal and every
//! few hundred compact it into the base.
//!
//! The child is this test binary re-run with `CHILD_ENV` set (filtered to `crash_child`). Commit
//! number g stores keys k00..k{g % 16} all with value g and deletes the other keys, so any mix of
//! two commits is visible.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use std::{env, fs};

use drafast_checkpoint::{load, Records, Snapshot, Store};

const CHILD_ENV: &str = "DRAFAST_CHECKPOINT_CRASH_DIR";
const KEYS: u64 = 16;
const KILLS: usize = 30;

fn key(i: u64) -> String {
    format!("k{i:02}")
}

fn expected(generation: u64) -> Records {
    let value = generation.to_string();
    let entries: Vec<_> = (0..=generation % KEYS)
        .map(|i| (key(i), value.clone()))
        .collect();
    Records::from_entries(entries.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))).unwrap()
}

#[test]
fn crash_child() {
    let Some(dir) = env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&dir).join("ckpt")).unwrap();
    loop {
        let generation = store.generation() + 1;
        let keep = generation % KEYS;
        let (value, keys) = (
            generation.to_string(),
            (0..KEYS).map(key).collect::<Vec<_>>(),
        );
        let puts: Vec<_> = keys[..=keep as usize]
            .iter()
            .map(|k| (k.as_str(), value.as_bytes()))
            .collect();
        let deletes: Vec<_> = keys[keep as usize + 1..]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(store.commit(&puts, &deletes).unwrap(), generation);
        println!("committed {generation}");
    }
}

/// xorshift64: enough randomness for kill timing; the seed is printed to reproduce a failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn check_consistent(snapshot: &Snapshot) -> u64 {
    if snapshot.generation > 0 {
        assert_eq!(
            snapshot.records,
            expected(snapshot.generation),
            "mixed state"
        );
    } else {
        assert!(snapshot.records.is_empty());
    }
    snapshot.generation
}

#[test]
fn kill_9_always_leaves_one_committed_state() {
    if env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt");
    let mut last = 0;
    for round in 0..KILLS {
        let mut child = Command::new(env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // While the child runs, every read of the files sees a whole committed state.
        let deadline = Instant::now() + Duration::from_millis(20 + rng.below(120));
        while Instant::now() < deadline {
            assert!(check_consistent(&load(&path).unwrap()) >= last);
            std::thread::sleep(Duration::from_micros(rng.below(3000)));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let acked: Option<u64> = out
            .lines()
            .filter_map(|l| l.split("committed ").nth(1)?.trim().parse().ok())
            .max();

        let store = Store::open(&path).unwrap();
        let generation = store.generation();
        assert_eq!(check_consistent(&store.snapshot()), generation);
        if let Some(acked) = acked {
            // The kill may land between the commit and the report.
            assert!(
                generation == acked || generation == acked + 1,
                "round {round}: {generation} vs {acked}"
            );
        }
        assert!(
            generation >= last,
            "round {round}: went back from {last} to {generation}"
        );
        let leftovers = fs::read_dir(dir.path()).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp.")
        });
        assert_eq!(leftovers.count(), 0, "open removes temp files");
        last = generation;
    }
    println!("{last} commits over {KILLS} killed runs");
    assert!(
        last > KILLS as u64,
        "the child made progress: {last} commits"
    );
}
