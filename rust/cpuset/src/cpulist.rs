//! The kernel's cpulist text form (`0-3,8,10-11`), as in sysfs `cpulist`/`online` files and
//! cgroup `cpuset.cpus`.
//!
//! Parsing is strict so that a typo in a claim's cpuset or a reserved-CPUs flag is an error, not
//! a different set: only leading and trailing whitespace is forgiven (sysfs files end with a
//! newline). Positions in errors count characters, so they point into the text the user wrote.

use std::fmt;

use crate::error::CpuListError;
use crate::set::{CpuSet, MAX_CPU_ID};

/// What `str::trim_ascii` would drop, written out so the Python reference can mirror it.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

impl CpuSet {
    /// Parse a cpulist; the empty (or all-blank) text is the empty set.
    pub fn parse(text: &str) -> Result<CpuSet, CpuListError> {
        // Every cpuset_take call parses the free list (hundreds of entries on a busy large
        // host): a tight pass for well-formed text, and the careful scanner below, which is
        // the authority, for anything the fast pass does not accept (it then finds the error).
        match parse_fast(text.as_bytes()) {
            Some(set) => Ok(set),
            None => parse_strict(text),
        }
    }
}

/// The well-formed cpulists `parse_strict` accepts, into the same set, or `None` (then
/// `parse_strict` decides, and reports the error). Into a fixed bitmap on the stack: one
/// allocation for the answer instead of one per word the set grows by.
fn parse_fast(text: &[u8]) -> Option<CpuSet> {
    let text = text.trim_ascii();
    let mut words = [0u64; (MAX_CPU_ID as usize + 1) / 64];
    let mut used = 0; // words in use: up to the highest CPU's
    let mut at = 0;
    // One number: digits only, at most MAX_CPU_ID (five digits cover it; more go strict).
    let number = |at: &mut usize| -> Option<u32> {
        let begin = *at;
        let mut value = 0u32;
        while let Some(&b @ b'0'..=b'9') = text.get(*at) {
            value = value * 10 + u32::from(b - b'0');
            *at += 1;
            if *at - begin > 5 {
                return None;
            }
        }
        (*at > begin && value <= MAX_CPU_ID).then_some(value)
    };
    while at < text.len() {
        let first = number(&mut at)?;
        let last = if text.get(at) == Some(&b'-') {
            at += 1;
            number(&mut at)?
        } else {
            first
        };
        if first > last {
            return None;
        }
        match text.get(at) {
            None => {}
            // A ',' must be followed by another entry.
            Some(b',') if at + 1 < text.len() => at += 1,
            Some(_) => return None,
        }
        let (lo, hi) = (first as usize, last as usize);
        used = used.max(hi / 64 + 1);
        if lo == hi {
            words[lo / 64] |= 1 << (lo % 64);
            continue;
        }
        for (word, bits) in words.iter_mut().enumerate().take(hi / 64 + 1).skip(lo / 64) {
            // Bits lo..=hi of this word, from the shifts of an all-ones word.
            let from = if word == lo / 64 { lo % 64 } else { 0 };
            let to = if word == hi / 64 { hi % 64 } else { 63 };
            *bits |= (u64::MAX << from) & (u64::MAX >> (63 - to));
        }
    }
    Some(CpuSet::from_words(words[..used].to_vec()))
}

/// The careful parser: positions and reasons for every malformed text.
fn parse_strict(text: &str) -> Result<CpuSet, CpuListError> {
    // Bytes, not chars: every valid character is ASCII, and a multi-byte character is an
    // error at its first byte (positions are converted to characters only for errors).
    let bytes = text.as_bytes();
    let is_blank = |b: &u8| is_blank(char::from(*b));
    let start = bytes
        .iter()
        .position(|b| !is_blank(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(start, |i| i + 1);
    let mut scan = Scanner {
        text,
        bytes: &bytes[..end],
        pos: start,
    };
    let mut set = CpuSet::new();
    if start == end {
        return Ok(set);
    }
    loop {
        let entry = scan.pos;
        if matches!(scan.peek(), None | Some(b',')) {
            return Err(scan.error(entry, "empty entry".into()));
        }
        let first = scan.number()?;
        let last = if scan.peek() == Some(b'-') {
            scan.pos += 1;
            scan.number()?
        } else {
            first
        };
        if first > last {
            return Err(scan.error(entry, format!("range {first}-{last} is reversed")));
        }
        set.insert_range(first, last);
        match scan.peek() {
            None => return Ok(set),
            Some(b',') => scan.pos += 1,
            Some(_) => return Err(scan.error(scan.pos, "expected ',' or the end".into())),
        }
    }
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// A byte offset.
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn number(&mut self) -> Result<u32, CpuListError> {
        let begin = self.pos;
        let mut value: u64 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            value = (value * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX));
            self.pos += 1;
        }
        if begin == self.pos {
            return Err(self.error(begin, "expected a CPU number".into()));
        }
        match u32::try_from(value) {
            Ok(n) if n <= MAX_CPU_ID => Ok(n),
            _ => {
                let digits = &self.text[begin..self.pos];
                Err(self.error(begin, format!("CPU id {digits} is above {MAX_CPU_ID}")))
            }
        }
    }

    /// An error at byte offset `at`, reported as a character position.
    fn error(&self, at: usize, reason: String) -> CpuListError {
        let position = self
            .text
            .char_indices()
            .take_while(|&(i, _)| i < at)
            .count();
        CpuListError {
            text: self.text.to_owned(),
            position,
            reason,
        }
    }
}

