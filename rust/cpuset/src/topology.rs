//! `Topology`: where each logical CPU sits (socket, NUMA node, core, uncore cache), with the
//! derived counts of the kubelet's `CPUTopology` (v1.37.2 `pkg/kubelet/cm/cpumanager/topology`).
//!
//! Ids are given, not computed: the core id is already the kubelet's `CoreID` (the lowest logical
//! CPU of the physical core) and the uncore id is the L3 id, or the socket id where there is no
//! usable L3 id. Each kind of id is mapped to a dense index in ascending id order, so "ties broken
//! by ascending id" (the kubelet's sort) is "ties broken by ascending index" here.

use crate::error::TopologyError;
use crate::groups::Groups;
use crate::set::{CpuSet, MAX_CPU_ID};

/// Where one CPU sits, as dense group indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub socket: usize,
    pub numa: usize,
    pub core: usize,
    pub uncore: usize,
}

/// A [`Place`] packed small (u32 indices): the per-CPU table is read for every free CPU of
/// every call, and a quarter of the size keeps a 1024-CPU table in a few cache lines less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedPlace([u32; 4]);

impl PackedPlace {
    const NONE: PackedPlace = PackedPlace([u32::MAX; 4]);

    fn new(p: Place) -> Self {
        let narrow = |i: usize| u32::try_from(i).expect("at most 16384 groups of a kind");
        PackedPlace([
            narrow(p.socket),
            narrow(p.numa),
            narrow(p.core),
            narrow(p.uncore),
        ])
    }

    fn get(self) -> Option<Place> {
        let [socket, numa, core, uncore] = self.0.map(|i| i as usize);
        (self != Self::NONE).then_some(Place {
            socket,
            numa,
            core,
            uncore,
        })
    }
}

/// A group of one kind overlapping a group of another kind, and the CPUs they share. Sockets
/// and NUMA nodes need not nest (either may contain the other, or neither), nor need NUMA nodes
/// and uncore caches; the kubelet walks "the X groups with a free CPU in this Y group".
#[derive(Debug, Clone)]
pub(crate) struct Overlap {
    pub group: usize,
    pub shared: CpuSet,
    /// The group lies wholly inside the outer one (the usual nesting): it then has a free
    /// CPU in the overlap exactly when it has one at all, which its free count says without
    /// a bitmap intersection.
    pub whole: bool,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub(crate) cpus: CpuSet,
    num_cpus: usize,
    /// Indexed by CPU id.
    places: Vec<PackedPlace>,
    /// Indexed by CPU id: the core's index (`u32::MAX` where there is no CPU). Apart from
    /// `places` because counting free CPUs per core reads it for every free CPU of every
    /// call: 4 bytes a CPU stay in L1 where 16 do not.
    cores_of: Vec<u32>,
    /// `num_cpus / num_cores`, kept: the uncore walk asks for it once per cache, and an
    /// integer division is tens of cycles.
    cpus_per_core: usize,
    pub(crate) sockets: Groups,
    pub(crate) numas: Groups,
    pub(crate) cores: Groups,
    pub(crate) uncores: Groups,
    pub(crate) sockets_in_numa: Vec<Vec<Overlap>>,
    pub(crate) numas_in_socket: Vec<Vec<Overlap>>,
    pub(crate) uncores_in_numa: Vec<Vec<Overlap>>,
    /// Each core's CPUs, ascending, core `c`'s at `core_cpus[core_starts[c]..core_starts[c +
    /// 1]]`: cores are walked CPU by CPU (a core's bitmap spans words), and one flat array
    /// keeps a walk over every core in a few cache lines rather than one allocation per core.
    core_cpus: Vec<u32>,
    core_starts: Vec<usize>,
    /// Cores nest in every other kind (checked at construction), so plain lists, ascending id.
    pub(crate) cores_in_socket: Vec<Vec<usize>>,
    pub(crate) cores_in_numa: Vec<Vec<usize>>,
    pub(crate) cores_in_uncore: Vec<Vec<usize>>,
}

