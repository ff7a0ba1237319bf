//! Errors say what was asked and what is wrong, in one line.

use crate::set::CpuSet;

/// A cpulist text that is not in the kernel's form; `position` counts characters from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed cpulist {text:?} at position {position}: {reason}")]
pub struct CpuListError {
    pub text: String,
    pub position: usize,
    pub reason: String,
}

/// Per-CPU topology arrays that do not describe a machine (lengths, duplicates, a core split
/// across sockets, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TopologyError(pub String);

/// The kubelet algorithms' own failures, with the kubelet's wording where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TakeError {
    #[error("not enough cpus available to satisfy request: requested={requested}, available={available}")]
    NotEnough { requested: usize, available: usize },
    #[error("failed to allocate cpus")]
    Failed,
    #[error("accounting error, {what} CPUs allocated, remaining: {remaining}")]
    Accounting { what: &'static str, remaining: i64 },
    /// Where the kubelet v1.37.2 would spin forever (see `distributed.rs`), we stop and say so.
    #[error("the distribution across NUMA nodes cannot place the remaining {remaining} CPUs")]
    Stalled { remaining: i64 },
}

/// Why a request for CPUs was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    /// The free set names CPUs the topology does not have: a caller bug, not a full node.
    #[error("CPUs {cpus} are not in the topology")]
    OutsideTopology { cpus: CpuSet },
    #[error("asked for {asked} CPUs, {free} free: {reason}")]
    Refused {
        asked: usize,
        free: usize,
        reason: String,
    },
}
