"""Headless Chromium for the tests that render robustest's HTML pages (the run report, the
analyze figures page): find the browser (skip when it is missing), run it, and check that
every image on a page decoded (the pages mark <body data-images-ok="yes">, report.IMAGE_CHECK)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium; make install does): the render check needs headless Chromium")
    return path


def headless(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def rendered_body(browser: str, tmp_path: Path, page: Path) -> str:
    """The <body> tag of `page` after Chromium loaded it and its image check ran."""
    dom = headless(browser, tmp_path, "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    return re.search(r"<body[^>]*>", dom.stdout).group(0)
