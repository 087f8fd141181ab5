"""Where a suite run's time goes: per phase, against the forward-pass floor and a bare
`robustest evaluate` of the same collection, quiet and beside a CPU-bound process.

Each measured run is a fresh Python process (this script with --child), so start-up costs
what it costs a user. Inside it pytest (or `robustest evaluate`) runs in-process with a small
plugin and a few wrappers that attribute every moment of the wall time, from process start
to the end of the run, to exactly one phase (the innermost one active):

  start-up            interpreter, imports, pytest collection (process start to the first test,
                      less the phases below that happen meanwhile)
  model load          resolving and loading the retriever under test (and a guard model other than it)
  dataset             loading the collection (cold default collection: building it)
  corpus encode       the corpus index: encode + store the corpus (cold), or load the stored
                      vectors (warm), then the FAISS index
  clean evaluation    the unperturbed queries retrieved and scored (what `robustest evaluate` measures)
  perturbers          making a family's perturber
  gates               test_drop_rate
  worst-case searches test_worst_case_of_one_edit and the property searches (marked
                      robustest_property: test_a_typo_keeps..., test_each_variant...)
  HotFlip passages    generating (cold) or loading (warm) the HotFlip passages
  poisoning           the rest of test_poisoning.py
  effectiveness, geometry, other tests
  between tests       pytest's own time between tests
  report              after the last test: terminal summary, output files

The shares add up to the run's wall time. Afterwards, in the same process, the forward-pass
floor is measured: every distinct text the run encoded (per encoder and call: the retriever's
queries and documents, the guard model's queries), encoded once more, each group in one
call. Documents are in it only when the run encoded them (a cold corpus, HotFlip candidates).
Gradient passes (HotFlip) are not encodes and are not in the floor.

    python benchmarks/bench_suite.py [--dataset default|cranfield|PATH] [--max-queries N]
        [--cold | --warm] [--no-poisoning] [--contention] [--repeat N] [--out PATH] [-- PYTEST_ARGS]

cold: every run gets a fresh, empty cache folder (collection build, corpus encode, HotFlip
passages included). warm: one folder (--cache-dir, else a fresh one) is primed by one suite
run, then `robustest evaluate` and the suite run on it. --contention runs the suite once more
beside one busy-loop process (`while True: pass`, not pinned). Writes
benchmarks/results/NNNN_suite.json and prints the phase table.
"""

from __future__ import annotations

import time

_IMPORTED = time.perf_counter()  # before anything heavy: start-up is measured from process start

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from functools import cached_property, wraps  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(REPO / "benchmarks"))

SCHEMA = 1
NAME = "suite"
PHASES = (
    "start-up", "model load", "dataset", "corpus encode", "clean evaluation", "effectiveness", "perturbers",
    "gates", "worst-case searches", "HotFlip passages", "poisoning", "geometry", "other tests", "between tests", "report",
)
# The issue's targets (measured, never asserted): see benchmarks/README.md.
TARGET_SUITE_OVER_EVALUATE = {"warm": 3.0, "cold": 4.0}
TARGET_SUITE_OVER_FLOOR = 1.5
TARGET_CONTENDED_OVER_QUIET = 2.5


# -- the child: one run, timed phase by phase ------------------------------------------------

def process_age() -> float:
    """Seconds since this process started (from /proc; 0 where there is none)."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(after_name[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in ticks since boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - started)


class Timeline:
    """Every moment goes to the innermost open phase; the bottom of the stack is the base phase."""

    def __init__(self, base: str, start: float):
        self.start = start
        self.last = start
        self.stack = [base]
        self.totals: dict[str, float] = defaultdict(float)
        self.entered: Counter = Counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.totals[self.stack[-1]] += now - self.last
        self.last = now

    @property
    def current(self) -> str:
        return self.stack[-1]

    def push(self, phase: str) -> None:
        self._tick()
        self.stack.append(phase)
        self.entered[phase] += 1

    def pop(self) -> None:
        self._tick()
        self.stack.pop()

    def switch_base(self, phase: str) -> None:
        self._tick()
        self.stack[0] = phase

    @contextmanager
    def phase(self, name: str):
        self.push(name)
        try:
            yield
        finally:
            self.pop()

    def close(self) -> float:
        """Stop the clock; the run's wall time (the sum of the phases)."""
        self._tick()
        return self.last - self.start


