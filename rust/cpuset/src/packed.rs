//! The kubelet's `takeByTopologyNUMAPacked` (v1.37.2 `cpu_assignment.go`, packed CPU sorting):
//! topology-aware best fit. Take whole NUMA nodes and sockets (the higher level first), then
//! optionally whole or partial uncore caches, then whole cores, then single CPUs; at every level
//! the groups with the fewest free CPUs come first (ties: lowest id).
//!
//! Reproduced answer for answer, including the kubelet's quirks, because a claim must get the
//! CPUs the kubelet would have given: "whole socket/core free" compares against the integer
//! averages `CPUsPerSocket()`/`CPUsPerCore()` and then takes every CPU of that socket or core,
//! free or not; groups listed twice by the non-nested walks are taken twice. [`crate::take`]
//! refuses such answers; this module only reproduces them.

use crate::error::TakeError;
use crate::order::{all_distinct, push_by_free, push_with_free_by_free};
use crate::set::CpuSet;
use crate::topology::{Overlap, Topology};

/// The kubelet's `cpuAccumulator`: the free CPUs left, the CPUs taken, how many are still needed.
pub(crate) struct Accumulator<'t> {
    pub topo: &'t Topology,
    /// The kubelet's `details`: free CPUs of the topology not taken yet.
    pub free: CpuSet,
    pub free_in_numa: Vec<usize>,
    free_in_socket: Vec<usize>,
    free_in_core: Vec<usize>,
    free_in_uncore: Vec<usize>,
    /// May go negative (a CPU taken twice counts twice in the kubelet).
    pub needed: i64,
    pub result: CpuSet,
}

impl<'t> Accumulator<'t> {
    pub fn new(topo: &'t Topology, available: &CpuSet, needed: usize) -> Self {
        let mut acc = Accumulator {
            topo,
            free_in_numa: vec![0; topo.numas.len()],
            free_in_socket: vec![0; topo.sockets.len()],
            free_in_core: vec![0; topo.cores.len()],
            free_in_uncore: vec![0; topo.uncores.len()],
            free: CpuSet::new(),
            needed: 0,
            result: CpuSet::with_room_for(topo.cpus()),
        };
        acc.reset(available, needed);
        acc
    }

