//! `Groups`: one kind of CPU grouping (sockets, NUMA nodes, cores or uncore caches) of a
//! [`crate::Topology`], indexed for counting: how many CPUs of a set each group holds is a few
//! popcounts per bitmap word, not a walk over the set's CPUs. Every call of the pickers counts
//! free CPUs per group, so this is their inner loop.

use std::collections::BTreeMap;

use crate::set::CpuSet;

/// One kind of grouping (sockets, NUMA nodes, cores or uncore caches).
#[derive(Debug, Clone)]
pub(crate) struct Groups {
    /// The given ids, ascending; a group's dense index is its position here.
    pub ids: Vec<i64>,
    /// Every CPU of each group.
    pub cpus: Vec<CpuSet>,
    /// `cpus[g].len()`, kept because the walks ask for it in their inner loops.
    sizes: Vec<usize>,
    /// The groups' bitmaps cut by word: for bitmap word `w`, the groups with a CPU in it as
    /// (group, its bits in that word), at `by_word[word_starts[w]..word_starts[w + 1]]`.
    /// Counting every group's CPUs of a set is then a popcount per (word, group) pair for the
    /// set's non-zero words only, rather than a walk over its CPUs (see [`Groups::count_in`]).
    by_word: Vec<(usize, u64)>,
    word_starts: Vec<usize>,
}

impl Groups {
    /// The groups of `ids` (one per CPU of `cpus`, same order), and each CPU's dense group
    /// index.
    pub fn new(ids: &[i64], cpus: &[u32]) -> (Groups, Vec<usize>) {
        let dense: BTreeMap<i64, usize> = ids.iter().map(|&id| (id, 0)).collect();
        let dense: BTreeMap<i64, usize> =
            dense.keys().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut groups = Groups {
            ids: dense.keys().copied().collect(),
            cpus: vec![CpuSet::new(); dense.len()],
            sizes: vec![0; dense.len()],
            by_word: Vec::new(),
            word_starts: Vec::new(),
        };
        let index: Vec<usize> = ids.iter().map(|id| dense[id]).collect();
        for (&cpu, &g) in cpus.iter().zip(&index) {
            groups.cpus[g].insert(cpu);
            groups.sizes[g] += 1;
        }
        let num_words = groups
            .cpus
            .iter()
            .map(|c| c.words().len())
            .max()
            .unwrap_or(0);
        groups.word_starts.push(0);
        for w in 0..num_words {
            for (g, set) in groups.cpus.iter().enumerate() {
                let bits = set.words().get(w).copied().unwrap_or(0);
                if bits != 0 {
                    groups.by_word.push((g, bits));
                }
            }
            groups.word_starts.push(groups.by_word.len());
        }
        (groups, index)
    }

    /// `counts[g] -= |cpus[g] ∩ gone|` for every group, where `gone` is bitmap word `word` of
    /// a set (the `count_in` of a set that lost those CPUs).
    pub fn uncount_word(&self, word: usize, gone: u64, counts: &mut [usize]) {
        let Some(pairs) = self.word_starts.get(word..word + 2) else {
            return; // past the topology's CPUs
        };
        for &(g, bits) in &self.by_word[pairs[0]..pairs[1]] {
            counts[g] -= (gone & bits).count_ones() as usize;
        }
    }

    /// `counts[g] = |cpus[g] ∩ set|` for every group (`set` within the topology).
    pub fn count_in(&self, set: &CpuSet, counts: &mut [usize]) {
        counts.fill(0);
        for (w, &free) in set.words().iter().enumerate() {
            if free == 0 {
                continue; // the distributed algorithm's sets are one NUMA node's: mostly zeros
            }
            let Some(pairs) = self.word_starts.get(w..w + 2) else {
                break; // past the topology's CPUs
            };
            for &(g, bits) in &self.by_word[pairs[0]..pairs[1]] {
                counts[g] += (free & bits).count_ones() as usize;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn size(&self, group: usize) -> usize {
        self.sizes[group]
    }
}
