"""Shared fixtures for robustest's own tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Folder of real collections (e.g. cranfield/): $ROBUSTEST_DATA_DIR, else <repo>/../shared/data."""
    path = Path(os.environ.get("ROBUSTEST_DATA_DIR") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip(f"no shared data folder at {path}; set ROBUSTEST_DATA_DIR to the folder holding cranfield/")
    return path


def _purge_ir_datasets() -> None:
    import sys

    for name in [m for m in sys.modules if m == "ir_datasets" or m.startswith("ir_datasets.")]:
        del sys.modules[name]


@pytest.fixture
def irds_home(tmp_path, monkeypatch) -> Path:
    """Keep ir_datasets in tmp_path and quick to give up, for any test that may import it.

    ir_datasets creates its folders and fixes its dataset paths when first imported, so
    IR_DATASETS_HOME only takes effect before the import: drop any earlier import, and
    drop ours afterwards so no later test sees these paths.
    """
    home = tmp_path / "irds"
    monkeypatch.setenv("IR_DATASETS_HOME", str(home))
    monkeypatch.setenv("IR_DATASETS_TMP", str(tmp_path / "irds-tmp"))
    # Its defaults are 3 tries x 15 s per mirror: a stalled network would take 45-90 s.
    monkeypatch.setenv("IR_DATASETS_DL_TRIES", "1")
    monkeypatch.setenv("IR_DATASETS_DL_TIMEOUT", "1")
    _purge_ir_datasets()
    yield home
    _purge_ir_datasets()
