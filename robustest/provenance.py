"""Where a run was made: machine, Python, library versions, git commit, command line.

`environment()` returns a plain JSON-ready dict for the run file (key "environment"), in the
spirit of pytest-benchmark's machine_info / commit_info, so two run files that disagree can be
told apart. No host name or user name is recorded: run files get shared and committed.

Nothing here imports torch (or any other heavy library) just to ask its version: versions
come from the installed distributions' metadata, and CUDA devices are listed only when torch
is already loaded. Every probe that can fail gives None instead of an error.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

# Name in the run file -> distributions that provide it, first installed one wins
# (faiss ships as faiss-cpu or one of several GPU builds, all importing as `faiss`).
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "transformers": ("transformers",),
    "sentence_transformers": ("sentence-transformers",),
    "faiss": ("faiss-cpu", "faiss-gpu-cu12", "faiss-gpu-cu11", "faiss-gpu", "faiss"),
    "numpy": ("numpy",),
    "ir_measures": ("ir-measures",),
}


def environment() -> dict[str, Any]:
    return {
        "machine": machine(),
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation()},
        "packages": package_versions(),
        "cuda_devices": cuda_devices(),
        "git": git_commit(),
        "command_line": list(sys.argv),
    }


def machine() -> dict[str, Any]:
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "processor": processor(),
        "cpus": os.cpu_count(),
        "memory_bytes": total_memory(),
    }


def processor() -> str | None:
    # platform.processor() is empty or just "x86_64" on Linux; /proc/cpuinfo names the model.
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return None


def package_versions() -> dict[str, str | None]:
    from . import __version__

    out: dict[str, str | None] = {"robustest": __version__}  # also right in a checkout that is not installed
    for name, distributions in PACKAGES.items():
        out[name] = None
        for dist in distributions:
            try:
                out[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def cuda_devices() -> list[str] | None:
    """CUDA device names; None when torch is not loaded (unknown, and not worth loading it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver must not break saving a run
        return None


def _git(*args: str, cwd: str | None = None) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(cwd: str | None = None) -> dict[str, Any] | None:
    """{"commit", "branch", "dirty"} of the repository holding `cwd` (default: the current
    folder); None outside a repository, without git, or when git refuses (e.g. an unsafe
    owner). "branch" is None on a detached HEAD; "dirty" counts tracked files only."""
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if not commit:
        return None
    branch = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd)
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    return {
        "commit": commit,
        "branch": None if branch in (None, "HEAD") else branch,
        "dirty": None if status is None else bool(status),
    }