class EncodeLog:
    """The texts one encoder was asked for (wrapping its instance's encode_* methods)."""

    METHODS = ("encode_queries", "encode_documents")

    def __init__(self, label: str, encoder, timeline: Timeline):
        self.label, self.encoder, self.timeline = label, encoder, timeline
        self.originals: dict[str, object] = {}
        self.distinct: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)  # (method, corpus|other) -> texts
        self.calls: Counter = Counter()
        self.texts: Counter = Counter()
        self.seconds_by_phase: dict[str, float] = defaultdict(float)
        self.texts_by_phase: Counter = Counter()
        self.installed = False
        self.recording = True
        for method in self.METHODS:
            original = getattr(encoder, method, None)
            if original is None:
                continue
            self.originals[method] = original
            try:
                setattr(encoder, method, self._wrap(method, original))
            except (AttributeError, TypeError):  # __slots__ or a frozen object: not recorded
                self.originals.pop(method)
        self.installed = bool(self.originals)

    def _wrap(self, method: str, original):
        @wraps(original)
        def recorded(texts):
            if not self.recording:
                return original(texts)
            texts = list(texts)
            phase = self.timeline.current
            kind = "corpus" if phase == "corpus encode" else "other"
            started = time.perf_counter()
            try:
                return original(texts)
            finally:
                self.seconds_by_phase[phase] += time.perf_counter() - started
                self.calls[method] += 1
                self.texts[method] += len(texts)
                self.texts_by_phase[phase] += len(texts)
                self.distinct[(method, kind)].update(dict.fromkeys(texts))

        return recorded

    def summary(self) -> dict:
        return {
            "calls": dict(self.calls),
            "texts_encoded": dict(self.texts),
            "distinct_texts": {f"{m} ({k})": len(t) for (m, k), t in self.distinct.items()},
            "encode_s_by_phase": dict(self.seconds_by_phase),
            "texts_by_phase": dict(self.texts_by_phase),
            "encode_s": sum(self.seconds_by_phase.values()),
        }

    def floor(self) -> list[dict]:
        """Encode each group of distinct texts once more, in one call each; seconds per group."""
        self.recording = False
        groups = []
        for method in self.METHODS:
            for kind in ("corpus", "other"):
                texts = list(self.distinct.get((method, kind), {}))
                if not texts:
                    continue
                gc.collect()
                started = time.perf_counter()
                self.originals[method](texts)
                groups.append({"encoder": self.label, "call": method, "texts": kind, "count": len(texts), "seconds": time.perf_counter() - started})
        return groups


def classify(item) -> str:
    """The phase of one test, from its name and markers."""
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    marked = {m.name for m in item.iter_markers()}
    if "poisoning" in marked:
        return "poisoning"
    if "robustest_property" in marked or name.startswith("test_worst_case"):
        return "worst-case searches"
    if name.startswith("test_drop_rate"):
        return "gates"
    if "geometry" in marked:
        return "geometry"
    if name in ("test_clean_effectiveness", "test_no_clean_regression"):
        return "effectiveness"
    return "other tests"


class PhasePlugin:
    """Tests by phase: each test's whole protocol (setup, call, teardown) goes to its phase."""

    def __init__(self, timeline: Timeline):
        self.timeline = timeline
        self.tests: list[dict] = []
        self.outcomes: dict[str, str] = {}

    def hooks(self):
        import pytest

        timeline, tests, outcomes = self.timeline, self.tests, self.outcomes

        class Hooks:
            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtestloop(self, session):
                timeline.switch_base("between tests")
                yield
                timeline.switch_base("report")

            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_protocol(self, item, nextitem):
                phase = classify(item)
                started = time.perf_counter()
                timeline.push(phase)
                try:
                    yield
                finally:
                    timeline.pop()
                    tests.append({"test": item.nodeid.split("::", 1)[-1], "phase": phase, "seconds": time.perf_counter() - started})

            def pytest_runtest_logreport(self, report):
                if report.when == "call" or report.outcome != "passed":
                    outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
                    outcomes.setdefault(report.nodeid.split("::", 1)[-1], outcome)

        return Hooks()


