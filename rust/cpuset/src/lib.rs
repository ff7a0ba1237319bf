//! CPU sets and topology-aware CPU picking for the drafast CPU driver.
//!
//! * [`CpuSet`]: a bitmap of logical CPU ids with the kernel's cpulist text form (`0-3,8`).
//! * [`Topology`]: per-CPU socket / NUMA node / core / uncore-cache ids, with the derived counts
//!   of the kubelet's `CPUTopology` (v1.37.2 `pkg/kubelet/cm/cpumanager/topology`).
//! * [`take_by_topology_numa_packed`] and [`take_by_topology_numa_distributed`]: the kubelet's
//!   CPU picking (`cpu_assignment.go`), reproduced answer for answer so that a claim gets the same
//!   CPUs the kubelet's static policy would give a Guaranteed pod.
//! * [`take`]: the driver's entry point: the static policy's whole-core checks, the algorithm,
//!   and a final check that the answer is really free (stricter than the kubelet: an answer
//!   with busy CPUs is repaired, or refused under whole cores; see [`policy`]).
//!
//! No pyo3 here: `rust/py` binds it.

mod combinations;
mod cpulist;
mod distributed;
mod error;
mod groups;
mod order;
mod packed;
pub mod policy;
mod set;
mod topology;

pub use distributed::take_by_topology_numa_distributed;
pub use error::{AllocationError, CpuListError, TakeError, TopologyError};
pub use packed::take_by_topology_numa_packed;
pub use policy::{take, TakeOptions};
pub use set::{CpuSet, MAX_CPU_ID};
pub use topology::Topology;
