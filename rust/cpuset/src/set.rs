//! `CpuSet`: a bitmap of logical CPU ids (one bit per CPU, 64 per word).
//!
//! A bitmap rather than a sorted list because the picking algorithms ask "how many of these are
//! free" thousands of times per call: an AND and a popcount over at most 256 words.

use std::fmt;

/// The largest CPU id accepted: the kernel's `NR_CPUS` ceiling on x86-64 (`CONFIG_NR_CPUS`
/// max 8192) doubled for headroom; it bounds the bitmap at 2 KiB whatever the input says.
pub const MAX_CPU_ID: u32 = 16383;

#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct CpuSet {
    /// Trailing zero words are trimmed, so equal sets compare equal.
    words: Vec<u64>,
}

impl CpuSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for CPUs up to `other`'s highest without reallocating (sets
    /// built CPU by CPU, highest last, otherwise grow a word at a time).
    pub fn with_room_for(other: &CpuSet) -> Self {
        CpuSet {
            words: Vec::with_capacity(other.words.len()),
        }
    }

    /// Panics on an id above [`MAX_CPU_ID`]: callers validate ids at the edge.
    pub fn insert(&mut self, cpu: u32) {
        assert!(cpu <= MAX_CPU_ID, "CPU id {cpu} above {MAX_CPU_ID}");
        let (word, bit) = (cpu as usize / 64, cpu % 64);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << bit;
    }

    /// Insert `first..=last` a word at a time (cpulists are mostly long ranges).
    pub fn insert_range(&mut self, first: u32, last: u32) {
        assert!(
            first <= last && last <= MAX_CPU_ID,
            "bad range {first}-{last}"
        );
        let (lo, hi) = (first as usize, last as usize);
        if self.words.len() <= hi / 64 {
            self.words.resize(hi / 64 + 1, 0);
        }
        if lo == hi {
            // A single CPU: most entries of a busy host's cpulist.
            self.words[lo / 64] |= 1 << (lo % 64);
            return;
        }
        for word in lo / 64..=hi / 64 {
            let from = if word == lo / 64 { lo % 64 } else { 0 };
            let to = if word == hi / 64 { hi % 64 } else { 63 };
            // Bits from..=to set; `to - from + 1` may be 64.
            let width = to - from + 1;
            let mask = if width == 64 {
                u64::MAX
            } else {
                ((1u64 << width) - 1) << from
            };
            self.words[word] |= mask;
        }
    }

    /// Remove `cpu`; whether it was in the set (one word lookup for `contains` + `remove`).
    pub(crate) fn take_out(&mut self, cpu: u32) -> bool {
        let Some(w) = self.words.get_mut(cpu as usize / 64) else {
            return false;
        };
        let bit = 1 << (cpu % 64);
        if *w & bit == 0 {
            return false;
        }
        *w &= !bit;
        if *w == 0 {
            self.trim();
        }
        true
    }

    pub fn remove(&mut self, cpu: u32) {
        let word = cpu as usize / 64;
        if let Some(w) = self.words.get_mut(word) {
            *w &= !(1 << (cpu % 64));
            self.trim();
        }
    }

    pub fn contains(&self, cpu: u32) -> bool {
        self.words
            .get(cpu as usize / 64)
            .is_some_and(|w| w & (1 << (cpu % 64)) != 0)
    }

    /// Remove the CPUs `bits` of word `word`; which of them were in the set. Leaves a
    /// trailing zero word: call `trim` after the last.
    pub(crate) fn remove_bits(&mut self, word: usize, bits: u64) -> u64 {
        let Some(w) = self.words.get_mut(word) else {
            return 0;
        };
        let gone = *w & bits;
        *w &= !bits;
        gone
    }

    /// The bitmap, 64 CPUs a word, lowest first (no trailing zero word).
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// CPU ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut rest = w;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    i as u32 * 64 + bit
                })
            })
        })
    }

    /// Maximal runs of consecutive CPUs, ascending, as (first, last): found a word at a time
    /// with bit scans, because formatting a cpulist is on every call's answer path.
    pub fn runs(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        self.for_each_run(|first, last| out.push((first, last)));
        out
    }

    /// `runs()` without collecting them (the formatter writes each as it is found).
    pub(crate) fn for_each_run(&self, mut f: impl FnMut(u32, u32)) {
        let mut open: Option<(u32, u32)> = None;
        for (i, &word) in self.words.iter().enumerate() {
            let mut rest = word;
            let mut shift = 0u32;
            while rest != 0 {
                let skip = rest.trailing_zeros();
                rest >>= skip;
                shift += skip;
                let len = rest.trailing_ones();
                let first = i as u32 * 64 + shift;
                let last = first + len - 1;
                // A run may go on from the last word's top bit.
                match &mut open {
                    Some(run) if run.1 + 1 == first => run.1 = last,
                    _ => {
                        if let Some((a, b)) = open.replace((first, last)) {
                            f(a, b);
                        }
                    }
                }
                // len may be 64 (a full word): shifting by 64 would overflow.
                rest = rest.checked_shr(len).unwrap_or(0);
                shift += len;
            }
        }
        if let Some((a, b)) = open {
            f(a, b);
        }
    }

    pub fn union(&self, other: &CpuSet) -> CpuSet {
        let (long, short) = if self.words.len() >= other.words.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut words = long.words.clone();
        for (w, o) in words.iter_mut().zip(&short.words) {
            *w |= o;
        }
        CpuSet { words }
    }

    /// `self ∪= other` without a new allocation when `self` is long enough.
    pub fn union_with(&mut self, other: &CpuSet) {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
    }

    pub fn intersection(&self, other: &CpuSet) -> CpuSet {
        let words = self.words.iter().zip(&other.words).map(|(a, b)| a & b);
        CpuSet::from_words(words.collect())
    }

    pub fn difference(&self, other: &CpuSet) -> CpuSet {
        let words = self
            .words
            .iter()
            .enumerate()
            .map(|(i, a)| a & !other.words.get(i).copied().unwrap_or(0));
        CpuSet::from_words(words.collect())
    }

    /// `self = a ∩ b`, reusing `self`'s words.
    pub(crate) fn set_intersection(&mut self, a: &CpuSet, b: &CpuSet) {
        self.words.clear();
        (self.words).extend(a.words.iter().zip(&b.words).map(|(x, y)| x & y));
        self.trim();
    }

    /// Empty the set, keeping its room.
    pub(crate) fn clear(&mut self) {
        self.words.clear();
    }

    /// `|self ∩ other|` without building the intersection.
    pub fn count_common(&self, other: &CpuSet) -> usize {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a & b).count_ones() as usize)
            .sum()
    }

    /// Whether the sets share a CPU (stops at the first shared word).
    pub fn intersects(&self, other: &CpuSet) -> bool {
        self.words.iter().zip(&other.words).any(|(a, b)| a & b != 0)
    }

    pub fn is_subset(&self, other: &CpuSet) -> bool {
        self.words
            .iter()
            .enumerate()
            .all(|(i, a)| a & !other.words.get(i).copied().unwrap_or(0) == 0)
    }

    /// The lowest CPU id, if any.
    pub fn first(&self) -> Option<u32> {
        self.iter().next()
    }

    pub(crate) fn from_words(words: Vec<u64>) -> CpuSet {
        let mut set = CpuSet { words };
        set.trim();
        set
    }

    pub(crate) fn trim(&mut self) {
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }
}