def instrument(timeline: Timeline, logs: list[EncodeLog], info: dict) -> None:
    """Wrap what a run loads and computes, for this process only."""
    from robustest.attacks.poisoning import Poisoning
    from robustest.perturb.guard import GuardModel
    from robustest.engine.checks import Checks
    from robustest.engine.session import RobustestSession
    from robustest.retrieval import CorpusIndex

    def timed_property(name: str, phase: str, after=None):
        original = RobustestSession.__dict__[name].func

        def compute(self):
            with timeline.phase(phase):
                value = original(self)
            if after is not None:
                after(self, value)
            return value

        prop = cached_property(compute)
        prop.__set_name__(RobustestSession, name)
        setattr(RobustestSession, name, prop)

    def loaded(session, retriever):
        if not any(log.encoder is retriever for log in logs):
            logs.append(EncodeLog("retriever", retriever, timeline))
        info["retriever"] = session.resolution.label

    def measured(session, dataset):
        info["documents"], info["queries"] = len(dataset.doc_ids), len(dataset.queries)

    timed_property("resolution", "model load")
    timed_property("retriever", "model load", loaded)
    timed_property("dataset", "dataset", measured)
    def evaluated(session, evaluation):
        if info["kind"] == "evaluate":  # what `robustest evaluate` does after it: the summary
            timeline.switch_base("report")

    timed_property("clean_evaluation", "clean evaluation", evaluated)

    build = CorpusIndex._build

    def timed_build(self):
        with timeline.phase("corpus encode"):
            searcher = build(self)
        info["corpus_cache_hit"] = self.cache_hit
        return searcher

    CorpusIndex._build = timed_build

    perturber = Checks.perturber

    def timed_perturber(self, family):
        if family in self._perturbers:
            return perturber(self, family)
        with timeline.phase("perturbers"):
            return perturber(self, family)

    Checks.perturber = timed_perturber

    load_guard = GuardModel.model.fget

    def guard_model(self):
        if self._model is not None:
            return load_guard(self)
        with timeline.phase("model load"):
            model = load_guard(self)
        logs.append(EncodeLog("guard", model, timeline))  # a guard sharing the retriever's vectors never loads
        return model

    GuardModel.model = property(guard_model)

    passages = Poisoning.passages

    def timed_passages(self, attack, n, seed):
        if attack != "hotflip":
            return passages(self, attack, n, seed)
        with timeline.phase("HotFlip passages"):
            made, hit = passages(self, attack, n, seed)
        info.setdefault("hotflip_cache_hits", []).append(bool(hit))
        return made, hit

    Poisoning.passages = timed_passages


def child(kind: str, out: Path, floor: bool, args: list[str]) -> int:
    start = time.perf_counter() - process_age()
    timeline = Timeline("start-up", start)
    logs: list[EncodeLog] = []
    info: dict = {"kind": kind}
    instrument(timeline, logs, info)
    tests = None
    if kind == "suite":
        import pytest

        plugin = PhasePlugin(timeline)
        status = int(pytest.main(args, plugins=[plugin.hooks()]))
        tests = plugin.tests
        for t in tests:
            t["outcome"] = plugin.outcomes.get(t["test"], "passed")
    else:
        from robustest.cli import main as robustest_main

        status = robustest_main(["evaluate", *args])
    wall = timeline.close()
    phases = {p: timeline.totals[p] for p in PHASES if timeline.totals.get(p)}
    phases.update({p: s for p, s in timeline.totals.items() if p not in phases and s})
    report = {
        "kind": kind,
        "exit_status": status,
        "wall_s": wall,
        "process_start_to_main_s": _IMPORTED - start,
        "phases": phases,
        "tests_per_phase": dict(Counter(t["phase"] for t in tests)) if tests is not None else None,
        "tests": tests,
        **{k: v for k, v in info.items() if k != "kind"},
        "encodes": {log.label: log.summary() for log in logs},
    }
    if floor:
        groups = [g for log in logs for g in log.floor()]
        total = sum(g["seconds"] for g in groups)
        report["floor"] = {"seconds": total, "groups": groups}
        report["wall_over_floor"] = wall / total if total else None
    report["versions"] = child_versions()
    try:
        import torch

        report["torch_threads"] = torch.get_num_threads()
    except ImportError:
        report["torch_threads"] = None
    out.write_text(json.dumps(report, indent=1))
    return 0


