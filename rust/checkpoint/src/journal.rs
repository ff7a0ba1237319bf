//! The commit journal: one checksummed entry appended per commit, replayed over the base image.
//!
//! Why: appending an entry and `fdatasync`ing it costs about a quarter of replacing the whole
//! file (no new inode, no rename, no directory fsync; measured on ext4 in a VM: 40 µs CPU and
//! 0.14 ms per commit against 145 µs and 0.53 ms), and a kubelet plugin commits twice per claim.
//!
//! An entry is the base image's envelope line with the magic `drafast-journal/v`, then the
//! payload `{"generation":G,"put":{"key":<JSON>,...},"delete":["key",...]}` and a newline. Entries
//! at or below the base image's generation were folded into it by a compaction and are skipped.
//! An entry cut short at the end of the file is a commit that never returned (a torn append) and
//! is dropped; any other damage is an error naming the file and the entry's byte offset.

use crate::format::{envelope, push_members, seal, Claims, Fail, Snapshot, FORMAT_VERSION};
use crate::record::{Records, Value};
use crate::{Error, RecordError};
use std::collections::BTreeMap;

/// Entry lines start with this, followed by the format version.
pub const JOURNAL_MAGIC: &str = "drafast-journal/v";

/// One commit's effect: the records it sets (last put of a key wins, deleted keys left out) and
/// the keys it removes, both sorted.
#[derive(Debug, Default)]
pub(crate) struct Change<'a> {
    pub puts: BTreeMap<&'a str, Value>,
    pub deletes: Vec<&'a str>,
}

impl<'a> Change<'a> {
    /// Puts first, then deletes: a key both put and deleted ends up deleted.
    pub fn new(puts: Vec<(&'a str, Value)>, deletes: &[&'a str]) -> Self {
        let mut map: BTreeMap<&str, Value> = puts.into_iter().collect();
        let mut gone: Vec<&str> = deletes.to_vec();
        gone.sort_unstable();
        gone.dedup();
        for key in &gone {
            map.remove(key);
        }
        Change {
            puts: map,
            deletes: gone,
        }
    }

    pub fn apply(&self, records: &mut Records) -> Result<(), RecordError> {
        for (key, value) in &self.puts {
            records.insert(key, value.clone())?;
        }
        for key in &self.deletes {
            records.remove(key);
        }
        Ok(())
    }
}

/// Encodes one entry.
pub(crate) fn encode_entry(generation: u64, change: &Change<'_>) -> Vec<u8> {
    let size: usize = change
        .puts
        .iter()
        .map(|(k, v)| k.len() + v.as_str().len() + 4)
        .sum::<usize>();
    let size = size + change.deletes.iter().map(|k| k.len() + 3).sum::<usize>();
    let mut payload = Vec::with_capacity(size + 64);
    payload.extend_from_slice(b"{\"generation\":");
    payload.extend_from_slice(generation.to_string().as_bytes());
    payload.extend_from_slice(b",\"put\":{");
    push_members(&mut payload, change.puts.iter().map(|(k, v)| (*k, v)));
    payload.extend_from_slice(b"},\"delete\":[");
    for (i, key) in change.deletes.iter().enumerate() {
        if i > 0 {
            payload.push(b',');
        }
        payload.push(b'"');
        payload.extend_from_slice(key.as_bytes());
        payload.push(b'"');
    }
    payload.extend_from_slice(b"]}");
    let mut entry = seal(JOURNAL_MAGIC, &payload);
    entry.push(b'\n');
    entry
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryPayload<'a> {
    generation: u64,
    #[serde(borrow)]
    put: Claims<'a>,
    #[serde(borrow)]
    delete: Vec<&'a str>,
}