impl FromIterator<u32> for CpuSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut set = CpuSet::new();
        for cpu in iter {
            set.insert(cpu);
        }
        set
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuSet({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ids() -> impl Strategy<Value = BTreeSet<u32>> {
        prop::collection::btree_set(0u32..300, 0..40)
    }

    fn of(s: &BTreeSet<u32>) -> CpuSet {
        s.iter().copied().collect()
    }

    #[test]
    fn insert_remove_contains_and_trailing_words_trimmed() {
        let mut s = CpuSet::new();
        s.insert(200);
        s.insert(3);
        assert!(s.contains(200) && s.contains(3) && !s.contains(4));
        s.remove(200);
        assert_eq!(s, [3].into_iter().collect());
        s.remove(3);
        assert!(s.is_empty());
        assert_eq!(s.first(), None);
    }

    proptest! {
        #[test]
        fn set_algebra_matches_btreeset(a in ids(), b in ids()) {
            let (sa, sb) = (of(&a), of(&b));
            prop_assert_eq!(sa.union(&sb), of(&a.union(&b).copied().collect()));
            let (lo, hi) = (a.first().copied().unwrap_or(0), b.last().copied().unwrap_or(0));
            let mut ranged = CpuSet::new();
            ranged.insert_range(lo.min(hi), hi.max(lo));
            prop_assert_eq!(ranged, (lo.min(hi)..=hi.max(lo)).collect::<CpuSet>());
            let mut sc = sa.clone();
            sc.union_with(&sb);
            prop_assert_eq!(sc, sa.union(&sb));
            prop_assert_eq!(sa.intersection(&sb), of(&a.intersection(&b).copied().collect()));
            prop_assert_eq!(sa.difference(&sb), of(&a.difference(&b).copied().collect()));
            prop_assert_eq!(sa.count_common(&sb), a.intersection(&b).count());
            prop_assert_eq!(sa.is_subset(&sb), a.is_subset(&b));
            prop_assert_eq!(sa.intersects(&sb), !a.is_disjoint(&b));
            prop_assert_eq!(sa.len(), a.len());
            let expanded: Vec<u32> = sa.runs().into_iter().flat_map(|(f, l)| f..=l).collect();
            prop_assert_eq!(expanded, a.iter().copied().collect::<Vec<_>>());
            prop_assert!(sa.runs().windows(2).all(|w| w[0].1 + 1 < w[1].0));
            prop_assert_eq!(sa.iter().collect::<Vec<_>>(), a.iter().copied().collect::<Vec<_>>());
        }
    }
}