def child_versions() -> dict:
    from robustest import __version__

    found = {"robustest": __version__}
    for name in ("torch", "transformers", "faiss", "numpy", "hypothesis", "pytest"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = getattr(module, "__version__", None)
    return found


# -- the parent: which runs, in which cache state, side by side --------------------------------

def dataset_spec(value: str) -> str:
    from common import cranfield_path

    if value == "default":
        return "default"
    path = cranfield_path() if value == "cranfield" else Path(value).expanduser()
    if not path.is_dir():
        raise SystemExit(f"bench_suite: no BEIR folder at {path} (cranfield: set ROBUSTEST_DATA_DIR)")
    return str(path.resolve())


def busy_cores(pid: int, since: float) -> float | None:
    """Cores a process used on average since `since` (perf_counter), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, ValueError, IndexError):
        return None
    return cpu / max(time.perf_counter() - since, 1e-9)


def run_child(kind: str, role: str, cache: Path, hypothesis_dir: Path, args: list[str], *, floor: bool, contended: bool, log: Path, verbose: bool) -> dict:
    import resource

    from bench_encode_cache import busy_cpu_seconds

    out = log.with_suffix(".json")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--child-out", str(out), *([] if floor else ["--no-floor"]), "--", *args]
    env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(hypothesis_dir)}
    busy = None
    if contended:  # one CPU-bound neighbour, pinned nowhere
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        busy_started = time.perf_counter()
    try:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = busy_cpu_seconds()
        started = time.perf_counter()
        with open(log, "w") as sink:
            done = subprocess.run(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
        process_wall = time.perf_counter() - started
        after = busy_cpu_seconds()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        neighbour = busy_cores(busy.pid, busy_started) if busy is not None else None
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    child_cpu = (used.ru_utime + used.ru_stime) - (children.ru_utime + children.ru_stime)
    others = None
    if before and after:  # cores busy with anything but the run (and this process): the neighbour included
        others = max(0.0, ((after[0] - before[0]) - (after[1] - before[1]) - child_cpu) / process_wall)
    text = log.read_text(errors="replace")
    if verbose:
        print(text)
    if done.returncode != 0 or not out.is_file() or json.loads(out.read_text())["exit_status"] not in (0, 1):
        raise SystemExit(f"bench_suite: the {role} run failed (exit {done.returncode}); its output is in {log}:\n" + "\n".join(text.splitlines()[-30:]))
    result = json.loads(out.read_text())
    lines = text.splitlines()
    result.update({
        "role": role,
        "cache_dir": str(cache),
        "contended": contended,
        "process_wall_s": process_wall,
        "cpu_s": child_cpu,
        "other_processes_cores": others,
        "neighbour_cores": neighbour,
        "command": " ".join(["robustest evaluate" if kind == "evaluate" else "pytest", *args]),
        "output_tail": lines[-40:],
    })
    return result


def phase_table(run: dict) -> str:
    wall = run["wall_s"]
    counts = run.get("tests_per_phase") or {}
    lines = [f"{'phase':<22} {'seconds':>8} {'share':>6} {'tests':>5}", "-" * 44]
    for phase, seconds in run["phases"].items():
        tests = counts.get(phase, "")
        lines.append(f"{phase:<22} {seconds:>8.2f} {seconds / wall:>6.1%} {tests:>5}")
    lines.append(f"{'suite wall' if run['kind'] == 'suite' else 'wall':<22} {wall:>8.2f} {1:>6.1%}")
    floor = run.get("floor")
    if floor:
        parts = ", ".join(f"{g['encoder']} {g['call'].split('_')[1]} ({g['texts']}) {g['count']:,} in {g['seconds']:.2f} s" for g in floor["groups"])
        lines.append(f"forward-pass floor {floor['seconds']:.2f} s ({parts}); wall / floor = {run['wall_over_floor']:.2f}" if floor["seconds"] else "forward-pass floor: nothing encoded")
    return "\n".join(lines)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[dict], mode: str, contention: bool) -> dict:
    walls = lambda role: [r["wall_s"] for r in runs if r["role"] == role]  # noqa: E731
    suite, evaluate, contended = median(walls("suite")), median(walls("evaluate")), median(walls("suite beside a busy loop"))
    floors = [r["wall_over_floor"] for r in runs if r["role"] == "suite" and r.get("wall_over_floor")]
    summary = {
        "suite_wall_s": suite,
        "evaluate_wall_s": evaluate,
        "suite_over_evaluate": suite / evaluate if suite and evaluate else None,
        "suite_over_floor": median(floors),
        "contended_wall_s": contended,
        "contended_over_quiet": contended / suite if contended and suite else None,
    }
    targets = {"suite_over_evaluate": {"measured": summary["suite_over_evaluate"], "at_most": TARGET_SUITE_OVER_EVALUATE[mode]}}
    if mode == "warm":
        targets["suite_over_floor"] = {"measured": summary["suite_over_floor"], "at_most": TARGET_SUITE_OVER_FLOOR}
    if contention:
        targets["contended_over_quiet"] = {"measured": summary["contended_over_quiet"], "at_most": TARGET_CONTENDED_OVER_QUIET}
    for t in targets.values():
        t["met"] = None if t["measured"] is None else t["measured"] <= t["at_most"]
    summary["targets"] = targets
    return summary


def parent(args: argparse.Namespace, pytest_extra: list[str]) -> int:
    import resource

    from bench_encode_cache import busy_cpu_seconds
    from common import machine_info, next_results_path

    from robustest.files import write_json

    spec = dataset_spec(args.dataset)
    mode = "cold" if args.cold else "warm"
    common = [f"--retriever={args.retriever}", f"--robustest-dataset={spec}"]
    if args.max_queries:
        common.append(f"--robustest-max-queries={args.max_queries}")
    suite_args = [str(REPO / "suites"), "-p", "no:cacheprovider"]
    if args.no_poisoning:
        suite_args += ["-m", "not poisoning"]
    if args.hypothesis_seed != "random":
        suite_args.append(f"--hypothesis-seed={args.hypothesis_seed}")
    suite_args += pytest_extra

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    started = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_before = started.ru_utime + started.ru_stime
    cpu_before, wall_before = busy_cpu_seconds(), time.perf_counter()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="robustest-bench-suite-") as tmp:
        tmp = Path(tmp)
        counter = iter(range(1, 1000))

        def run(kind: str, role: str, cache: Path, *, floor: bool = True, contended: bool = False) -> dict:
            i = next(counter)
            cache_arg = [f"--robustest-cache-dir={cache}"]
            what = common + cache_arg + (suite_args if kind == "suite" else [])
            label = f"{role} ({mode} cache)"
            print(f"[{i}] {label}: {'pytest' if kind == 'suite' else 'robustest evaluate'} ...", flush=True)
            result = run_child(kind, role, cache, tmp / f"hypothesis-{i}", what, floor=floor, contended=contended, log=tmp / f"run-{i}.log", verbose=args.verbose)
            result["cache"] = mode
            note = f", wall / floor {result['wall_over_floor']:.2f}" if result.get("wall_over_floor") else ""
            if contended:
                note += f"; the busy loop got {result['neighbour_cores'] or 0:.2f} cores"
            print(f"    {result['wall_s']:.1f} s (exit {result['exit_status']}{note}; other processes {result['other_processes_cores'] or 0:.2f} cores)", flush=True)
            runs.append(result)
            return result

        fresh = lambda: Path(tempfile.mkdtemp(prefix="cache-", dir=tmp))  # noqa: E731
        if mode == "cold":
            for _ in range(args.repeat):
                run("evaluate", "evaluate", fresh())
                run("suite", "suite", fresh())
                if args.contention:
                    run("suite", "suite beside a busy loop", fresh(), floor=False, contended=True)
        else:
            cache = Path(args.cache_dir).expanduser() if args.cache_dir else fresh()
            run("suite", "priming", cache, floor=False)  # fills every cache entry the timed runs read
            for _ in range(args.repeat):
                run("evaluate", "evaluate", cache)
                run("suite", "suite", cache)
                if args.contention:
                    run("suite", "suite beside a busy loop", cache, floor=False, contended=True)

    # Cores busy with anything this benchmark did not start (its runs and busy loop are its children).
    cpu_after, wall = busy_cpu_seconds(), time.perf_counter() - wall_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    contention = None
    if cpu_before and cpu_after:
        spent = (children.ru_utime + children.ru_stime) - children_before
        contention = max(0.0, ((cpu_after[0] - cpu_before[0]) - (cpu_after[1] - cpu_before[1]) - spent) / wall)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    first = next(r for r in runs if r["role"] == "suite")
    report = {
        "schema": SCHEMA,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # other_processes_cores: over the whole invocation, processes this benchmark did not start
        "machine": machine_info(cpus_usable=usable, torch_threads=first.get("torch_threads"), load_avg_before=load_before, other_processes_cores=contention),
        "versions": first.get("versions"),
        "settings": {
            "dataset": args.dataset,
            "dataset_spec": spec,
            "max_queries": args.max_queries,
            "cache": mode,
            "poisoning": not args.no_poisoning,
            "contention": args.contention,
            "retriever": args.retriever,
            "hypothesis_seed": args.hypothesis_seed,
            "repeat": args.repeat,
            "pytest_args": suite_args,
        },
        "summary": summarize(runs, mode, args.contention),
        "runs": runs,
    }
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)

    print()
    print(f"{first.get('retriever', args.retriever)} on {args.dataset} ({first.get('documents', '?'):,} documents, {first.get('queries', '?'):,} queries), "
          f"{mode} cache, poisoning {'on' if not args.no_poisoning else 'off'}; {report['machine']['cpu']}, torch threads {first.get('torch_threads')}")
    for r in runs:
        if r["role"] == "suite":
            print(phase_table(r))
            print()
    s = report["summary"]
    print(f"suite {s['suite_wall_s']:.1f} s, robustest evaluate {s['evaluate_wall_s']:.1f} s: suite / evaluate = {s['suite_over_evaluate']:.2f}")
    if s["contended_wall_s"]:
        print(f"beside a busy loop: {s['contended_wall_s']:.1f} s = {s['contended_over_quiet']:.2f}x quiet")
    for name, t in s["targets"].items():
        shown = "n/a" if t["measured"] is None else f"{t['measured']:.2f}"
        print(f"target {name} <= {t['at_most']}: {shown} ({'met' if t['met'] else 'not met' if t['met'] is not None else 'not measured'})")
    quiet = [r["other_processes_cores"] for r in runs if not r["contended"] and r["other_processes_cores"] is not None]
    if quiet and max(quiet) > 0.2:
        print(f"warning: other processes kept up to {max(quiet):.1f} cores busy during a quiet run; the timings are contended")
    print(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="default", help="default (the embedded collection), cranfield ($ROBUSTEST_DATA_DIR/cranfield) or a BEIR folder")
    parser.add_argument("--max-queries", type=int, default=None, help="--robustest-max-queries: a fixed subsample of N queries")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cold", action="store_true", help="every run on a fresh, empty cache folder")
    cache.add_argument("--warm", action="store_true", help="one cache folder, primed by a suite run first (the default)")
    parser.add_argument("--cache-dir", default=None, help="warm: the cache folder to prime and use (default: a fresh temporary one)")
    parser.add_argument("--no-poisoning", action="store_true", help='deselect the poisoning suite (-m "not poisoning")')
    parser.add_argument("--contention", action="store_true", help="also run the suite beside one CPU-bound busy-loop process")
    parser.add_argument("--retriever", default="default", help="--retriever of every run (default: default)")
    parser.add_argument("--hypothesis-seed", default="0", help="--hypothesis-seed of the suite runs, so property searches repeat exactly ('random': none)")
    parser.add_argument("--repeat", type=int, default=1, help="measured runs of each kind (medians in the summary)")
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_suite.json)")
    parser.add_argument("--verbose", action="store_true", help="print each run's full output")
    parser.add_argument("--child", choices=["suite", "evaluate"], help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.child_out, not args.no_floor, extra)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.cache_dir and args.cold:
        parser.error("--cache-dir is for --warm runs (--cold uses fresh folders)")
    return parent(args, extra)


if __name__ == "__main__":
    sys.exit(main())