    /// Start again, as [`Accumulator::new`] would, keeping the buffers (the distributed
    /// algorithm runs the packed one once per NUMA node it takes from).
    pub fn reset(&mut self, available: &CpuSet, needed: usize) {
        let topo = self.topo;
        // The core counts are always those of `free` (`unfree` keeps them so): zero them
        // through it rather than all of them (a large host has hundreds of cores).
        for cpu in self.free.iter() {
            self.free_in_core[topo.core_of(cpu)] = 0;
        }
        self.free.set_intersection(available, topo.cpus());
        // Cores one free CPU at a time (a core's CPUs are far apart in the bitmap: SMT
        // siblings are often n and n + half); the larger groups by popcounts of their words.
        for (w, &word) in self.free.words().iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                let cpu = w as u32 * 64 + rest.trailing_zeros();
                rest &= rest - 1;
                self.free_in_core[topo.core_of(cpu)] += 1;
            }
        }
        topo.numas.count_in(&self.free, &mut self.free_in_numa);
        topo.sockets.count_in(&self.free, &mut self.free_in_socket);
        topo.uncores.count_in(&self.free, &mut self.free_in_uncore);
        self.needed = needed as i64;
        self.result.clear();
    }

    pub fn is_satisfied(&self) -> bool {
        self.needed < 1
    }

    pub fn is_failed(&self) -> bool {
        self.needed > self.free.len() as i64
    }

    fn needs_at_least(&self, n: usize) -> bool {
        self.needed >= n as i64
    }

    /// Add `cpus` to the result (all of them, free or not, as the kubelet does).
    pub fn take(&mut self, cpus: &CpuSet) {
        self.result.union_with(cpus);
        // `unfree` of each CPU, a bitmap word at a time: these are whole NUMA nodes, sockets
        // and caches, or the distributed algorithm's share of a NUMA node, so a word's CPUs
        // leave `free` at once and the group counts drop by popcounts (only cores are
        // counted down CPU by CPU).
        let topo = self.topo;
        for (w, &bits) in cpus.words().iter().enumerate() {
            let gone = self.free.remove_bits(w, bits);
            if gone == 0 {
                continue;
            }
            topo.numas.uncount_word(w, gone, &mut self.free_in_numa);
            topo.sockets.uncount_word(w, gone, &mut self.free_in_socket);
            topo.uncores.uncount_word(w, gone, &mut self.free_in_uncore);
            let mut rest = gone;
            while rest != 0 {
                let cpu = w as u32 * 64 + rest.trailing_zeros();
                rest &= rest - 1;
                self.free_in_core[topo.core_of(cpu)] -= 1;
            }
        }
        self.free.trim();
        self.needed -= cpus.len() as i64;
    }

    /// `take` of distinct CPUs given as a list (a core's bitmap spans many words; its list
    /// is two or so entries).
    fn take_list(&mut self, cpus: &[u32]) {
        for &cpu in cpus {
            self.result.insert(cpu);
            self.unfree(cpu);
        }
        self.needed -= cpus.len() as i64;
    }

    fn unfree(&mut self, cpu: u32) {
        if self.free.take_out(cpu) {
            let place = self.topo.place_of(cpu); // free CPUs are topology CPUs
            self.free_in_numa[place.numa] -= 1;
            self.free_in_socket[place.socket] -= 1;
            self.free_in_core[place.core] -= 1;
            self.free_in_uncore[place.uncore] -= 1;
        }
    }

    /// The groups with a free CPU, ascending.
    fn with_free(free: &[usize]) -> impl Iterator<Item = usize> + '_ {
        (0..free.len()).filter(|&g| free[g] > 0)
    }

    /// The groups of `overlaps` that have a free CPU inside the overlap, ascending; `free_in`
    /// is their kind's free counts (enough for a group wholly inside the overlap).
    fn having_free<'a>(
        &'a self,
        overlaps: &'a [Overlap],
        free_in: &'a [usize],
    ) -> impl Iterator<Item = usize> + 'a {
        (overlaps.iter())
            .filter(|o| {
                if o.whole {
                    free_in[o.group] > 0
                } else {
                    self.free.intersects(&o.shared)
                }
            })
            .map(|o| o.group)
    }

    /// The kubelet's `sortAvailableNUMANodes` (may list a NUMA node once per socket it spans).
    pub fn sorted_numas(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.free_in_numa.len());
        if self.topo.numa_above_sockets() {
            push_by_free(
                &mut out,
                Self::with_free(&self.free_in_numa),
                &self.free_in_numa,
            );
            return out;
        }
        for socket in self.sorted_sockets() {
            let numas = self.having_free(&self.topo.numas_in_socket[socket], &self.free_in_numa);
            push_by_free(&mut out, numas, &self.free_in_numa);
        }
        out
    }

    /// The kubelet's `sortAvailableSockets`.
    fn sorted_sockets(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.free_in_socket.len());
        if !self.topo.numa_above_sockets() {
            push_by_free(
                &mut out,
                Self::with_free(&self.free_in_socket),
                &self.free_in_socket,
            );
            return out;
        }
        for numa in self.sorted_numas() {
            let sockets = self.having_free(&self.topo.sockets_in_numa[numa], &self.free_in_socket);
            push_by_free(&mut out, sockets, &self.free_in_socket);
        }
        out
    }

    /// The parents `sortAvailableCores` walks (the lower of socket / NUMA node, sorted),
    /// and the cores of each.
    fn core_parents(&self) -> (Vec<usize>, &'t [Vec<usize>]) {
        if self.topo.numa_above_sockets() {
            (self.sorted_sockets(), &self.topo.cores_in_socket)
        } else {
            (self.sorted_numas(), &self.topo.cores_in_numa)
        }
    }

    /// The kubelet's `sortAvailableCores`: within the lower of socket / NUMA node.
    fn sorted_cores(&self) -> Vec<usize> {
        let (parents, cores_in) = self.core_parents();
        // Room for the cores of these parents only: a NUMA node's few hundred bytes come from
        // the allocator's per-thread cache; a large host's every core would not.
        let room = parents.iter().map(|&p| cores_in[p].len()).sum::<usize>() + 1;
        let mut out = Vec::with_capacity(room);
        for parent in parents {
            push_with_free_by_free(&mut out, &cores_in[parent], &self.free_in_core);
        }
        out
    }

    /// The kubelet's `sortAvailableUncoreCaches`: within each NUMA node in NUMA order.
    fn sorted_uncores(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.free_in_uncore.len());
        for numa in self.sorted_numas() {
            let uncores = self.having_free(&self.topo.uncores_in_numa[numa], &self.free_in_uncore);
            push_by_free(&mut out, uncores, &self.free_in_uncore);
        }
        out
    }

    /// The kubelet's `sortAvailableCPUsPacked`: core by core, each core's CPUs ascending.
    fn sorted_cpus(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.free.len());
        for core in self.sorted_cores() {
            let cpus = self.topo.core_cpus(core).iter().copied();
            out.extend(cpus.filter(|&cpu| self.free.contains(cpu)));
        }
        out
    }

    fn take_full_numas(&mut self) {
        let free: Vec<usize> = (self.sorted_numas().into_iter())
            .filter(|&n| self.free_in_numa[n] == self.topo.numas.size(n))
            .collect();
        for numa in free {
            if self.needs_at_least(self.topo.numas.size(numa)) {
                let topo = self.topo;
                self.take(&topo.numas.cpus[numa]);
            }
        }
    }

    fn take_full_sockets(&mut self) {
        // "Free" against the average socket size: the kubelet's isSocketFree.
        let per_socket = self.topo.cpus_per_socket();
        let free: Vec<usize> = (self.sorted_sockets().into_iter())
            .filter(|&s| self.free_in_socket[s] == per_socket)
            .collect();
        for socket in free {
            if self.needs_at_least(self.topo.sockets.size(socket)) {
                let topo = self.topo;
                self.take(&topo.sockets.cpus[socket]);
            }
        }
    }

    fn take_full_uncores(&mut self) {
        let free: Vec<usize> = (self.sorted_uncores().into_iter())
            .filter(|&u| self.free_in_uncore[u] == self.topo.uncores.size(u))
            .collect();
        for uncore in free {
            if self.needs_at_least(self.topo.uncores.size(uncore)) {
                let topo = self.topo;
                self.take(&topo.uncores.cpus[uncore]);
            }
        }
    }

    /// The kubelet's `takePartialUncore`: the lowest-id cores of this uncore cache with a free
    /// CPU, enough of them for the rest of the request; taken only if they fit it exactly (an
    /// odd request on SMT drops the last CPU of the last core).
    fn take_partial_uncore(&mut self, uncore: usize) {
        let topo = self.topo;
        let per_core = topo.cpus_per_core() as i64;
        // The kubelet takes ceil(needed / per_core) cores: while the cores so far times
        // per_core are fewer than needed (the same for needed >= 1, which it is here, without
        // a division per cache).
        debug_assert!(self.needed >= 1);
        let needed = self.needed;
        let cores = || {
            let mut taken = 0i64;
            (topo.cores_in_uncore[uncore].iter())
                .filter(|&&c| self.free_in_core[c] > 0)
                .take_while(move |_| {
                    taken += 1;
                    (taken - 1) * per_core < needed
                })
        };
        // Count before collecting: on a busy host most caches do not fit, and this runs once
        // per cache.
        let found: usize = cores().map(|&c| self.free_in_core[c]).sum();
        let drop_highest = self.needed % 2 != 0 && per_core > 1 && found as i64 > self.needed;
        if found as i64 - i64::from(drop_highest) != self.needed {
            return;
        }
        let mut cpus: Vec<u32> = Vec::with_capacity(found);
        for &core in cores() {
            cpus.extend(
                topo.core_cpus(core)
                    .iter()
                    .filter(|&&c| self.free.contains(c)),
            );
        }
        if drop_highest {
            // The kubelet sorts the CPUs and drops the highest.
            let highest = (0..cpus.len()).max_by_key(|&i| cpus[i]).expect("not empty");
            cpus.swap_remove(highest);
        }
        self.take_list(&cpus);
    }

    fn take_uncore_caches(&mut self) {
        let per_uncore = self.topo.cpus_per_uncore();
        // The kubelet calls takeFullUncore on every turn while the need is at least an average
        // uncore cache. Only the first call can take anything: it skips a free cache only
        // when the need is smaller than it, the need only shrinks, and free caches only get
        // fewer. So call it once (the walk is most of the time on a large host).
        let mut full_taken = false;
        for uncore in self.sorted_uncores() {
            if self.needs_at_least(per_uncore) && !full_taken {
                self.take_full_uncores();
                full_taken = true;
            }
            if self.is_satisfied() {
                return;
            }
            self.take_partial_uncore(uncore);
            if self.is_satisfied() {
                return;
            }
        }
    }

    fn take_full_cores(&mut self) {
        // "Free" against the average core size: the kubelet's isCoreFree.
        let per_core = self.topo.cpus_per_core();
        let topo = self.topo;
        let (parents, cores_in) = self.core_parents();
        if all_distinct(&parents) {
            // The kubelet sorts each parent's cores by free CPUs (ties by id) and keeps those
            // with `per_core` free: all the same count, so in id order, the order of
            // `cores_in`; no sort needed (it was most of a call on a large host). A core is
            // listed once (cores nest in their parent, parents are distinct), and taking one
            // core changes only its own count: reading a count when its turn comes is reading
            // it before the loop, as the kubelet does.
            for parent in parents {
                for &core in &cores_in[parent] {
                    if self.is_satisfied() {
                        return; // as below
                    }
                    let cpus = topo.core_cpus(core);
                    if self.free_in_core[core] == per_core && self.needs_at_least(cpus.len()) {
                        self.take_list(cpus);
                    }
                }
            }
            return;
        }
        // A parent listed twice lists its cores twice: the kubelet then takes a core twice.
        let free: Vec<usize> = (self.sorted_cores().into_iter())
            .filter(|&c| self.free_in_core[c] == per_core)
            .collect();
        for core in free {
            if self.is_satisfied() {
                break; // every core holds a CPU: the rest of the kubelet's loop takes nothing
            }
            let cpus = topo.core_cpus(core);
            if self.needs_at_least(cpus.len()) {
                self.take_list(cpus);
            }
        }
    }

    fn take_remaining_cpus(&mut self) {
        for cpu in self.sorted_cpus() {
            self.take_list(&[cpu]);
            if self.is_satisfied() {
                return;
            }
        }
    }
}

