"""torch's thread count from the CPUs the process may use: affinity, cgroup v2 and v1 quotas
(fake cgroup folders under tmp_path), the environment's and the caller's explicit choice."""

from __future__ import annotations

import os

import pytest

from robustest import threads


@pytest.fixture
def eight_cpus(monkeypatch):
    """An affinity mask of 8 CPUs on a 64-core host, whatever this machine has."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)


def cgroups(tmp_path, files: dict[str, str], own: str = "0::/\n"):
    """A fake /sys/fs/cgroup (files relative to it) and /proc/self/cgroup; returns both paths."""
    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(own)
    return root, self_cgroup


@pytest.mark.parametrize(
    "files, own, expected",
    [
        ({}, "0::/\n", 8),  # no cgroup files: the affinity mask
        ({"cpu.max": "max 100000\n"}, "0::/\n", 8),  # v2, unlimited
        ({"cpu.max": "200000 100000\n"}, "0::/\n", 2),  # v2, two CPUs of quota
        ({"cpu.max": "150000 100000\n"}, "0::/\n", 2),  # a part CPU rounds up
        ({"cpu.max": "50000 100000\n"}, "0::/\n", 1),  # never below one
        ({"cpu.max": "1600000 100000\n"}, "0::/\n", 8),  # quota above the mask: the mask
        ({"cpu.max": "max 100000\n", "ci/job/cpu.max": "300000 100000\n"}, "0::/ci/job\n", 3),  # the process's own cgroup
        ({"ci/cpu.max": "100000 100000\n", "ci/job/cpu.max": "400000 100000\n"}, "0::/ci/job\n", 1),  # a parent's tighter quota
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, "1:cpu:/\n0::/\n", 3),  # v1
        ({"cpu,cpuacct/cpu.cfs_quota_us": "200000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, "2:cpu,cpuacct:/\n", 2),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "1:cpu:/\n", 8),  # v1, unlimited
        ({"cpu.max": "lots of cpus\n", "cpu/cpu.cfs_quota_us": "x\n"}, "0::/\n", 8),  # unreadable: ignored
    ],
)
def test_available_cpus_from_fake_cgroups(tmp_path, eight_cpus, files, own, expected):
    root, self_cgroup = cgroups(tmp_path, files, own)
    assert threads.available_cpus(root, self_cgroup) == expected


def test_without_affinity_falls_back_to_cpu_count(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    root, self_cgroup = cgroups(tmp_path, {})
    assert threads.available_cpus(root, self_cgroup) == 6
    root2, self2 = cgroups(tmp_path / "q", {"cpu.max": "400000 100000"})
    assert threads.available_cpus(root2, self2) == 4


def test_this_machine_gives_a_sane_count():
    assert 1 <= threads.available_cpus() <= (os.cpu_count() or 1)


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, None),
        ({"OMP_NUM_THREADS": "3"}, 3),
        ({"MKL_NUM_THREADS": "5"}, 5),
        ({"OMP_NUM_THREADS": "4,2"}, 4),  # OpenMP's nested form: the outer level
        ({"ROBUSTEST_THREADS": "2", "OMP_NUM_THREADS": "3"}, 2),  # ours first
        ({"ROBUSTEST_THREADS": "0", "OMP_NUM_THREADS": "bad", "MKL_NUM_THREADS": "7"}, 7),  # invalid ones skipped
    ],
)
def test_threads_from_env(environ, expected):
    assert threads.threads_from_env(environ) == expected


@pytest.fixture
def fresh_torch_threads(monkeypatch):
    """Forget any earlier configuration and restore torch's count afterwards."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_applied", None)
    for name in threads.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield torch
    torch.set_num_threads(before)


def test_configure_applies_available_cpus_once(fresh_torch_threads, monkeypatch):
    torch = fresh_torch_threads
    monkeypatch.setattr(threads, "available_cpus", lambda: 1)
    assert threads.configure_torch_threads() == 1
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)  # the user's own choice after the model loaded
    assert threads.configure_torch_threads() == 1  # configured already: left alone
    assert torch.get_num_threads() == 2


def test_configure_respects_the_environment_and_an_explicit_count(fresh_torch_threads, monkeypatch):
    torch = fresh_torch_threads
    monkeypatch.setattr(threads, "available_cpus", lambda: 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.configure_torch_threads() == 2 and torch.get_num_threads() == 2
    assert threads.configure_torch_threads(1) == 1 and torch.get_num_threads() == 1  # the setting wins
    with pytest.raises(ValueError, match="threads=0 must be a whole number"):
        threads.configure_torch_threads(0)


@pytest.mark.parametrize("setting, expected", [(None, 1), (2, 2)])
def test_the_hf_encoder_sets_threads_before_loading(fresh_torch_threads, minilm_dir, monkeypatch, setting, expected):
    from robustest.retrievers import hf

    torch = fresh_torch_threads
    monkeypatch.setattr(threads, "available_cpus", lambda: 1)
    seen = []
    real_load = hf.load_model

    def load_model(*args, **kwargs):
        seen.append(torch.get_num_threads())  # already set when the weights load
        return real_load(*args, **kwargs)

    monkeypatch.setattr(hf, "load_model", load_model)
    encoder = hf.HFEncoder("minilm", minilm_dir, hf.EncoderConfig(), weights_digest="test", device="cpu", progress=False, threads=setting)
    assert seen == [expected]
    assert encoder.encode(["heat transfer"]).shape == (1, encoder.dimension)
    assert torch.get_num_threads() == expected


def run_python(code: str, **env) -> str:
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True).stdout.strip()


SHOW_POLICY = "import os; from robustest.threads import configure_torch_threads as c; c(); print(os.environ.get('OMP_WAIT_POLICY'))"


def test_idle_threads_sleep_unless_the_user_chose_a_policy():
    assert run_python(SHOW_POLICY) == "PASSIVE"
    assert run_python(SHOW_POLICY, OMP_WAIT_POLICY="active") == "active"
    # torch (and its OpenMP runtime) already loaded: too late to change, so nothing is set
    assert run_python("import torch; " + SHOW_POLICY) == "None"


def test_resolving_a_retriever_sets_the_policy_before_torch_loads():
    code = "import os; from robustest.retrievers.resolve import resolve_retriever as r; r('default'); print(os.environ.get('OMP_WAIT_POLICY'))"
    assert run_python(code) == "PASSIVE"
