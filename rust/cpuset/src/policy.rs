//! [`take`]: how the CPU driver picks CPUs for a claim. The kubelet static policy's choices
//! (packed, or distributed across NUMA nodes; `full-pcpus-only` checks), then a check the kubelet
//! does not make: the answer must be exactly `count` CPUs, all of them free, and under
//! whole-cores-only made of whole cores.
//!
//! Why the last check: the kubelet tests "this core/socket is free" against the integer average
//! `CPUsPerCore()`/`CPUsPerSocket()`, and then takes every CPU of it. On asymmetric hosts
//! (hybrid P/E cores, partly offlined cores) that hands out CPUs someone else holds. A driver
//! must never do that. Such an answer is repaired (its free CPUs kept, the kubelet's algorithm
//! asked again for the rest: a hybrid laptop must still get CPUs), and refused, naming the busy
//! CPUs, under whole cores only, where a repair could not promise whole cores. A valid answer
//! (always, on symmetric hosts) is returned unchanged.

use crate::distributed::take_by_topology_numa_distributed;
use crate::error::AllocationError;
use crate::packed::take_by_topology_numa_packed;
use crate::set::CpuSet;
use crate::topology::Topology;

/// The static policy options that change which CPUs are picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeOptions {
    /// `distribute-cpus-across-numa`: spread over NUMA nodes instead of packing.
    pub spread_numa: bool,
    /// `full-pcpus-only`: whole physical cores only.
    pub full_cores: bool,
    /// `prefer-align-cpus-by-uncorecache` (packed only; the kubelet's distributed algorithm
    /// ignores it).
    pub prefer_uncore: bool,
}

impl Default for TakeOptions {
    fn default() -> Self {
        TakeOptions {
            spread_numa: false,
            full_cores: false,
            prefer_uncore: true,
        }
    }
}

/// Pick `count` CPUs from `free` as the kubelet's static policy would, or say why not.
pub fn take(
    topo: &Topology,
    free: &CpuSet,
    count: usize,
    options: TakeOptions,
) -> Result<CpuSet, AllocationError> {
    if !free.is_subset(topo.cpus()) {
        let outside = free.difference(topo.cpus());
        return Err(AllocationError::OutsideTopology { cpus: outside });
    }
    let refuse = |reason: String| AllocationError::Refused {
        asked: count,
        free: free.len(),
        reason,
    };
    if count < 1 {
        return Err(refuse("at least one CPU must be asked for".into()));
    }
    if count > free.len() {
        return Err(refuse("not enough free CPUs".into()));
    }
    let per_core = topo.cpus_per_core();
    if options.full_cores {
        if count % per_core != 0 {
            return Err(refuse(format!(
                "whole cores only, and {count} is not a multiple of {per_core} CPUs per core"
            )));
        }
        // Counted only up to `count`: all of them only when refusing (the message says them).
        let whole = topo.whole_core_cpus_in(free, count);
        if count > whole {
            return Err(refuse(format!(
                "whole cores only, and the free whole cores hold {whole} CPUs"
            )));
        }
    }
    let kubelet = |available: &CpuSet, n: usize| {
        if options.spread_numa {
            let group = if options.full_cores { per_core } else { 1 };
            take_by_topology_numa_distributed(topo, available, n, group)
        } else {
            take_by_topology_numa_packed(topo, available, n, options.prefer_uncore)
        }
        .map_err(|e| refuse(format!("the kubelet's algorithm failed: {e}")))
    };
    let picked = kubelet(free, count)?;
    if picked.is_subset(free) && picked.len() == count {
        if options.full_cores && !topo.holds_whole_cores(&picked) {
            let split = topo.cores_touching(&picked).difference(&picked);
            return Err(refuse(format!(
                "whole cores only, and the kubelet's pick {picked} leaves core siblings \
                 {split} out"
            )));
        }
        return Ok(picked); // the kubelet's answer, unchanged (always, on symmetric hosts)
    }
    if options.full_cores {
        // A repaired pick could not promise whole cores on a host whose cores differ.
        let busy = picked.difference(free);
        let why = if busy.is_empty() {
            format!(
                "it has {} (a socket or NUMA node not nested in the other was counted twice)",
                picked.len()
            )
        } else {
            format!(
                "busy: {busy}; its whole-core/socket test uses per-core/socket averages, wrong \
                 on this asymmetric topology"
            )
        };
        return Err(refuse(format!(
            "whole cores only, and the kubelet's pick {picked} is not {count} free CPUs ({why})"
        )));
    }
    repair(picked, free, count, &kubelet).map_err(refuse)
}

