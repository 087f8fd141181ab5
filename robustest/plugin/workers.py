"""pytest-xdist (`pytest -n N`): the workers measure, the controller reports.

Each worker runs its share of the tests on its own session (the corpus is encoded once: the
cache lock makes the others wait, and they say so), writes only what needs its corpus index
(TREC runs), and sends what it measured to the controller as a `FinishedRun`. The controller
merges the parts, prints the one summary (Holm across every worker's gates) and writes the one
run file, baseline and report.

With `--dist loadgroup` the tests of one family (its gate, worst-case search and property
search) go to one worker, which makes the family's variants once and encodes its run's and its
search's texts in one batch. With plain `-n N` (`--dist load`) any worker may take any test: a
family whose tests land on two workers has its variants made on both (the same seeds, so the
same numbers; the work is done twice).
"""

from __future__ import annotations

import pickle
import sys

import pytest

KEY = "robustest"  # in xdist's workeroutput


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def worker_id(config: pytest.Config) -> str:
    return config.workerinput.get("workerid", "gw?")


def groups_families(config: pytest.Config) -> bool:
    """`--dist loadgroup` (xdist tells its workers so through `loadgroup`; their `dist` is "no")."""
    return bool(getattr(config.option, "loadgroup", False)) or getattr(config.option, "dist", "no") == "loadgroup"


def family_scheduler(config: pytest.Config, log):
    """xdist's loadgroup scheduler, plus: a test whose parameter id names a robustness family
    (`test_drop_rate[misspelling]`, `test_worst_case_of_one_edit[misspelling]`) goes with the
    other tests of that family. Keyed on the id because pytest 9.2's structured node ids drop
    the `@group` suffix xdist_group markers rely on."""
    from xdist.scheduler import LoadGroupScheduling

    from ..families import FAMILIES

    class FamilyScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            if scope != nodeid:  # an xdist_group of the user's
                return scope
            params = nodeid.rpartition("[")[2].rstrip("]") if nodeid.endswith("]") else ""
            family = next((p for p in params.split("-") if p in FAMILIES), None)
            return f"robustest family {family}" if family else nodeid

    return FamilyScheduling(config, log)


def send(config: pytest.Config, finished, header: list[str], outputs: list[str]) -> None:
    """On a worker, at the end of its session: what it measured, for the controller. Pickled:
    it holds the gate and worst-case objects the summary formats; both ends are this process'
    own code and version (xdist starts the workers from the same environment)."""
    config.workeroutput[KEY] = pickle.dumps({"run": finished, "header": header, "outputs": outputs})


class Parts:
    """On the controller: what each worker sent, and which stopped without sending."""

    def __init__(self):
        self.sent: dict[str, dict] = {}
        self.lost: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self.sent or self.lost)

    def receive(self, node, error) -> None:
        name = getattr(getattr(node, "gateway", None), "id", "worker")
        data = getattr(node, "workeroutput", {}).get(KEY)
        if data is not None:
            self.sent[name] = pickle.loads(data)
        elif error is not None:
            self.lost[name] = f"worker {name} stopped ({str(error).strip().splitlines()[-1] if str(error).strip() else 'crashed'}); the robustness results of its tests are missing"

    def merged(self):
        """(FinishedRun, header lines, output lines of the workers), or None when no worker measured anything."""
        from ..engine.finished import merge

        if not self.sent:
            return None
        names = sorted(self.sent, key=worker_order)
        run = merge([self.sent[n]["run"] for n in names])
        run.environment = {**run.environment, "command_line": list(sys.argv)}  # the user's, not the worker's
        run.missing += list(self.lost.values())
        outputs = list(dict.fromkeys(line for n in names for line in self.sent[n]["outputs"]))
        return run, self.sent[names[0]]["header"], outputs


def worker_order(name: str) -> tuple:
    digits = name.lstrip("gw")
    return (0, int(digits)) if digits.isdigit() else (1, name)


class WorkerStream:
    """Progress lines of a worker on the terminal: xdist has no terminal reporter there, and
    fd capture would swallow stderr during a test, so capture is suspended around each line;
    each line names the worker."""

    def __init__(self, config: pytest.Config):
        self.prefix = f"[{worker_id(config)}] "
        self.capture = config.pluginmanager.getplugin("capturemanager")

    def write(self, text: str, *, flush: bool = False) -> None:
        text = "".join(self.prefix + line if line.strip() else line for line in text.splitlines(keepends=True))
        if self.capture is None:
            return self._write(text)
        with self.capture.global_and_fixture_disabled():
            self._write(text)

    @staticmethod
    def _write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    @property
    def fullwidth(self) -> int:
        return 80


def install_worker_progress(config: pytest.Config) -> None:
    from .. import progress

    progress.set_sink(progress.TerminalSink(WorkerStream(config), live=False, verbosity=config.get_verbosity()))
