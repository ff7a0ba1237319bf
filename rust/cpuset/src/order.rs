//! Group orderings of the packed walk: the kubelet's `cpuAccumulator.sort` (fewest free CPUs
//! first, ties by id) without comparisons where the counts allow, and the check for groups
//! listed twice. These sorts were a quarter of a call on 1024 CPUs before they were cut down.

/// Whether no id is listed twice (a NUMA node spanning sockets is listed once per socket).
pub(crate) fn all_distinct(ids: &[usize]) -> bool {
    // A bitmap on the stack for the usual few hundred groups at most; else a sorted copy.
    let mut seen = [0u64; 8];
    if ids.iter().all(|&id| id < 64 * seen.len()) {
        return ids.iter().all(|&id| {
            let (word, bit) = (id / 64, 1u64 << (id % 64));
            let new = seen[word] & bit == 0;
            seen[word] |= bit;
            new
        });
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).all(|w| w[0] != w[1])
}

/// Append `ids` (ascending) to `out` ordered by free CPUs, ties by id: the kubelet's
/// `cpuAccumulator.sort`. Ascending input makes a stable sort on the count alone give that
/// order; counts are small, so a counting sort (no comparisons, one small copy) for long runs
/// and an insertion sort for short ones. These sorts were a quarter of a call on 1024 CPUs.
pub(crate) fn push_by_free(out: &mut Vec<usize>, ids: impl Iterator<Item = usize>, free: &[usize]) {
    let start = out.len();
    out.extend(ids);
    let tail = &mut out[start..];
    debug_assert!(tail.windows(2).all(|w| w[0] < w[1]));
    const BUCKETS: usize = 64;
    if tail.len() <= 16 {
        for i in 1..tail.len() {
            let mut j = i;
            while j > 0 && free[tail[j - 1]] > free[tail[j]] {
                tail.swap(j - 1, j);
                j -= 1;
            }
        }
    } else if tail.iter().all(|&g| free[g] < BUCKETS) {
        let mut next = [0usize; BUCKETS + 1];
        for &g in tail.iter() {
            next[free[g] + 1] += 1;
        }
        for k in 1..=BUCKETS {
            next[k] += next[k - 1];
        }
        // The copy to place from: on the stack for the usual sizes (a core list per NUMA node).
        let mut stack = [0usize; 256];
        let heap;
        let unsorted: &[usize] = if tail.len() <= stack.len() {
            stack[..tail.len()].copy_from_slice(tail);
            &stack[..tail.len()]
        } else {
            heap = tail.to_vec();
            &heap
        };
        for &g in unsorted {
            tail[next[free[g]]] = g;
            next[free[g]] += 1;
        }
    } else {
        tail.sort_by_key(|&g| free[g]);
    }
}

/// `push_by_free` of the groups of `ids` (ascending) that have a free CPU, for the cores of a
/// NUMA node or socket: long lists of small counts. Without a branch on the free count (on a
/// busy host, which cores have a free CPU is a coin toss for the branch predictor): one pass
/// per count present (a core has a few CPUs) that writes every id and advances only past
/// those with that count; a counting sort, the zero bucket cut off, when there are many.
pub(crate) fn push_with_free_by_free(out: &mut Vec<usize>, ids: &[usize], free: &[usize]) {
    const BUCKETS: usize = 64;
    if ids.len() <= 16 || !ids.iter().all(|&g| free[g] < BUCKETS) {
        push_by_free(out, ids.iter().copied().filter(|&g| free[g] > 0), free);
        return;
    }
    debug_assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Every count is below BUCKETS: the mask only spares the bounds checks.
    let bucket = |g: usize| free[g] & (BUCKETS - 1);
    let start = out.len();
    let present = ids.iter().fold(0u64, |bits, &g| bits | 1 << bucket(g)) & !1;
    if present.count_ones() <= 4 {
        // One slot more: the passes write one past the kept ids.
        out.resize(start + ids.len() + 1, 0);
        let dst = &mut out[start..];
        let mut at = 0;
        let mut counts = present;
        while counts != 0 {
            let b = counts.trailing_zeros() as usize;
            counts &= counts - 1;
            for &g in ids {
                dst[at] = g;
                at += usize::from(bucket(g) == b);
            }
        }
        out.truncate(start + at);
        return;
    }
    let mut next = [0usize; BUCKETS];
    for &g in ids {
        next[bucket(g)] += 1;
    }
    let mut at = start;
    for slot in next.iter_mut().skip(1) {
        (*slot, at) = (at, at + *slot);
    }
    let kept = at;
    next[0] = kept;
    out.resize(start + ids.len(), 0);
    for &g in ids {
        let b = bucket(g);
        out[next[b]] = g;
        next[b] += 1;
    }
    out.truncate(kept);
}
