"""Type stubs for the Rust extension ``drafast._native`` (checked by stubtest).

Errors are raised as :class:`drafast.errors.CheckpointError` / :class:`drafast.errors.CDIError`
(imported by the extension), or ``ValueError`` for arguments of the wrong shape.
Disk-touching calls release the GIL, except the tiny tmpfs CDI write/remove (see cdi.rs).
"""

from collections.abc import Sequence
from typing import final

__version__: str

# ----------------------------------------------------------------------------- checkpoint

CHECKPOINT_FORMAT_VERSION: int

def encode_checkpoint(generation: int, entries: Sequence[tuple[str, bytes]]) -> bytes:
    """Encode a checkpoint file image: envelope line + canonical JSON payload (keys sorted).

    Values must be compact JSON documents; keys non-empty printable ASCII without ``"`` or ``\\``.
    """

def decode_checkpoint(data: bytes, name: str) -> tuple[int, list[tuple[str, bytes]]]:
    """Verify and decode a checkpoint image; ``name`` is used in error messages (the file path).

    Raises CheckpointError naming ``name`` and what is wrong (bad magic, unknown version, length
    mismatch = torn write, checksum mismatch = corruption, malformed payload).
    """

def load_checkpoint(path: str) -> tuple[int, list[tuple[str, bytes]]]:
    """The state a checkpoint's files hold (base image at ``path`` + its journal), read without
    changing them; safe while a writer commits (a torn journal tail is ignored). Missing files
    are an empty state at generation 0. Raises CheckpointError like ``Checkpoint``."""

@final
class Checkpoint:
    """A crash-safe key -> JSON record store backed by a base file and its journal.

    Opening loads and verifies both (missing = an empty store), removes leftover temp files of
    an interrupted writer and cuts a torn journal tail (a commit that never returned); any other
    damage raises CheckpointError naming the file (and the journal entry's byte offset).
    ``commit`` applies puts and deletes and makes them durable: it appends one checksummed entry
    to ``<path>.journal`` and fdatasyncs it; once the journal would outgrow the base image (and
    64 KiB), it instead replaces the base (temp file, fsync, rename, fsync directory) and empties
    the journal. Thread-safe; the GIL is released while writing.
    """

    def __new__(cls, path: str) -> Checkpoint: ...
    @property
    def path(self) -> str: ...
    @property
    def journal_path(self) -> str: ...
    @property
    def generation(self) -> int: ...
    @property
    def commits(self) -> int:
        """Number of durable writes made by this object (for group-commit accounting)."""

    def get(self, key: str) -> bytes | None: ...
    def keys(self) -> list[str]: ...
    def items(self) -> list[tuple[str, bytes]]: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object, /) -> bool: ...
    def commit(self, puts: Sequence[tuple[str, bytes]], deletes: Sequence[str]) -> int:
        """Apply ``puts`` then ``deletes`` in one durable write; return the new generation."""

# ----------------------------------------------------------------------------- CDI

CDI_VERSIONS: list[str]
"""Known CDI spec versions, oldest first."""

def cdi_validate_vendor(name: str) -> None: ...
def cdi_validate_class(name: str) -> None: ...
def cdi_validate_device_name(name: str) -> None: ...
def cdi_minimum_version(spec: bytes) -> str:
    """The lowest cdiVersion that can express this spec (JSON, ``cdiVersion`` ignored)."""

def cdi_render_spec(spec: bytes) -> bytes:
    """Validate a spec (JSON; unknown fields rejected), set ``cdiVersion`` to the minimum needed
    and return its canonical JSON encoding."""

def cdi_write_spec(directory: str, file_name: str, spec: bytes) -> str:
    """Render ``spec`` and write it atomically as ``directory/file_name`` (temp file + rename in
    the same directory). Returns the path written."""

def cdi_remove_spec(directory: str, file_name: str) -> bool:
    """Remove ``directory/file_name``; False if it did not exist."""

# ----------------------------------------------------------------------------- NX-gzip

def nx_probe(host_root: str) -> NxProbe:
    """Probe the NX-gzip accelerator under ``host_root`` (``/`` on the host itself): the PowerVM
    ``sys/devices/vio/ibm,compression-v1/nx_gzip_caps`` attributes and VAS credit pools, the
    PowerNV ``ibm,powerN-nx`` device-tree nodes (N >= 9) and the ``dev/crypto/nx-gzip`` device.

    No accelerator is a result (``usable`` False, ``reason`` says why). Raises DeviceError naming
    the file when the host root is missing or a value is malformed (every value is parsed
    strictly) or unreadable. Releases the GIL.
    """

@final
class NxProbe:
    @property
    def platform(self) -> str:
        """``"powervm"``, ``"powernv"`` or ``""`` (no NX-gzip hardware)."""

    @property
    def vio(self) -> NxVioCaps | None:
        """The LPAR's capabilities (PowerVM only)."""

    @property
    def device_tree(self) -> str | None:
        """The device-tree root walked, if any."""

    @property
    def engines(self) -> list[NxEngine]:
        """Device-tree NX units, by chip id (PowerNV)."""

    @property
    def char_device(self) -> NxCharDevice | None: ...
    @property
    def reason(self) -> str:
        """Empty when usable; otherwise why there is no usable accelerator (for the log)."""

    @property
    def usable(self) -> bool:
        """Hardware and the character device were found."""

@final
class NxVioCaps:
    @property
    def path(self) -> str: ...
    @property
    def req_max_processed_len(self) -> int | None: ...
    @property
    def min_compress_len(self) -> int | None: ...
    @property
    def min_decompress_len(self) -> int | None: ...
    @property
    def default_credits_total(self) -> int | None: ...
    @property
    def default_credits_used(self) -> int | None: ...
    @property
    def qos_credits_total(self) -> int | None: ...
    @property
    def qos_credits_used(self) -> int | None: ...