impl Topology {
    /// Build from parallel per-CPU arrays. Every CPU of one core must share its socket, NUMA
    /// node and uncore cache (the kubelet assigns those per core), CPU ids must be unique and at
    /// most [`MAX_CPU_ID`], and there must be at least one CPU.
    pub fn new(
        cpus: &[u32],
        sockets: &[i64],
        numa_nodes: &[i64],
        cores: &[i64],
        uncores: &[i64],
    ) -> Result<Topology, TopologyError> {
        let n = cpus.len();
        for (name, len) in [
            ("sockets", sockets.len()),
            ("numa_nodes", numa_nodes.len()),
            ("cores", cores.len()),
            ("uncores", uncores.len()),
        ] {
            if len != n {
                return Err(TopologyError(format!(
                    "topology arrays differ in length: {n} cpus but {len} {name}"
                )));
            }
        }
        if n == 0 {
            return Err(TopologyError("topology has no CPUs".into()));
        }
        let mut all = CpuSet::new();
        for &cpu in cpus {
            if cpu > MAX_CPU_ID {
                return Err(TopologyError(format!("CPU id {cpu} is above {MAX_CPU_ID}")));
            }
            if all.contains(cpu) {
                return Err(TopologyError(format!("CPU {cpu} is listed twice")));
            }
            all.insert(cpu);
        }
        let (socket_groups, socket_of) = Groups::new(sockets, cpus);
        let (numa_groups, numa_of) = Groups::new(numa_nodes, cpus);
        let (core_groups, core_of) = Groups::new(cores, cpus);
        let (uncore_groups, uncore_of) = Groups::new(uncores, cpus);

        let mut places = vec![PackedPlace::NONE; all.iter().last().map_or(0, |c| c as usize + 1)];
        let mut cores_of = vec![u32::MAX; places.len()];
        let mut core_home: Vec<Option<Place>> = vec![None; core_groups.len()];
        for i in 0..n {
            let place = Place {
                socket: socket_of[i],
                numa: numa_of[i],
                core: core_of[i],
                uncore: uncore_of[i],
            };
            match core_home[place.core] {
                None => core_home[place.core] = Some(place),
                Some(home)
                    if home
                        == Place {
                            core: place.core,
                            ..place
                        } => {}
                Some(home) => {
                    let what = if home.socket != place.socket {
                        "sockets"
                    } else if home.numa != place.numa {
                        "NUMA nodes"
                    } else {
                        "uncore caches"
                    };
                    return Err(TopologyError(format!(
                        "core {} spans two {what} (CPU {} differs from its core siblings)",
                        cores[i], cpus[i]
                    )));
                }
            }
            places[cpus[i] as usize] = PackedPlace::new(place);
            cores_of[cpus[i] as usize] = place.core as u32;
        }

        let overlaps = |outer: &Groups, inner: &Groups| -> Vec<Vec<Overlap>> {
            outer
                .cpus
                .iter()
                .map(|o| {
                    (0..inner.len())
                        .filter_map(|g| {
                            let shared = o.intersection(&inner.cpus[g]);
                            let whole = shared == inner.cpus[g];
                            (!shared.is_empty()).then_some(Overlap {
                                group: g,
                                shared,
                                whole,
                            })
                        })
                        .collect()
                })
                .collect()
        };
        let nested = |outer: &Groups, of: fn(&Place) -> usize| -> Vec<Vec<usize>> {
            let mut lists = vec![Vec::new(); outer.len()];
            for (core, home) in core_home.iter().enumerate() {
                let home = home.as_ref().expect("every core has a CPU");
                lists[of(home)].push(core);
            }
            lists
        };
        let mut core_cpus = Vec::with_capacity(n);
        let mut core_starts = vec![0];
        for cpus in &core_groups.cpus {
            core_cpus.extend(cpus.iter());
            core_starts.push(core_cpus.len());
        }
        Ok(Topology {
            core_cpus,
            core_starts,
            sockets_in_numa: overlaps(&numa_groups, &socket_groups),
            numas_in_socket: overlaps(&socket_groups, &numa_groups),
            uncores_in_numa: overlaps(&numa_groups, &uncore_groups),
            cores_in_socket: nested(&socket_groups, |p| p.socket),
            cores_in_numa: nested(&numa_groups, |p| p.numa),
            cores_in_uncore: nested(&uncore_groups, |p| p.uncore),
            num_cpus: n,
            cpus: all,
            places,
            cores_of,
            cpus_per_core: n / core_groups.len(),
            sockets: socket_groups,
            numas: numa_groups,
            cores: core_groups,
            uncores: uncore_groups,
        })
    }