/// Replays the journal `data` over `snapshot` and returns how many bytes of it are whole entries
/// (less than `data.len()` when the last append was torn). `name` is the journal's path.
pub(crate) fn replay(data: &[u8], name: &str, snapshot: &mut Snapshot) -> Result<usize, Error> {
    let base = snapshot.generation;
    let mut pos = 0;
    while pos < data.len() {
        let corrupt = |detail: String| Error::Journal {
            name: name.to_owned(),
            offset: pos,
            detail,
        };
        let rest = &data[pos..];
        let (crc, length, after) = match envelope(rest, JOURNAL_MAGIC) {
            Ok(parts) => parts,
            Err(Fail::Incomplete) => break,
            // A crash can leave the file longer than what reached it, padded with zeros.
            Err(_) if rest.iter().all(|&b| b == 0) => break,
            Err(Fail::Magic) => return Err(corrupt("not a journal entry (bad magic)".into())),
            Err(Fail::Newer(v)) => {
                let text = format!(
                    "written by a newer drafast (format v{v}); this build reads v{FORMAT_VERSION}"
                );
                return Err(corrupt(text));
            }
            Err(Fail::Bad(detail)) => {
                return Err(corrupt(format!("malformed envelope line: {detail}")))
            }
        };
        if after.len() <= length {
            // The payload or its newline is missing: a torn append, which can only be the last
            // entry. Another entry after it means the length itself is damaged.
            if contains(after, b"\ndrafast-journal/v")
                || after.starts_with(JOURNAL_MAGIC.as_bytes())
            {
                return Err(corrupt(format!("length {length} runs past the next entry")));
            }
            break;
        }
        let payload = &after[..length];
        if after[length] != b'\n' {
            return Err(corrupt(format!("length {length} does not end the entry")));
        }
        let actual = crc32c::crc32c(payload);
        if actual != crc {
            let text = format!(
                "checksum mismatch: corrupted (crc32c {actual:08x}, envelope says {crc:08x})"
            );
            return Err(corrupt(text));
        }
        let parsed: EntryPayload<'_> = serde_json::from_slice(payload)
            .map_err(|e| corrupt(format!("malformed payload: {e}")))?;
        let generation = parsed.generation;
        if generation > snapshot.generation {
            if generation != snapshot.generation + 1 {
                let text = format!(
                    "generation {generation} follows {} (entries missing; base image at {base})",
                    snapshot.generation
                );
                return Err(corrupt(text));
            }
            let puts = parsed
                .put
                .0
                .iter()
                .map(|&(k, raw)| (k, Value::from_raw(raw)))
                .collect();
            Change::new(puts, &parsed.delete)
                .apply(&mut snapshot.records)
                .map_err(|e| corrupt(e.to_string()))?;
            snapshot.generation = generation;
        }
        pos += rest.len() - after.len() + length + 1;
    }
    Ok(pos)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value {
        Value::parse("k", text.as_bytes()).unwrap()
    }

    fn entry(generation: u64, puts: &[(&'static str, &str)], deletes: &[&'static str]) -> Vec<u8> {
        let puts = puts.iter().map(|&(k, v)| (k, value(v))).collect();
        encode_entry(generation, &Change::new(puts, deletes))
    }

    fn items(s: &Snapshot) -> Vec<(String, String)> {
        let records = s.records.iter();
        records
            .map(|(k, v)| (k.to_owned(), v.as_str().to_owned()))
            .collect()
    }

    #[test]
    fn exact_entry() {
        let got = entry(
            4,
            &[("b", "2"), ("a", "1"), ("b", "3"), ("c", "0")],
            &["c", "x", "c"],
        );
        let payload = r#"{"generation":4,"put":{"a":1,"b":3},"delete":["c","x"]}"#;
        let crc = crc32c::crc32c(payload.as_bytes());
        let want = format!(
            "drafast-journal/v1 crc32c={crc:08x} length={}\n{payload}\n",
            payload.len()
        );
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn replay_applies_in_order_and_skips_compacted_entries() {
        let mut data = entry(3, &[("old", "0")], &[]); // folded into the base already
        data.extend(entry(5, &[("a", "1"), ("b", "2")], &[]));
        data.extend(entry(6, &[("a", "\"x\"")], &["b"]));
        let mut snap = Snapshot {
            generation: 4,
            records: Records::new(),
        };
        assert_eq!(replay(&data, "j", &mut snap).unwrap(), data.len());
        assert_eq!(snap.generation, 6);
        assert_eq!(items(&snap), [("a".into(), "\"x\"".into())]);
    }

    #[test]
    fn torn_tails_are_dropped() {
        let first = entry(1, &[("a", "1")], &[]);
        let second = entry(2, &[("b", "2")], &[]);
        for cut in 0..second.len() {
            let mut data = first.clone();
            data.extend_from_slice(&second[..cut]);
            let mut snap = Snapshot::default();
            assert_eq!(
                replay(&data, "j", &mut snap).unwrap(),
                first.len(),
                "cut {cut}"
            );
            assert_eq!(snap.generation, 1);
        }
        let mut zeros = first.clone();
        zeros.extend([0u8; 100]);
        let mut snap = Snapshot::default();
        assert_eq!(replay(&zeros, "j", &mut snap).unwrap(), first.len());
    }

    #[test]
    fn damage_is_an_error_naming_the_offset() {
        let first = entry(1, &[("a", "1")], &[]);
        let at = first.len();
        let err = |data: &[u8]| {
            let mut snap = Snapshot::default();
            replay(data, "/p/j", &mut snap).unwrap_err().to_string()
        };
        let mut flipped = first.clone();
        flipped.extend(entry(2, &[("b", "2")], &[]));
        let n = flipped.len();
        flipped[n - 3] ^= 1;
        assert!(err(&flipped).starts_with(&format!("/p/j: entry at byte {at}: checksum mismatch")));
        let mut garbage = first.clone();
        garbage.extend(b"garbage\n");
        assert_eq!(
            err(&garbage),
            format!("/p/j: entry at byte {at}: not a journal entry (bad magic)")
        );
        let mut gap = first.clone();
        gap.extend(entry(3, &[], &["a"]));
        assert!(err(&gap).contains("generation 3 follows 1 (entries missing"));
        let newer = b"drafast-journal/v2 crc32c=00000000 length=2\n{}\n";
        assert!(err(newer).contains("entry at byte 0: written by a newer drafast (format v2)"));
    }

    #[test]
    fn every_single_byte_change_is_caught_or_reads_as_torn() {
        let mut data = entry(1, &[("a", "{\"x\":[1,2]}")], &[]);
        let first = data.len();
        data.extend(entry(2, &[("b", "true")], &["a"]));
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x20;
            let mut snap = Snapshot::default();
            match replay(&bad, "j", &mut snap) {
                Err(_) => {}
                // Only a changed length of the last entry can pass for a torn append.
                Ok(valid) => assert_eq!((valid, snap.generation), (first, 1), "byte {i}"),
            }
        }
    }
}
