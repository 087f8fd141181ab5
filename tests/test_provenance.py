"""The run file's "environment" block: real values, JSON-ready, and no error anywhere git is
missing or the folder is not a repository."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata

import pytest

from robustest import provenance


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_environment_is_json_and_names_the_real_versions(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest", "suites/", "--retriever=default"])
    env = provenance.environment()
    assert json.loads(json.dumps(env)) == env
    assert env["command_line"] == ["pytest", "suites/", "--retriever=default"]
    assert env["python"] == {"version": platform.python_version(), "implementation": platform.python_implementation()}
    packages = env["packages"]
    assert packages["torch"] == metadata.version("torch") and packages["faiss"] == metadata.version("faiss-cpu")
    assert packages["ir_measures"] == metadata.version("ir_measures") and packages["robustest"] == metadata.version("robustest")
    assert set(packages) >= {"transformers", "numpy", "sentence_transformers"} and all(packages.values())
    m = env["machine"]
    assert m["system"] == platform.system() and m["cpus"] >= 1 and m["memory_bytes"] > 2**28
    # torch is loaded in this test process (conftest imports sentence_transformers): CUDA was asked.
    assert isinstance(env["cuda_devices"], list)


def test_absent_package_is_none_and_torch_is_not_imported_for_its_version():
    code = (
        "import sys; from robustest import provenance;"
        "provenance.PACKAGES['nothing'] = ('no-such-distribution-xyz',);"
        "env = provenance.environment();"
        "print(env['packages']['nothing'], env['cuda_devices'], 'torch' in sys.modules, env['packages']['torch'] is not None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["None", "None", "False", "True"]


def test_git_commit_branch_and_dirty_flag(tmp_path, monkeypatch):
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "trunk")
    (repo / "a.txt").write_text("one\n")
    git(repo, "add", "a.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(repo)
    assert provenance.environment()["git"] == {"commit": head, "branch": "trunk", "dirty": False}
    (repo / "a.txt").write_text("two\n")
    assert provenance.git_commit() == {"commit": head, "branch": "trunk", "dirty": True}
    (repo / "untracked.txt").write_text("x")
    git(repo, "checkout", "-q", "--detach")
    git(repo, "checkout", "-q", "--", "a.txt")
    assert provenance.git_commit() == {"commit": head, "branch": None, "dirty": False}


def test_no_repository_or_no_git_gives_none(tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # do not find a repo above tmp
    monkeypatch.chdir(plain)
    assert provenance.environment()["git"] is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # git cannot be found at all
    assert provenance.git_commit() is None