impl CpuSet {
    /// The canonical cpulist (what `to_string` gives), built straight into its `String`: this
    /// text is the answer of every cpuset_take call, and `write!` (or a `String` pushed char
    /// by char, or a `Vec` of runs first) per number was a large part of its time on 1024
    /// CPUs.
    pub fn to_cpulist(&self) -> String {
        // At most 6 bytes a CPU (5 digits and a separator): no growing on the way.
        let mut out: Vec<u8> = Vec::with_capacity(self.len() * 6);
        self.for_each_run(|first, last| {
            if !out.is_empty() {
                out.push(b',');
            }
            push_number(&mut out, first);
            if last != first {
                out.push(b'-');
                push_number(&mut out, last);
            }
        });
        String::from_utf8(out).expect("digits, ',' and '-' are ASCII")
    }
}

/// Canonical form: ascending, runs of two or more CPUs as `a-b`, no spaces.
impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_cpulist())
    }
}

/// Append `n` in decimal. CPU ids have at most 5 digits (MAX_CPU_ID is 16383): one arm per
/// length, each a fixed-size append of digits found by division by constants (a digit loop
/// and a variable-length copy were most of the formatting time).
fn push_number(out: &mut Vec<u8>, n: u32) {
    let d = |k: u32| b'0' + (k % 10) as u8;
    match n {
        0..=9 => out.push(d(n)),
        10..=99 => out.extend_from_slice(&[d(n / 10), d(n)]),
        100..=999 => out.extend_from_slice(&[d(n / 100), d(n / 10), d(n)]),
        1000..=9999 => out.extend_from_slice(&[d(n / 1000), d(n / 100), d(n / 10), d(n)]),
        _ => {
            let mut digits = [0u8; 10];
            let (mut i, mut rest) = (digits.len(), n);
            while rest != 0 {
                i -= 1;
                digits[i] = d(rest);
                rest /= 10;
            }
            out.extend_from_slice(&digits[i..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(text: &str) -> (usize, String) {
        let e = CpuSet::parse(text).unwrap_err();
        (e.position, e.reason)
    }

    #[test]
    fn parses_sysfs_forms() {
        let s = CpuSet::parse("0-3,8,10-11\n").unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(s.to_string(), "0-3,8,10-11");
        assert!(CpuSet::parse("").unwrap().is_empty());
        assert!(CpuSet::parse(" \n").unwrap().is_empty());
        assert_eq!(CpuSet::parse("5,4,4-5,007").unwrap().to_string(), "4-5,7");
        assert_eq!(CpuSet::parse("16383").unwrap().to_string(), "16383");
        let lengths = "0,9-10,99-100,999-1000,9999-10000,16383";
        assert_eq!(CpuSet::parse(lengths).unwrap().to_cpulist(), lengths);
    }

    #[test]
    fn rejects_malformed_with_position() {
        assert_eq!(err("3-1"), (0, "range 3-1 is reversed".into()));
        assert_eq!(err("a"), (0, "expected a CPU number".into()));
        assert_eq!(err("1,,2"), (2, "empty entry".into()));
        assert_eq!(err("1,"), (2, "empty entry".into()));
        assert_eq!(err(",1"), (0, "empty entry".into()));
        assert_eq!(err("1-"), (2, "expected a CPU number".into()));
        assert_eq!(err("1-2-3"), (3, "expected ',' or the end".into()));
        assert_eq!(err(" 0, 2"), (3, "expected a CPU number".into()));
        assert_eq!(err("16384"), (0, "CPU id 16384 is above 16383".into()));
        assert_eq!(
            err("1,99999999999"),
            (2, "CPU id 99999999999 is above 16383".into())
        );
        assert_eq!(err("+1"), (0, "expected a CPU number".into()));
        assert_eq!(
            CpuSet::parse("x").unwrap_err().to_string(),
            "malformed cpulist \"x\" at position 0: expected a CPU number"
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ids in prop::collection::btree_set(0u32..=MAX_CPU_ID, 0..60)) {
            let set: CpuSet = ids.iter().copied().collect();
            let text = set.to_string();
            prop_assert_eq!(&set.to_cpulist(), &text);
            prop_assert_eq!(CpuSet::parse(&text).unwrap(), set.clone());
            prop_assert_eq!(CpuSet::parse(&format!(" {text}\n")).unwrap(), set);
        }

        /// The fast pass accepts only what the strict parser accepts, as the same set.
        #[test]
        fn fast_pass_agrees_with_strict(text in "[ \t\n0-9,\\-a]{0,16}") {
            if let Some(set) = parse_fast(text.as_bytes()) {
                prop_assert_eq!(Ok(set), parse_strict(&text));
            }
            prop_assert_eq!(CpuSet::parse(&text), parse_strict(&text));
        }

        #[test]
        fn parse_never_panics(text in "[0-9,\\- a]{0,12}") {
            if let Ok(set) = CpuSet::parse(&text) {
                prop_assert_eq!(CpuSet::parse(&set.to_string()).unwrap(), set);
            }
        }
    }
}