/// Make the kubelet's invalid answer valid: keep its free CPUs and ask the kubelet's algorithm
/// again for the rest, from the CPUs still free, until `count` are kept. Its answers hold busy
/// CPUs when "free socket/core" is judged by averages (asymmetric hosts) and too few CPUs when a
/// group listed twice was counted twice; each round keeps at least one CPU or the request is
/// refused.
fn repair(
    mut picked: CpuSet,
    free: &CpuSet,
    count: usize,
    kubelet: &dyn Fn(&CpuSet, usize) -> Result<CpuSet, AllocationError>,
) -> Result<CpuSet, String> {
    let first = picked.clone();
    let mut kept = picked.intersection(free);
    while kept.len() < count {
        let rest = free.difference(&kept);
        picked = kubelet(&rest, count - kept.len()).map_err(|e| e.to_string())?;
        let more = picked.intersection(&rest);
        if more.is_empty() {
            return Err(format!(
                "the kubelet's picks ({first}, then {picked}) hold too few free CPUs on this \
                 asymmetric topology"
            ));
        }
        kept.union_with(&more);
    }
    if kept.len() > count {
        return Err(format!(
            "the repaired pick {kept} has more than {count} CPUs"
        ));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cpus(text: &str) -> CpuSet {
        CpuSet::parse(text).unwrap()
    }

    /// The kubelet's `topoDualSocketHT`: 12 CPUs, 2 sockets, 6 cores, siblings n and n+6.
    fn dual_socket_ht() -> Topology {
        let ids: Vec<u32> = (0..12).collect();
        let socket: Vec<i64> = ids.iter().map(|&c| i64::from(c % 2)).collect();
        let core: Vec<i64> = ids.iter().map(|&c| i64::from(c % 6)).collect();
        Topology::new(&ids, &socket, &socket, &core, &socket).unwrap()
    }

    fn pick(t: &Topology, free: &str, n: usize, options: TakeOptions) -> Result<String, String> {
        take(t, &cpus(free), n, options)
            .map(|s| s.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn kubelet_examples() {
        let t = dual_socket_ht();
        let packed = TakeOptions::default();
        // From the kubelet's own table tests (cpu_assignment_test.go).
        assert_eq!(pick(&t, "0-11", 1, packed).unwrap(), "0");
        assert_eq!(pick(&t, "0-11", 2, packed).unwrap(), "0,6");
        assert_eq!(pick(&t, "0-11", 6, packed).unwrap(), "0,2,4,6,8,10");
        assert_eq!(
            pick(&t, "1,3,5,6,7,9,11", 6, packed).unwrap(),
            "1,3,5,7,9,11"
        );
        assert_eq!(pick(&t, "0-11", 12, packed).unwrap(), "0-11");
    }

    #[test]
    fn refusals_say_asked_free_and_why() {
        let t = dual_socket_ht();
        let whole = TakeOptions {
            full_cores: true,
            ..TakeOptions::default()
        };
        assert_eq!(
            pick(&t, "0-3", 5, whole).unwrap_err(),
            "asked for 5 CPUs, 4 free: not enough free CPUs"
        );
        assert_eq!(
            pick(&t, "0-11", 3, whole).unwrap_err(),
            "asked for 3 CPUs, 12 free: whole cores only, and 3 is not a multiple of 2 \
             CPUs per core"
        );
        assert_eq!(
            pick(&t, "0-5,6", 4, whole).unwrap_err(),
            "asked for 4 CPUs, 7 free: whole cores only, and the free whole cores hold 2 \
             CPUs"
        );
        assert_eq!(
            pick(&t, "0", 0, whole).unwrap_err(),
            "asked for 0 CPUs, 1 free: at least one CPU must be asked for"
        );
        assert_eq!(
            pick(&t, "0,12", 1, whole).unwrap_err(),
            "CPUs 12 are not in the topology"
        );
    }

    #[test]
    fn asymmetric_busy_cpus_are_repaired_or_refused_under_whole_cores() {
        // Cores {0,1,2} (3 threads) and {3}, {4}, {5}: CPUsPerCore = 6/4 = 1, so core 0 counts
        // as "free" with one free CPU, and the kubelet takes all three of its CPUs.
        let t = Topology::new(
            &[0, 1, 2, 3, 4, 5],
            &[0; 6],
            &[0; 6],
            &[0, 0, 0, 3, 4, 5],
            &[0; 6],
        )
        .unwrap();
        let raw = take_by_topology_numa_packed(&t, &cpus("0,3-5"), 3, false).unwrap();
        assert_eq!(
            raw.to_string(),
            "0-2",
            "the kubelet hands out busy CPUs 1-2"
        );
        let no_uncore = TakeOptions {
            prefer_uncore: false,
            ..TakeOptions::default()
        };
        // Kept: 0; the kubelet asked again for 2 of 3-5.
        assert_eq!(pick(&t, "0,3-5", 3, no_uncore).unwrap(), "0,3-4");
        let whole = TakeOptions {
            full_cores: true,
            ..no_uncore
        };
        let err = pick(&t, "0,3-5", 3, whole).unwrap_err();
        assert!(err.contains("is not 3 free CPUs (busy: 1-2;"), "{err}");
    }

    /// A random host: cores of 1-3 threads with gaps in the CPU ids (offline CPUs), grouped
    /// into sockets, NUMA nodes and uncore caches that need not nest.
    fn host() -> impl Strategy<Value = (Topology, CpuSet)> {
        let cores = prop::collection::vec((1usize..=3, 0u32..2, 0i64..3, 0i64..4, 0i64..3), 1..24);
        (cores, any::<u64>()).prop_map(|(cores, free_bits)| {
            let (mut cpus, mut sockets, mut numas, mut core_ids, mut uncores) =
                (vec![], vec![], vec![], vec![], vec![]);
            let mut next = 0u32;
            for (threads, gap, socket, numa, uncore) in cores {
                let first = next;
                for t in 0..threads as u32 {
                    cpus.push(first + t);
                    sockets.push(socket);
                    numas.push(numa);
                    core_ids.push(i64::from(first));
                    uncores.push(uncore);
                }
                next = first + threads as u32 + gap;
            }
            let free = cpus
                .iter()
                .copied()
                .filter(|&c| free_bits >> (c % 64) & 1 == 1);
            let topo = Topology::new(&cpus, &sockets, &numas, &core_ids, &uncores).unwrap();
            (topo, free.collect())
        })
    }

    proptest! {
        /// Whatever the host and options: an answer is exactly `count` free CPUs (whole cores
        /// under `full_cores`), else a refusal; never a panic or a hang.
        #[test]
        fn answers_are_valid_or_refused(
            (topo, free) in host(),
            count in 1usize..40,
            spread_numa: bool,
            full_cores: bool,
            prefer_uncore: bool,
        ) {
            let options = TakeOptions { spread_numa, full_cores, prefer_uncore };
            if let Ok(picked) = take(&topo, &free, count, options) {
                prop_assert_eq!(picked.len(), count);
                prop_assert!(picked.is_subset(&free));
                if full_cores {
                    prop_assert_eq!(topo.cores_touching(&picked), picked);
                }
            }
        }
    }
}
