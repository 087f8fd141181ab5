"""robustest is a guest in other projects' pytest runs: with it installed, a project that has
no robustest test sees no option clash, no import cost, no output; its own help screens work;
the suites ship in the wheel and run from any folder; long steps show progress."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from robustest.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "faiss", "numpy", "sentence_transformers")


def run(args, cwd, env=None, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_pytest_help_works_in_an_empty_folder(tmp_path):
    result = run(["-m", "pytest", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--robustest-regression-tolerance" in result.stdout and "--retriever" in result.stdout


@pytest.mark.parametrize("command", [[], *[[name] for name in build_parser()._subparsers._group_actions[0].choices]])
def test_every_cli_help_works(command):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0


def test_a_project_with_its_own_dataset_device_seeds_options_sees_nothing_of_robustest(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import sys\n"
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--dataset')\n    parser.addoption('--device')\n    parser.addoption('--seeds')\n"
        "def pytest_sessionfinish(session):\n"
        f"    loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "    print('HEAVY MODULES:', loaded)\n"
    )
    (tmp_path / "test_one.py").write_text("def test_one(request):\n    assert request.config.getoption('--dataset') == 'mine'\n")
    result = run(["-m", "pytest", "-p", "no:cacheprovider", "-s", "--dataset=mine", "--device=cuda"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "HEAVY MODULES: []" in result.stdout
    lines = [line for line in result.stdout.splitlines() if "robustest" in line.lower()]
    assert all(line.startswith("plugins:") for line in lines), lines  # only pytest's own plugin list names it


def test_a_malformed_pyproject_of_an_unrelated_project_is_not_our_business(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n[tool.robustest\n")
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    result = run(["-m", "pytest", "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(tmp_path)], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return next(out.glob("robustest-*.whl"))


def test_the_wheel_holds_the_suites(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for suite in ("__init__", "test_effectiveness", "test_query_families", "test_poisoning", "test_geometry"):
        assert f"robustest/suites/{suite}.py" in names, sorted(n for n in names if "suites" in n)
    assert "robustest/resources/stopwords_en.txt" in names


def test_suites_run_from_an_empty_folder_out_of_the_wheel(wheel, tmp_path, cache_dir, small_cranfield):
    """`pytest --pyargs robustest.suites` with robustest imported from the built wheel, not
    this checkout: the shipped suites find their data and run."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "empty"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = run(["-c", "import robustest.suites, robustest.plugin.hooks as h; print(robustest.suites.__file__, h.__file__)"], work, env=env)
    assert where.stdout.count(str(site)) == 2, where.stdout  # the suites and the plugin are the wheel's
    result = run(
        ["-m", "pytest", "--pyargs", "robustest.suites", "-p", "no:cacheprovider", "-k", "effectiveness or (drop_rate and case)",
         f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", "--robustest-seeds=1999"],
        work, env=env, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "case drop rate" in result.stdout and "passed" in result.stdout


def test_init_copies_the_suites_and_they_run(tmp_path, cache_dir, small_cranfield):
    from robustest.cli import main

    assert main(["init", str(tmp_path / "suites")]) == 0
    copied = sorted(p.name for p in (tmp_path / "suites").iterdir())
    assert "test_query_families.py" in copied and "robustest-settings.toml" in copied
    assert "# [tool.robustest.misspelling]" in (tmp_path / "suites" / "robustest-settings.toml").read_text()
    assert main(["init", str(tmp_path / "suites")]) == 2  # never overwrites an edited copy silently
    result = run(
        ["-m", "pytest", "suites/test_effectiveness.py", "-p", "no:cacheprovider", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}"],
        tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_cold_encode_shows_progress_without_dash_s(pytester, tmp_path, cranfield_dir):
    """Output capture is on (no -s): the encode of cranfield's 1,400 documents (seconds on a
    CPU) still reports through the terminal writer; `-q -q` silences it."""

    def cold_run(*args):
        return pytester.runpytest_subprocess(
            str(REPO / "suites" / "test_effectiveness.py"), "-p", "no:cacheprovider", *args, "--robustest-max-queries=5",
            f"--robustest-dataset={cranfield_dir}", f"--robustest-cache-dir={tmp_path / str(len(args))}",
        )  # fmt: skip

    result = cold_run()
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*robustest: encoding 1,400 documents with all-MiniLM-L6-v2 ...*1,400/1,400 (*"])
    quiet = cold_run("-q", "-q")
    assert quiet.ret == 0 and "encoding 1,400 documents" not in quiet.stdout.str()


def test_a_robustest_project_running_only_its_unit_tests_loads_nothing(tmp_path):
    """A project that configures robustest ([tool.robustest]) but runs a plain test: its
    settings are checked, nothing heavy is imported, nothing printed; a bad key is one line."""
    (tmp_path / "pyproject.toml").write_text("[tool.robustest.misspelling]\nthreshold = 0.3\n")
    (tmp_path / "conftest.py").write_text(
        "import sys\ndef pytest_sessionfinish(session):\n"
        f"    print('HEAVY MODULES:', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    (tmp_path / "test_unit.py").write_text("def test_unit():\n    assert True\n")
    result = run(["-m", "pytest", "-p", "no:cacheprovider", "-s"], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "HEAVY MODULES: []" in result.stdout
    assert [line for line in result.stdout.splitlines() if "robustest" in line.lower() and not line.startswith(("plugins:", "rootdir:"))] == []
    (tmp_path / "pyproject.toml").write_text("[tool.robustest.misspelling]\ntreshold = 0.3\n")
    bad = run(["-m", "pytest", "-p", "no:cacheprovider"], tmp_path)
    assert bad.returncode == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in (bad.stdout + bad.stderr).splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "unknown key 'treshold'" in errors[0] and "Traceback" not in bad.stderr, bad.stderr
