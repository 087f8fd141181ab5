"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from .errors import RobustestError


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Call `write(binary_file)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RobustestError(f"cannot write {path} ({exc.strerror or exc}); check that the folder exists and is writable") from None


def write_json(path: Path, value: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(value, indent=1, sort_keys=False).encode("utf-8")))
