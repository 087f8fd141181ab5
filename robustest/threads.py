"""torch's CPU thread count from the CPUs this process may actually use.

torch starts one intra-op thread per core of the machine, whatever share of it the process
was given. In a container with a 2-CPU quota on a 64-core host that is 64 threads fighting
for 2 CPUs' time, and the cgroup throttles them all: encoding slows far more than in
proportion. So the count comes from the CPU affinity mask and the cgroup's CPU quota (v2
`cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), whichever is smaller.

An explicit choice wins: the `threads` argument (robustest's setting), else the
environment (ROBUSTEST_THREADS, then OMP_NUM_THREADS, MKL_NUM_THREADS). Nothing here
imports torch until `configure_torch_threads` runs.

Idle OpenMP threads also sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE, unless set):
beside another busy process on 2 cores, spinning threads took 20.9 s to encode 330 queries
with all-MiniLM-L6-v2, sleeping ones 2.7 s (one thread: 3.0 s). That only takes effect before
torch, and with it the OpenMP runtime, is first loaded.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Mapping

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
ENV_VARS = ("ROBUSTEST_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")

_applied: int | None = None  # what configure_torch_threads last set


def affinity_cpus() -> int | None:
    """CPUs the scheduler lets this process run on (None where the OS cannot say)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return len(os.sched_getaffinity(0)) or None
    except OSError:
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def v2_limit(folder: Path) -> float | None:
    """CPUs allowed by `folder/cpu.max` ("max 100000": unlimited; "200000 100000": 2)."""
    parts = (_read(folder / "cpu.max") or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def v1_limit(folder: Path) -> float | None:
    """CPUs allowed by cgroup v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1: unlimited)."""
    try:
        quota = int(_read(folder / "cpu.cfs_quota_us") or "")
        period = int(_read(folder / "cpu.cfs_period_us") or "")
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def own_cgroups(self_cgroup: Path = SELF_CGROUP) -> dict[str, str]:
    """This process's cgroup paths: {"": v2 path, "cpu": v1 cpu path}, from /proc/self/cgroup."""
    paths = {}
    for line in (_read(self_cgroup) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            paths[""] = path
        elif "cpu" in controllers.split(","):
            paths["cpu"] = path
    return paths


def with_ancestors(base: Path, path: str) -> list[Path]:
    """`base/path` and every folder above it up to `base`: a quota anywhere up the tree applies."""
    parts = [p for p in path.split("/") if p]
    return [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> float | None:
    """The tightest CPU quota over this process's cgroups (v2 and v1), in CPUs; None when none is set.
    Folders that are not there (a path seen from outside a container) are skipped."""
    own = own_cgroups(self_cgroup)
    limits = [v2_limit(f) for f in with_ancestors(root, own.get("", ""))]
    limits += [v1_limit(f) for mount in V1_CPU_MOUNTS for f in with_ancestors(root / mount, own.get("cpu", ""))]
    found = [x for x in limits if x]
    return min(found) if found else None


def available_cpus(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> int:
    """CPUs this process may use: the affinity mask (else os.cpu_count()), capped by the
    cgroup quota rounded up (1.5 CPUs of quota keep two threads busy part of the time)."""
    cpus = affinity_cpus() or os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, self_cgroup)
    return max(1, min(cpus, math.ceil(limit))) if limit else cpus


def threads_from_env(environ: Mapping[str, str] = os.environ) -> int | None:
    """The first of ROBUSTEST_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS that holds a whole
    number >= 1 (OpenMP's nested form "4,2" gives 4); others are ignored."""
    for name in ENV_VARS:
        value = environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return None


def configure_torch_threads(n: int | None = None) -> int | None:
    """Set torch's intra-op threads to `n`, else the environment's choice, else
    `available_cpus()`; returns the count in effect (None without torch).

    Once per process: a later call without `n` leaves the count alone, so a user's own
    torch.set_num_threads after the model loaded stands. A later explicit `n` applies."""
    global _applied
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"threads={n!r} must be a whole number >= 1")
    if n is None and _applied is not None:
        return _applied
    count = n or threads_from_env() or available_cpus()
    prefer_sleeping_threads()
    try:
        import torch
    except ImportError:
        return None
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
    _applied = count
    return count


def prefer_sleeping_threads(environ=os.environ) -> bool:
    """OMP_WAIT_POLICY=PASSIVE unless the user chose a policy, while torch is not loaded yet;
    whether idle threads will sleep (see the module docstring)."""
    if "torch" not in sys.modules:
        environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
