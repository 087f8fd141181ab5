"""Where robustest keeps what it builds: embedding caches, converted models, datasets, NLTK data.

One root, chosen in this order: the `cache_dir` argument (from `--robustest-cache-dir`), the
`ROBUSTEST_CACHE_DIR` environment variable, then the platform's user cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .errors import RobustestError

CACHE_ENV = "ROBUSTEST_CACHE_DIR"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(platformdirs.user_cache_dir("robustest"))


def writable_dir(path: Path, purpose: str) -> Path:
    """Create `path` if needed and check we can write there, or say how to fix it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RobustestError(
            f"cannot write the {purpose} at {path} ({exc.strerror or exc}); "
            f"pass --robustest-cache-dir=DIR with a writable folder, set {CACHE_ENV}, or use --robustest-no-cache"
        ) from None
    return path