@final
class NxEngine:
    @property
    def node(self) -> str:
        """Node path relative to the device-tree root."""

    @property
    def compatible(self) -> str:
        """The matching ``ibm,powerN-nx`` string."""

    @property
    def generation(self) -> int: ...
    @property
    def chip_id(self) -> int: ...

@final
class NxCharDevice:
    @property
    def path(self) -> str:
        """The device node, or the sysfs ``dev`` attribute the numbers came from."""

    @property
    def major(self) -> int: ...
    @property
    def minor(self) -> int: ...
    @property
    def source(self) -> str:
        """``"node"`` or ``"sysfs"``."""

# ----------------------------------------------------------------------------- claim lines

def rewrite_claim_lines(
    path: str, changes: Sequence[tuple[str, Sequence[str]]], durable: bool, exact: bool = False
) -> bool:
    """Apply ``changes`` (claim UID -> its lines; [] removes them) to the ``\\n``-separated lines
    of ``path``: a claim owns the lines ending in `` claim=<uid>``; other lines are kept. With
    ``exact`` the claims in ``changes`` become the only claims in the file. Writes a temp file
    (the file's spare, if one waits) with the same mode (fsync when ``durable``) and swaps it
    into ``path``'s place; no change, no write. Returns whether it wrote. Raises DeviceError
    naming the file. Releases the GIL.
    """

# ----------------------------------------------------------------------------- background jobs

@final
class IoWorker:
    """Disk jobs on Rust threads that never take the GIL. Submitting copies the arguments and
    returns a job id; ``fileno()`` becomes readable when outcomes wait, and ``finished()``
    collects them. Rust never calls back into Python."""

    def __new__(cls, name: str, threads: int = 1) -> IoWorker: ...
    @property
    def name(self) -> str: ...
    def fileno(self) -> int:
        """Readable while finished jobs wait to be collected."""

    def submit_commit(
        self, checkpoint: Checkpoint, puts: Sequence[tuple[str, bytes]], deletes: Sequence[str]
    ) -> int:
        """``checkpoint.commit`` in the background; the outcome is the new generation or a
        CheckpointError."""

    def submit_rewrite(
        self,
        path: str,
        changes: Sequence[tuple[str, Sequence[str]]],
        durable: bool,
        exact: bool = False,
        spare: bool = True,
    ) -> int:
        """``rewrite_claim_lines`` in the background; the outcome is a bool or a DeviceError.
        After a write, once the outcome is queued, the thread makes the file's spare (an empty
        ``.<name>.drafast-tmp.spare``) unless ``spare`` is false: the next rewrite writes into
        it instead of allocating an inode on the way to its answer."""

    def finished(self) -> list[tuple[int, object]]:
        """``(job id, result or exception instance)`` of the jobs finished since the last call."""

    def close(self) -> None:
        """Stop taking jobs; wait for the queued ones to finish."""

# ----------------------------------------------------------------------------- CPU sets

@final
class CpuTopology:
    """Where each logical CPU sits: parallel per-CPU arrays of socket, NUMA node, core and
    uncore-cache ids. The core id is the kubelet's ``CoreID`` (the lowest logical CPU of the
    physical core); the uncore id is the L3 id, or the socket id where there is none.

    Raises ``ValueError`` naming the problem: arrays of different lengths, no CPUs, a CPU id
    listed twice or outside 0..16383, a core whose CPUs differ in socket, NUMA node or uncore.
    """

    def __new__(
        cls,
        cpus: Sequence[int],
        sockets: Sequence[int],
        numa_nodes: Sequence[int],
        cores: Sequence[int],
        uncores: Sequence[int],
    ) -> CpuTopology: ...
    @property
    def num_cpus(self) -> int: ...
    @property
    def num_cores(self) -> int: ...
    @property
    def num_sockets(self) -> int: ...
    @property
    def num_numa_nodes(self) -> int: ...
    @property
    def num_uncores(self) -> int: ...
    @property
    def cpus_per_core(self) -> int:
        """The kubelet's ``CPUsPerCore()``: CPUs / cores, an integer average."""

    @property
    def cpus(self) -> str:
        """All CPUs, as a canonical cpulist."""

def cpuset_normalize(text: str) -> str:
    """Parse a kernel cpulist (``"0-3,8"``; leading/trailing whitespace allowed, ``""`` is empty)
    and return its canonical form. Raises CpuListError naming the text and the position."""

def cpuset_take(
    topology: CpuTopology,
    free: str,
    count: int,
    *,
    spread_numa: bool = False,
    full_cores: bool = False,
    prefer_uncore: bool = True,
) -> str:
    """The cpulist of ``count`` CPUs of ``free`` that kubelet v1.37.2's static policy would pick:
    packed (``prefer_uncore``: align by uncore cache), or ``spread_numa`` across NUMA nodes;
    ``full_cores`` is ``full-pcpus-only``. Compute-only (microseconds), runs with the GIL held.

    Never a CPU outside ``free``: where the kubelet's answer would hold busy CPUs (its integer
    averages mislead it on asymmetric hosts, e.g. hybrid P/E cores), its free CPUs are kept and
    the kubelet's algorithm is asked again for the rest; under ``full_cores`` that is refused.

    Raises CpuListError for a malformed ``free`` or CPUs outside the topology, and
    CpuAllocationError (``asked for N CPUs, M free: why``) when ``count`` < 1 or > free, when
    whole cores cannot be given, or when the kubelet's algorithm fails.
    """
