"""Stable content digests for models, corpora and settings.

A digest is the hex SHA-256 of a canonical serialisation, so equal content gives an equal
digest on every machine and in every process.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable


def digest_json(value: Any) -> str:
    """Digest of a JSON-serialisable value, independent of dict key order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest_strings(parts: Iterable[str]) -> str:
    """Digest of a sequence of strings; the boundaries between them count."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def short(digest: str) -> str:
    """The first 12 hex digits: enough to tell runs apart in a header."""
    return digest[:12]


HEX64 = frozenset("0123456789abcdef")


def file_digest(path: os.PathLike | str, memo_dir: os.PathLike | str | None = None) -> str:
    """SHA-256 of a file's bytes, cheap on repeat calls.

    Files in a Hugging Face cache are symlinks to blobs named by their SHA-256, so the name
    is the digest. Other files are hashed once and remembered under `memo_dir`, keyed by
    their real path, size and modification time.
    """
    real = os.path.realpath(path)
    blob = os.path.basename(real)
    if len(blob) == 64 and set(blob) <= HEX64 and os.path.basename(os.path.dirname(real)) == "blobs":
        return blob
    stat = os.stat(real)
    memo = None
    if memo_dir is not None:
        memo = Path(memo_dir) / digest_json([real, stat.st_size, stat.st_mtime_ns])
        try:
            return memo.read_text().strip()
        except OSError:
            pass
    h = hashlib.sha256()
    with open(real, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if memo is not None:
        try:  # a memo is an optimisation: failing to write one is not an error
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(digest)
            os.replace(tmp, memo)
        except OSError:
            pass
    return digest
