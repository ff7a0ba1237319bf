//! The kubelet's `takeByTopologyNUMADistributed` (v1.37.2, KEP-2902 "distribute CPUs across
//! NUMA nodes", packed CPU sorting, `alignBySocket` off): spread a request evenly over the
//! fewest NUMA nodes that can share it in groups of `cpu_group_size` CPUs, picking the set of
//! NUMA nodes (and where the remainder goes) that leaves the free CPUs most balanced.
//!
//! Reproduced answer for answer, with two exceptions where the kubelet never answers (it loops
//! forever holding the CPU manager's lock): a remainder subset whose NUMA nodes drop below a
//! group before the remainder is placed is skipped (the kubelet spins on it), and an allocation
//! that stops making progress is a [`TakeError::Stalled`].

use crate::combinations::{Arena, Loop, Slice};
use crate::error::TakeError;
use crate::packed::{take_by_topology_numa_packed, Accumulator};
use crate::set::CpuSet;
use crate::topology::Topology;

/// Free CPUs per NUMA node (by index) after a tentative allocation. Only the `listed` NUMA
/// nodes (those with a free CPU: the kubelet's map has keys only for them) are read.
type Remaining = Vec<i64>;

/// The kubelet's `standardDeviation` (population, mean and result rounded to 3 decimals) of
/// the listed NUMA nodes, in id order (the kubelet sums in Go map order; integers make the mean
/// exact).
fn balance(after: &[i64], listed: &[usize]) -> f64 {
    let values = || listed.iter().map(|&m| after[m] as f64);
    let len = listed.len() as f64;
    let mean = (values().sum::<f64>() / len * 1000.0).round() / 1000.0;
    let squares: f64 = values().map(|v| (v - mean) * (v - mean)).sum();
    ((squares / len).sqrt() * 1000.0).round() / 1000.0
}

/// One walk's combinations, scored without `after`, when there is no remainder, every NUMA
/// node is listed once and there are at most 64 of them (a combination is then a bitmask).
/// A NUMA node's free CPUs after the allocation are either all of them or all but the even
/// share, the total (so the mean) is the same for every combination, and each node's square is
/// one of two numbers known before the walk: [`balance`]'s very bits, summed in its order from
/// the same operands.
///
/// The walk also skips the square root and the roundings when the sum of squares is not below
/// the best one's: the balance never decreases as it grows (division by the count, square root
/// and rounding are all monotonic), so such a combination cannot be strictly better.
struct Even {
    /// The listed NUMA nodes, id order, each with its square when not in the combination and
    /// when in it.
    squares: Vec<(usize, [f64; 2])>,
    /// NUMA nodes with fewer free CPUs than the even share (a combination with one is skipped).
    short: u64,
    len: f64,
}

impl Even {
    fn new(listed: &[usize], free: &[i64], distribution: i64, k: usize) -> Option<Even> {
        if free.len() > 64 {
            return None;
        }
        let total: i64 = listed.iter().map(|&m| free[m]).sum::<i64>() - distribution * k as i64;
        let len = listed.len() as f64;
        // Integer values: their f64 sum is exact in any order, as in `balance`.
        let mean = (total as f64 / len * 1000.0).round() / 1000.0;
        let square = |v: i64| (v as f64 - mean) * (v as f64 - mean);
        let squares = (listed.iter())
            .map(|&m| (m, [square(free[m]), square(free[m] - distribution)]))
            .collect();
        let short = (0..free.len())
            .filter(|&m| free[m] < distribution)
            .fold(0, |mask, m| mask | 1 << m);
        Some(Even {
            squares,
            short,
            len,
        })
    }

    /// The sum of squares of `balance` for the combination `mask`, in its order.
    fn squares(&self, mask: u64) -> f64 {
        let mut sum = 0.0;
        for &(m, pair) in &self.squares {
            sum += pair[(mask >> m) as usize & 1];
        }
        sum
    }

    fn balance(&self, squares: f64) -> f64 {
        ((squares / self.len).sqrt() * 1000.0).round() / 1000.0
    }
}

/// The kubelet's `rangeNUMANodesNeededToSatisfy`.
fn numa_count_range(acc: &Accumulator<'_>, group: i64) -> (usize, usize) {
    let topo = acc.topo;
    let numas = topo.num_numa_nodes() as i64;
    let numas_with_free = acc.free_in_numa.iter().filter(|&&f| f > 0).count() as i64;
    let groups = (topo.num_cpus() as i64 - 1) / group + 1;
    let groups_per_numa = (groups - 1) / numas + 1;
    let groups_needed = (acc.needed - 1) / group + 1;
    let min = (groups_needed - 1) / groups_per_numa + 1;
    (min as usize, groups_needed.min(numas_with_free) as usize)
}

