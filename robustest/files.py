"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The temporary file is `.<name>.tmp-<pid>-<host>` beside the target. A writer killed mid-write
leaves it behind; the next write of that file (and each cache store when it opens its folder)
removes such leftovers once their writer is gone.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any, Callable

from .errors import RobustestError

HOST = socket.gethostname()
# Group 1: the file written, 2: the writer's pid, 3: its host (absent in the older `.tmp<pid>` form).
TEMP_NAME = re.compile(r"^\.(.+)\.tmp-?(\d+)(?:-(.*))?$")
STALE_AFTER = 24 * 3600  # seconds: no write takes this long, so a temp file this old is a leftover


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{HOST}")


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Call `write(binary_file)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        remove_leftovers(path.parent, path.name)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # e.g. the parent is a file: there is no temporary file to remove
            pass
        raise RobustestError(f"cannot write {path} ({exc.strerror or exc}); check that the folder exists and is writable") from None


def write_json(path: Path, value: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(value, indent=1, sort_keys=False).encode("utf-8")))


def remove_leftovers(folder: Path, name: str | None = None) -> None:
    """Delete the temporary files of killed writers in `folder` (only those of `name` when
    given). A writer still running keeps its file: one of this host whose process is alive,
    or one of another host (a shared cache) until it is `STALE_AFTER` old."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # no folder yet: nothing left over
    now = time.time()
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if match is None or (name is not None and match.group(1) != name):
            continue
        pid, host = int(match.group(2)), match.group(3)
        try:
            gone = (host == HOST and pid != os.getpid() and not _alive(pid)) or now - entry.stat().st_mtime > STALE_AFTER
            if gone:
                os.unlink(entry.path)
        except OSError:
            pass  # removed by someone else meanwhile, or not ours to remove


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there: rely on the age alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