    /// The CPUs of `core`, ascending.
    pub(crate) fn core_cpus(&self, core: usize) -> &[u32] {
        &self.core_cpus[self.core_starts[core]..self.core_starts[core + 1]]
    }

    /// The core of a topology CPU (what `place(cpu)?.core` says, without the `Option`: the
    /// per-call count of free CPUs per core reads it for every free CPU).
    pub(crate) fn core_of(&self, cpu: u32) -> usize {
        self.cores_of[cpu as usize] as usize
    }

    /// Where a topology CPU sits (what `place(cpu)?` says, without the `Option`, for the
    /// per-CPU bookkeeping of a take); panics on a CPU outside the topology.
    pub(crate) fn place_of(&self, cpu: u32) -> Place {
        let [socket, numa, core, uncore] = self.places[cpu as usize].0.map(|i| i as usize);
        Place {
            socket,
            numa,
            core,
            uncore,
        }
    }

    pub(crate) fn place(&self, cpu: u32) -> Option<Place> {
        self.places.get(cpu as usize).and_then(|p| p.get())
    }

    /// All CPUs of the topology.
    pub fn cpus(&self) -> &CpuSet {
        &self.cpus
    }

    pub fn num_cpus(&self) -> usize {
        self.num_cpus
    }

    pub fn num_cores(&self) -> usize {
        self.cores.len()
    }

    pub fn num_sockets(&self) -> usize {
        self.sockets.len()
    }

    pub fn num_numa_nodes(&self) -> usize {
        self.numas.len()
    }

    pub fn num_uncores(&self) -> usize {
        self.uncores.len()
    }

    /// The kubelet's `CPUsPerCore()`: an integer average, so wrong for single cores on
    /// asymmetric hosts (hybrid P/E cores, a partly offlined core).
    pub fn cpus_per_core(&self) -> usize {
        self.cpus_per_core
    }

    /// The kubelet's `CPUsPerSocket()` (integer average).
    pub fn cpus_per_socket(&self) -> usize {
        self.num_cpus() / self.num_sockets()
    }

    /// The kubelet's `CPUsPerUncore()` (integer average).
    pub fn cpus_per_uncore(&self) -> usize {
        self.num_cpus() / self.num_uncores()
    }

    /// The kubelet takes whole NUMA nodes before whole sockets when there are at least as many
    /// sockets as NUMA nodes (a NUMA node then holds one or more sockets), else sockets first.
    pub fn numa_above_sockets(&self) -> bool {
        self.num_sockets() >= self.num_numa_nodes()
    }

    /// How many CPUs the cores whose every CPU is in `free` hold (the whole cores free),
    /// counted in core order until there are `enough` (then at least `enough`, and maybe
    /// fewer than all: a request is checked against this, and most are small, so on a large
    /// host the walk usually stops after a few cores).
    pub fn whole_core_cpus_in(&self, free: &CpuSet, enough: usize) -> usize {
        // Plain loops over the flat core array: this runs on every whole-cores request.
        let mut whole = 0;
        let mut start = 0;
        for &end in &self.core_starts[1..] {
            if whole >= enough {
                break;
            }
            let cpus = &self.core_cpus[start..end];
            start = end;
            if cpus.iter().all(|&cpu| free.contains(cpu)) {
                whole += cpus.len();
            }
        }
        whole
    }