/// Where `remainder` extra CPUs go within one candidate NUMA set: the best balance and the
/// subset that gets them (`None` when there is no remainder or no subset can hold it).
fn place_remainder(
    after: &[i64],
    listed: &[usize],
    combo: &[usize],
    remainder: i64,
    group: i64,
) -> (f64, Option<Vec<usize>>) {
    if remainder == 0 {
        return (balance(after, listed), None);
    }
    let candidates: Vec<usize> = (combo.iter().copied())
        .filter(|&n| after[n] >= group)
        .collect();
    let (mut best, mut best_subset): (f64, Option<Slice>) = (f64::MAX, None);
    let mut arena = Arena::default();
    // One copy of `after` rewritten per subset (a clone each was an allocation per subset).
    let mut left = after.to_vec();
    for k in (1..=candidates.len()).rev() {
        arena.iterate(&candidates, k, &mut |subset, slice| {
            left.copy_from_slice(after);
            let free: i64 = subset.iter().map(|&n| left[n]).sum();
            if free < remainder {
                return Loop::Continue;
            }
            let mut rest = remainder;
            while rest > 0 {
                let before = rest;
                for &n in subset {
                    if rest == 0 {
                        break;
                    }
                    if left[n] < group {
                        continue;
                    }
                    left[n] -= group;
                    rest -= group;
                }
                if rest == before {
                    return Loop::Continue; // the kubelet spins here forever
                }
            }
            let b = balance(&left, listed);
            if b < best {
                (best, best_subset) = (b, Some(slice));
            }
            Loop::Continue
        });
    }
    (best, best_subset.map(|s| arena.get(s).to_vec()))
}

/// Exactly what kubelet v1.37.2 `takeByTopologyNUMADistributed(topo, available, n,
/// cpu_group_size, CPUSortingStrategyPacked, alignBySocket=false)` returns (see the module doc
/// for the inputs where the kubelet never returns). A group size of 0 is taken as 1.
pub fn take_by_topology_numa_distributed(
    topo: &Topology,
    available: &CpuSet,
    n: usize,
    cpu_group_size: usize,
) -> Result<CpuSet, TakeError> {
    let group_size = cpu_group_size.max(1);
    if n % group_size != 0 {
        return take_by_topology_numa_packed(topo, available, n, false);
    }
    let group = group_size as i64;
    let want = n as i64;
    let mut acc = Accumulator::new(topo, available, n);
    if acc.is_satisfied() {
        return Ok(acc.result);
    }
    if acc.is_failed() {
        return Err(TakeError::NotEnough {
            requested: n,
            available: available.len(),
        });
    }
    let numas = acc.sorted_numas();
    let (min_numas, max_numas) = numa_count_range(&acc, group);
    let free_in_numa: Vec<i64> = acc.free_in_numa.iter().map(|&f| f as i64).collect();
    let free_in = |numa: usize| free_in_numa[numa];
    // Free CPUs per listed NUMA node, largest first: no k NUMA nodes hold more than the k
    // largest, so a k whose largest are too few has no candidate, keeps no combination, and
    // its walk (the slow part) can be skipped without changing the answer.
    // (A NUMA node listed twice counts once in a combination's free CPUs.)
    let mut distinct = numas.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let mut largest: Vec<i64> = distinct.iter().map(|&m| free_in(m)).collect();
    largest.sort_unstable_by(|a, b| b.cmp(a));
    // Scratch reused by every combination (allocation was most of the walk's time).
    let mut seen = vec![false; topo.num_numa_nodes()];
    let groups_in: Vec<i64> = (0..topo.num_numa_nodes())
        .map(|m| free_in(m) / group)
        .collect();
    let mut after: Remaining = vec![0; topo.num_numa_nodes()];
    for k in min_numas..=max_numas {
        if largest.iter().take(k).sum::<i64>() < want {
            continue;
        }
        let mut best_balance = f64::MAX;
        let mut best_remainder: Option<Vec<usize>> = None;
        let mut best_combo: Option<Slice> = None;
        // Every combination of this walk has k NUMA nodes: the even share and what is left
        // over are the same for all of them.
        let distribution = want / k as i64 / group * group;
        let remainder = want - distribution * k as i64;
        let even = (remainder == 0 && distinct.len() == numas.len())
            .then(|| Even::new(&distinct, &free_in_numa, distribution, k))
            .flatten();
        let mut best_squares = f64::INFINITY;
        let mut arena = Arena::default();
        arena.iterate(&numas, k, &mut |combo, slice| {
            if best_balance == 0.0 {
                return Loop::Break;
            }
            if let Some(even) = &even {
                // The checks below, then the balance from the tables (see `Even`).
                let (mut mask, mut free_cpus, mut groups) = (0u64, 0, 0);
                for &m in combo {
                    mask |= 1 << m;
                    free_cpus += free_in(m);
                    groups += groups_in[m];
                }
                if free_cpus < want || groups * group < want || mask & even.short != 0 {
                    return Loop::Continue;
                }
                let squares = even.squares(mask);
                if squares >= best_squares {
                    return Loop::Continue;
                }
                let local = even.balance(squares);
                if local < best_balance {
                    (best_balance, best_remainder, best_combo) = (local, None, Some(slice));
                    best_squares = squares;
                }
                return Loop::Continue;
            }
            // Free CPUs of the distinct NUMA nodes (the walk may list one twice).
            let mut free_cpus = 0;
            for &m in combo {
                if !std::mem::replace(&mut seen[m], true) {
                    free_cpus += free_in(m);
                }
            }
            combo.iter().for_each(|&m| seen[m] = false);
            if free_cpus < want {
                return Loop::Continue;
            }
            let groups: i64 = combo.iter().map(|&m| groups_in[m]).sum();
            if groups * group < want {
                return Loop::Continue;
            }
            if combo.iter().any(|&m| free_in(m) < distribution) {
                return Loop::Continue;
            }
            for &m in &distinct {
                after[m] = free_in(m);
            }
            for &m in combo {
                after[m] -= distribution;
            }
            let (local, subset) = place_remainder(&after, &distinct, combo, remainder, group);
            if local < best_balance {
                (best_balance, best_remainder, best_combo) = (local, subset, Some(slice));
            }
            Loop::Continue
        });
        let Some(best_combo) = best_combo else {
            continue;
        };
        // Read now: the walk may have rewritten the kept combination (see combinations.rs).
        let best_combo = arena.get(best_combo).to_vec();
        return allocate(
            &mut acc,
            &best_combo,
            best_remainder.as_deref(),
            want,
            group,
        );
    }
    take_by_topology_numa_packed(topo, available, n, false)
}