/// Exactly what kubelet v1.37.2 `takeByTopologyNUMAPacked(topo, available, n,
/// CPUSortingStrategyPacked, prefer_align_by_uncore_cache)` returns, errors included. CPUs of
/// `available` outside the topology are ignored (but counted in the "not enough" message).
pub fn take_by_topology_numa_packed(
    topo: &Topology,
    available: &CpuSet,
    n: usize,
    prefer_align_by_uncore_cache: bool,
) -> Result<CpuSet, TakeError> {
    let mut acc = Accumulator::new(topo, available, n);
    acc.pack(available.len(), prefer_align_by_uncore_cache)?;
    Ok(acc.result)
}

impl Accumulator<'_> {
    /// The rest of [`take_by_topology_numa_packed`] on an accumulator fresh from `new` or
    /// `reset` (`available` CPUs given, counted in the "not enough" message): on `Ok` the
    /// answer is `result`.
    pub(crate) fn pack(
        &mut self,
        available: usize,
        prefer_align_by_uncore_cache: bool,
    ) -> Result<(), TakeError> {
        let acc = self;
        let topo = acc.topo;
        if acc.is_satisfied() {
            return Ok(());
        }
        if acc.is_failed() {
            return Err(TakeError::NotEnough {
                requested: acc.needed as usize,
                available,
            });
        }
        // The higher of NUMA node and socket first.
        for numas_now in [topo.numa_above_sockets(), !topo.numa_above_sockets()] {
            if numas_now {
                acc.take_full_numas();
            } else {
                acc.take_full_sockets();
            }
            if acc.is_satisfied() {
                return Ok(());
            }
        }
        if prefer_align_by_uncore_cache {
            acc.take_uncore_caches();
            if acc.is_satisfied() {
                return Ok(());
            }
        }
        acc.take_full_cores();
        if acc.is_satisfied() {
            return Ok(());
        }
        acc.take_remaining_cpus();
        if acc.is_satisfied() {
            return Ok(());
        }
        Err(TakeError::Failed)
    }
}