    /// Whether every core with a CPU in `cpus` has all its CPUs there
    /// (`cores_touching(cpus) == *cpus`, without building the set).
    pub fn holds_whole_cores(&self, cpus: &CpuSet) -> bool {
        for (w, &word) in cpus.words().iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                let cpu = w * 64 + rest.trailing_zeros() as usize;
                rest &= rest - 1;
                let Some(&core) = self.cores_of.get(cpu).filter(|&&c| c != u32::MAX) else {
                    continue; // not a topology CPU: no core to split
                };
                for &sibling in self.core_cpus(core as usize) {
                    if !cpus.contains(sibling) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// CPUs of every core that has at least one CPU in `cpus`.
    pub fn cores_touching(&self, cpus: &CpuSet) -> CpuSet {
        let mut out = CpuSet::new();
        for cpu in cpus.iter() {
            if let Some(place) = self.place(cpu) {
                for &sibling in self.core_cpus(place.core) {
                    out.insert(sibling);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2 sockets x 2 cores x SMT2, one NUMA node per socket, core id = lowest sibling.
    fn dual() -> Topology {
        Topology::new(
            &[0, 1, 2, 3, 4, 5, 6, 7],
            &[0, 0, 1, 1, 0, 0, 1, 1],
            &[0, 0, 1, 1, 0, 0, 1, 1],
            &[0, 1, 2, 3, 0, 1, 2, 3],
            &[0, 0, 1, 1, 0, 0, 1, 1],
        )
        .unwrap()
    }

    #[test]
    fn counts_are_the_kubelets() {
        let t = dual();
        assert_eq!(
            (
                t.num_cpus(),
                t.num_cores(),
                t.num_sockets(),
                t.num_numa_nodes(),
                t.num_uncores()
            ),
            (8, 4, 2, 2, 2)
        );
        assert_eq!(
            (t.cpus_per_core(), t.cpus_per_socket(), t.cpus_per_uncore()),
            (2, 4, 4)
        );
        assert!(t.numa_above_sockets());
        assert_eq!(t.cores_in_socket, vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(t.sockets_in_numa[1][0].shared.to_string(), "2-3,6-7");
    }

    #[test]
    fn asymmetric_averages_round_down() {
        // 3 cores: two SMT2 and one single-threaded; CPUsPerCore = 5 / 3 = 1.
        let t = Topology::new(
            &[0, 1, 2, 3, 4],
            &[0; 5],
            &[0; 5],
            &[0, 0, 2, 2, 4],
            &[0; 5],
        )
        .unwrap();
        assert_eq!(t.cpus_per_core(), 1);
        let free = CpuSet::parse("0-2").unwrap();
        assert_eq!(t.whole_core_cpus_in(&free, usize::MAX), 2);
        assert_eq!(t.whole_core_cpus_in(&free, 1), 2);
        assert_eq!(t.cores_touching(&free).to_string(), "0-3");
    }

    #[test]
    fn rejects_bad_arrays() {
        let e = |r: Result<Topology, TopologyError>| r.unwrap_err().0;
        assert_eq!(
            e(Topology::new(&[], &[], &[], &[], &[])),
            "topology has no CPUs"
        );
        assert_eq!(
            e(Topology::new(&[0, 1], &[0], &[0, 0], &[0, 1], &[0, 0])),
            "topology arrays differ in length: 2 cpus but 1 sockets"
        );
        assert_eq!(
            e(Topology::new(&[3, 3], &[0, 0], &[0, 0], &[0, 1], &[0, 0])),
            "CPU 3 is listed twice"
        );
        assert_eq!(
            e(Topology::new(&[0, 1], &[0, 1], &[0, 0], &[0, 0], &[0, 0])),
            "core 0 spans two sockets (CPU 1 differs from its core siblings)"
        );
        assert_eq!(
            e(Topology::new(&[16384], &[0], &[0], &[0], &[0])),
            "CPU id 16384 is above 16383"
        );
    }
}