/// Take an even share from each NUMA node of `combo`, then one group at a time round-robin
/// from `remainder_numas`, each share picked by the packed algorithm within that NUMA node.
fn allocate(
    acc: &mut Accumulator<'_>,
    combo: &[usize],
    remainder_numas: Option<&[usize]>,
    want: i64,
    group: i64,
) -> Result<CpuSet, TakeError> {
    let topo = acc.topo;
    let mut distribution = want / combo.len() as i64 / group * group;
    for &m in combo {
        distribution = distribution.min(acc.free_in_numa[m] as i64 / group * group);
    }
    // One NUMA node's free CPUs and the packed algorithm's accumulator, reused by every share.
    let mut free = CpuSet::new();
    let mut packed = Accumulator::new(topo, &free, 0);
    let mut take_from = |acc: &mut Accumulator<'_>, numa: usize, count: i64| {
        free.set_intersection(&acc.free, &topo.numas.cpus[numa]);
        packed.reset(&free, count as usize);
        // take_by_topology_numa_packed(topo, &free, count, false), reusing the buffers.
        if packed.pack(free.len(), false).is_ok() {
            acc.take(&packed.result); // on an error the kubelet takes nothing, and goes on
        }
    };
    for &m in combo {
        take_from(acc, m, distribution);
    }
    let mut remainder = want - distribution * combo.len() as i64;
    while remainder > 0 {
        let before = remainder;
        for &m in remainder_numas.unwrap_or_default() {
            if remainder == 0 {
                break;
            }
            if (acc.free_in_numa[m] as i64) < group {
                continue;
            }
            take_from(acc, m, group);
            remainder -= group;
        }
        if remainder == before {
            return Err(TakeError::Stalled {
                remaining: remainder,
            });
        }
    }
    match acc.needed {
        0 => Ok(std::mem::take(&mut acc.result)),
        left if left > 0 => Err(TakeError::Accounting {
            what: "not enough",
            remaining: left,
        }),
        left => Err(TakeError::Accounting {
            what: "too many",
            remaining: left,
        }),
    }
}
