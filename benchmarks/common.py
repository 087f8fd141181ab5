"""What every benchmark script shares: where the data and results live, what machine ran it."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"


def cranfield_path() -> Path:
    root = os.environ.get("ROBUSTEST_DATA_DIR") or REPO.parent / "shared" / "data"
    return Path(root).expanduser() / "cranfield"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def next_results_path(name: str, folder: Path = RESULTS_DIR) -> Path:
    """folder/NNNN_<name>.json, one past the highest number there (like pytest-benchmark)."""
    numbers = [int(m.group(1)) for p in folder.glob("*.json") if (m := re.match(r"(\d{4})_", p.name))]
    return folder / f"{max(numbers, default=0) + 1:04d}_{name}.json"


def machine_info(**extra) -> dict:
    """What a result depends on: the CPU, how busy it was, the platform; plus `extra` fields."""
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_avg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **extra,
    }
