"""The CI recipe in examples/ci runs: actionlint accepts the workflow (and rejects a broken
copy), shellcheck accepts its scripts, and gate.sh + accept.sh, run as the workflow runs them,
gate three pushed checkpoints of the real embedded model against a local origin: the first
becomes the accepted run on a new robustness-runs branch, the two worse ones leave it alone."""

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import noised_checkpoint

REPO = Path(__file__).resolve().parent.parent
CI = REPO / "examples" / "ci"
VENV_BIN = Path(sys.executable).parent
# Few suites and two seeds keep the three gated runs cheap; the selection is the same for every
# push, so every family of the accepted run is compared.
EXTRA_ARGS = (
    '-p no:cacheprovider -m "not poisoning and not paraphrasing and not robustest_property and not geometry" '
    '-k "not worst_case" --robustest-seeds=1999,5'
)


def tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]))
    if not found:
        pytest.skip(f"{name} is not installed (make install installs it)")
    return found


def test_actionlint_accepts_the_workflow_and_rejects_a_broken_copy(tmp_path):
    actionlint = tool("actionlint")
    env = {**os.environ, "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])}
    done = subprocess.run([actionlint, "-no-color", str(CI / "robustness.yml")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr

    # upload-artifact's `path` is one string (a block scalar of lines), not a YAML list.
    lines = (CI / "robustness.yml").read_text().splitlines(keepends=True)
    start = lines.index("          path: |\n")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 12))
    as_list = ["          path:\n"] + [f"            - {line.strip()}\n" for line in lines[start + 1 : end]]
    broken = tmp_path / "robustness.yml"
    broken.write_text("".join(lines[:start] + as_list + lines[end:]))
    done = subprocess.run([actionlint, "-no-color", str(broken)], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and "expected scalar node for string value but found sequence node" in done.stdout, done.stdout + done.stderr


def test_shellcheck_accepts_the_scripts():
    done = subprocess.run([tool("shellcheck"), str(CI / "gate.sh"), str(CI / "accept.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def beir_set(thirty_query_set) -> Path:
    """A real 30-query BEIR set (conftest.thirty_query_set)."""
    return thirty_query_set


@pytest.fixture(scope="module")
def checkpoints(minilm_dir, tmp_path_factory) -> dict[str, Path]:
    """v1: all-MiniLM-L6-v2 as shipped; v2 and v3: every weight noised at 0.5 and 0.15 times
    that tensor's std (conftest.noised_checkpoint)."""
    root = tmp_path_factory.mktemp("checkpoints")
    made = {"v1": shutil.copytree(minilm_dir, root / "v1")}
    for name, scale in (("v2", 0.5), ("v3", 0.15)):
        made[name] = noised_checkpoint(minilm_dir, root / name, scale)
    return made


def git(*args, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


class Project:
    """A repository with the recipe in place, its origin (a bare repository) and one fresh
    runner checkout per push, where the workflow's two script steps run."""

    def __init__(self, root: Path, dataset: Path, cache_dir: Path):
        self.root, self.cache_dir = root, cache_dir
        self.origin = root / "origin.git"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.origin), cwd=root)
        self.dev = root / "dev"
        git("clone", "--quiet", str(self.origin), str(self.dev), cwd=root)
        git("config", "user.name", "dev", cwd=self.dev)
        git("config", "user.email", "dev@localhost", cwd=self.dev)
        # The weights are plain git blobs here: stored as they are, pushing them takes seconds, not a minute.
        for repo in (self.origin, self.dev):
            git("config", "core.bigFileThreshold", "1m", cwd=repo)
            git("config", "core.compression", "0", cwd=repo)
        (self.dev / ".github" / "workflows").mkdir(parents=True)
        shutil.copy(CI / "robustness.yml", self.dev / ".github" / "workflows")
        shutil.copytree(CI, self.dev / ".github" / "robustness", ignore=shutil.ignore_patterns("*.yml"))
        shutil.copytree(dataset, self.dev / "data" / "our-beir-set")
        self.pushes = 0

    def push(self, checkpoint: Path) -> str:
        latest = self.dev / "checkpoints" / "latest"
        shutil.rmtree(latest, ignore_errors=True)
        shutil.copytree(checkpoint, latest)
        git("add", "-A", cwd=self.dev)
        git("commit", "--quiet", "-m", f"checkpoint {checkpoint.name}", cwd=self.dev)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.dev)
        self.pushes += 1
        return git("rev-parse", "HEAD", cwd=self.dev)

    def run_workflow(self, sha: str) -> dict:
        """The gate and accept steps of the workflow on a fresh runner for commit `sha`. The
        accept step runs after a failing gate too: the file robustest kept is not accepted."""
        runner = self.root / f"runner-{self.pushes}"
        git("clone", "--quiet", str(self.origin), str(runner), cwd=self.root)
        git("checkout", "--quiet", "--detach", sha, cwd=runner)
        temp = self.root / f"runner-temp-{self.pushes}"
        temp.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(
            PATH=os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]),
            CHECKPOINT="checkpoints/latest", DATASET="data/our-beir-set", RUNS_BRANCH="robustness-runs", OUT_DIR="robustness",
            ROBUSTEST_CACHE_DIR=str(self.cache_dir), EXTRA_ARGS=EXTRA_ARGS, RUNNER_TEMP=str(temp),
            GITHUB_REF="refs/heads/main", GITHUB_SHA=sha, GITHUB_STEP_SUMMARY=str(temp / "summary.md"),
        )
        steps = {}
        for step in ("gate", "accept"):
            steps[step] = subprocess.run(
                ["bash", f".github/robustness/{step}.sh"], cwd=runner, env=env, capture_output=True, text=True, timeout=600
            )
        return {"runner": runner, "out": runner / "robustness", "temp": temp, **steps}

    def accepted(self) -> bytes | None:
        done = subprocess.run(["git", "show", "robustness-runs:accepted.json"], cwd=self.origin, capture_output=True)
        return done.stdout if done.returncode == 0 else None


def output(step) -> str:
    return step.stdout + step.stderr


def assert_artifacts(result):
    out = result["out"]
    assert json.loads((out / "run.json").read_text())["families"]
    assert "<html" in (out / "robustness.html").read_text()[:2000].lower()
    assert list(ET.parse(out / "robustness.xml").getroot().iter("testcase"))
    # The checkout itself only gained the output folder: the runs branch lives in RUNNER_TEMP.
    assert git("status", "--porcelain", cwd=result["runner"]).splitlines() == ["?? robustness/"]


def kept_line(result) -> str:
    lines = [line for line in result["gate"].stdout.splitlines() if line.startswith("baseline ") and " kept: " in line]
    assert len(lines) == 1, output(result["gate"])[-4000:]
    assert lines[0].startswith(f"baseline {result['temp'] / 'robustness-runs' / 'accepted.json'} kept: ")
    return lines[0]


def test_three_pushes_gate_each_checkpoint_against_the_accepted_run(tmp_path, beir_set, checkpoints, cache_dir):
    project = Project(tmp_path, beir_set, cache_dir)

    # Push 1: no runs branch yet. The run of v1 becomes the accepted run (the anchor) on a new
    # orphan branch.
    first = project.run_workflow(project.push(checkpoints["v1"]))
    assert first["gate"].returncode == 0, output(first["gate"])[-4000:]
    assert "no accepted.json on robustness-runs yet" in first["gate"].stdout
    assert first["accept"].returncode == 0 and "robustness-runs:accepted.json is now the run of" in first["accept"].stdout, output(first["accept"])
    assert_artifacts(first)
    accepted = project.accepted()
    assert accepted == (first["out"] / "run.json").read_bytes()
    assert git("rev-list", "--count", "robustness-runs", cwd=project.origin) == "1"
    assert git("ls-tree", "--name-only", "robustness-runs", cwd=project.origin) == "accepted.json"  # orphan: no code

    # Push 2: v3, a little noise. Gated with --robustest-ci against v1: it fails or is not
    # shown safe, and the accepted run stays.
    second = project.run_workflow(project.push(checkpoints["v3"]))
    assert "gating checkpoints/latest against robustness-runs:accepted.json" in second["gate"].stdout
    kept = kept_line(second)
    assert second["gate"].returncode in (0, 1), output(second["gate"])[-4000:]
    assert second["gate"].returncode == 1 or "not shown safe" in kept
    assert "accepted.json unchanged" in second["accept"].stdout and second["accept"].returncode == 0, output(second["accept"])
    assert project.accepted() == accepted
    assert_artifacts(second)
    assert kept in (second["temp"] / "summary.md").read_text()

    # Push 3: v2, much noise: its clean nDCG@10 regresses, the gate fails, the run stays.
    third = project.run_workflow(project.push(checkpoints["v2"]))
    assert third["gate"].returncode == 1, output(third["gate"])[-4000:]
    assert any(line.startswith("nDCG@10 vs baseline") and line.rstrip().endswith("fail") for line in third["gate"].stdout.splitlines())
    assert "did not pass" in kept_line(third)
    assert "accepted.json unchanged" in third["accept"].stdout and third["accept"].returncode == 0
    assert project.accepted() == accepted
    assert_artifacts(third)
    assert json.loads((third["out"] / "run.json").read_text())["comparison"]

    assert git("rev-list", "--count", "robustness-runs", cwd=project.origin) == "1"
