"""Faults: a process killed (SIGKILL) during the corpus encode, during the embedding write,
during the HotFlip passage write and during the run-file write. After each kill the rerun
gives the numbers of a clean run and no temporary file is left behind.

The kills are real: a subprocess runs the real step and the test sends SIGKILL. To hit a
write (milliseconds) every time, the subprocess imports `pause_write` (below), which stops
an atomic write just before it renames its finished temporary file into place.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import write_beir
from robustest.attacks import HotFlipConfig, PassageCache, Poisoning, split_for_attack
from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.files import TEMP_NAME
from robustest.retrieval import CorpusIndex
from robustest.runs import load_run

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")

REPO = Path(__file__).resolve().parent.parent
MEASURES = ["nDCG@10", "RR@10"]
HOTFLIP = {"tokens": 12, "iterations": 1, "pool": 4}

PAUSE_WRITE = '''
"""Test only: an atomic write into $PAUSE_WRITE_UNDER stops before its rename, to be killed."""
import os, time
from pathlib import Path

_replace = os.replace


def replace(src, dst, *args, **kwargs):
    if Path(dst).parent == Path(os.environ["PAUSE_WRITE_UNDER"]):
        Path(os.environ["PAUSE_MARKER"]).write_text(str(src))
        time.sleep(300)
    return _replace(src, dst, *args, **kwargs)


os.replace = replace
'''

LOAD = """
import sys
from pathlib import Path
from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.retrieval import CorpusIndex
from robustest.retrievers.resolve import LoadOptions, resolve_retriever

cache_dir, dataset, root = map(Path, sys.argv[1:4])
opts = LoadOptions(cache_dir=cache_dir, batch_size=int(sys.argv[4]))
retriever = resolve_retriever("default", opts).load(opts)
print("fingerprint", retriever.fingerprint, flush=True)
"""

ENCODE = LOAD + """
from robustest import progress
progress.START_AFTER = 0  # a line after the first batch: the test kills on it
CorpusIndex(retriever, load_beir(dataset), cache=EmbeddingCache(root)).searcher
"""

HOTFLIP_SCRIPT = LOAD + f"""
import pause_write
from robustest.attacks import HotFlipConfig, PassageCache, Poisoning, split_for_attack
ds = load_beir(dataset)
index = CorpusIndex(retriever, ds, cache=EmbeddingCache(cache_dir))
poisoning = Poisoning(index, split_for_attack(ds), hotflip=HotFlipConfig(**{HOTFLIP!r}), seeds=(1999,), cache=PassageCache(root), progress=False)
print("entry", poisoning.cache.path(poisoning.cache_parts("hotflip", 1, 1999)), flush=True)
poisoning.run("hotflip", 1)
"""


@pytest.fixture(scope="module")
def tiny(small_cranfield, tmp_path_factory) -> Path:
    """64 cranfield documents (the judged ones of 8 queries first): an encode of a few seconds."""
    full = load_beir(small_cranfield)
    qids = sorted(full.queries, key=int)[:8]
    keep: list[str] = []
    for d in [d for q in qids for d in full.qrels[q]] + list(full.doc_ids):
        if d not in keep and len(keep) < 64:
            keep.append(d)
    docs = {d: (t, x) for d, t, x in zip(full.doc_ids, full.titles, full.texts) if d in keep}
    qrels = {q: {d: r for d, r in full.qrels[q].items() if d in keep} for q in qids}
    return write_beir(tmp_path_factory.mktemp("tiny") / "tiny", docs, {q: full.queries[q] for q in qids}, qrels)


@pytest.fixture(scope="module")
def clean(minilm, tiny, cache_dir):
    """The clean run, encoded in this process without a cache: corpus vectors and scores."""
    index = CorpusIndex(minilm, load_beir(tiny), cache=EmbeddingCache(None))
    evaluation = index.evaluate(measures=MEASURES)
    # The same vectors in the shared cache (parts as retrieval.py builds them), so the
    # subprocesses below need not encode the corpus again; a miss would only be slower.
    parts = {"retriever": minilm.fingerprint, "corpus": index.dataset.corpus_fingerprint}
    EmbeddingCache(cache_dir).load_or_compute(parts, lambda: index.embeddings)
    return index, evaluation


@pytest.fixture
def helper_dir(tmp_path) -> Path:
    folder = tmp_path / "helpers"
    folder.mkdir()
    (folder / "pause_write.py").write_text(PAUSE_WRITE)
    return folder


@pytest.fixture
def start(helper_dir):
    """`start(args, log, pause_under=None, cwd=REPO)`: a subprocess with its output in `log`,
    able to import `pause_write`; any still running at the end of the test is killed."""
    started = []

    def start(args: list[str], log: Path, pause_under: Path | None = None, cwd: Path = REPO) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(helper_dir), env.get("PYTHONPATH")]))
        env["PAUSE_MARKER"] = str(helper_dir / "paused")
        if pause_under is not None:
            env["PAUSE_WRITE_UNDER"] = str(pause_under)
        with open(log, "wb") as out:
            started.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kill_when(proc: subprocess.Popen, ready, log: Path, what: str) -> None:
    """SIGKILL the process as soon as `ready()`; fail if it ends first."""
    deadline = time.monotonic() + 180
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"the process never reached {what}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_NAME.match(p.name))


def printed(log: Path, label: str) -> str:
    return re.search(rf"^{label} (\S+)$", log.read_text(), re.M).group(1)


@pytest.mark.parametrize("during", ["encode", "array write"])
def test_killed_during_the_corpus_encode_or_its_write(during, minilm, tiny, clean, tmp_path, helper_dir, start, cache_dir):
    root, log = tmp_path / "cache", tmp_path / "log"
    folder = root / "embeddings"
    # Batches of 8 when killed mid-encode: the kill after the first leaves seven to go.
    args = [sys.executable, "-c", ENCODE, str(cache_dir), str(tiny), str(root), "8" if during == "encode" else "32"]
    if during == "encode":
        proc = start(args, log)
        kill_when(proc, lambda: re.search(r"encoding 64 documents .* 8/64", log.read_text()), log, "the first batch")
        assert sorted(p.suffix for p in folder.iterdir()) == [".lock"]  # killed before any write
    else:
        args[2] = "import pause_write\n" + ENCODE
        proc = start(args, log, pause_under=folder)
        kill_when(proc, (helper_dir / "paused").exists, log, "the array write")
        assert len(leftovers(folder)) == 1 and not list(folder.glob("*.json")) and not list(folder.glob("*.npy"))
    assert printed(log, "fingerprint") == minilm.fingerprint  # the rerun reads the entry it was writing

    index, evaluation = clean
    rerun = CorpusIndex(minilm, load_beir(tiny), cache=EmbeddingCache(root))
    again = rerun.evaluate(measures=MEASURES)
    assert rerun.cache_hit is False and leftovers(folder) == []
    assert np.asarray(rerun.embeddings).tobytes() == np.asarray(index.embeddings).tobytes()
    assert {m: list(again.scores[m]) for m in MEASURES} == {m: list(evaluation.scores[m]) for m in MEASURES}
    third = CorpusIndex(minilm, load_beir(tiny), cache=EmbeddingCache(root))
    third.searcher
    assert third.cache_hit is True and np.asarray(third.embeddings).tobytes() == np.asarray(index.embeddings).tobytes()


def test_killed_during_the_hotflip_passage_write(minilm, tiny, clean, tmp_path, helper_dir, start, cache_dir):
    index, _ = clean
    dataset = index.dataset
    root, log = tmp_path / "cache", tmp_path / "log"
    folder = root / "attacks"
    proc = start([sys.executable, "-c", HOTFLIP_SCRIPT, str(cache_dir), str(tiny), str(root), "32"], log, pause_under=folder)

    def poisoning(cache):
        return Poisoning(index, split_for_attack(dataset), hotflip=HotFlipConfig(**HOTFLIP), seeds=(1999,), cache=cache, progress=False)

    reference = poisoning(None).run("hotflip", 1)  # the clean run, while the subprocess works
    kill_when(proc, (helper_dir / "paused").exists, log, "the passage write")
    entry = Path(printed(log, "entry"))
    assert not entry.exists() and len(leftovers(folder)) == 1
    # The rerun reads the entry the killed process was writing.
    assert entry == folder / f"{PassageCache(None).key(poisoning(None).cache_parts('hotflip', 1, 1999))}.json"

    def same(a, b):
        keep = ("text", "token_ids", "trace", "accepted")  # extra holds the seconds taken
        assert [{k: p.as_dict()[k] for k in keep} for p in a.passages[0]] == [{k: p.as_dict()[k] for k in keep} for p in b.passages[0]]
        assert all(np.array_equal(a.hits[k], b.hits[k]) for k in a.hits) and np.array_equal(a.best_rank, b.best_rank)

    rerun = poisoning(PassageCache(root)).run("hotflip", 1)
    assert rerun.cached == (False,) and leftovers(folder) == [] and entry.exists()
    same(rerun, reference)
    cached = poisoning(PassageCache(root)).run("hotflip", 1)
    assert cached.cached == (True,)
    same(cached, reference)


def test_killed_during_the_run_file_write(clean, tiny, tmp_path, helper_dir, start, cache_dir):
    folder = tmp_path / "runs"
    folder.mkdir()
    out = folder / "run.json"
    out.write_text('{"previous": "run"}')  # an earlier run the killed write must not damage

    def pytest_run(log, pause):
        args = [sys.executable, "-m", "pytest", str(REPO / "suites" / "test_effectiveness.py"), "-p", "no:cacheprovider", "-q",
                *(["-p", "pause_write"] if pause else []), f"--robustest-dataset={tiny}", f"--robustest-cache-dir={cache_dir}",
                f"--robustest-save={out}"]
        return start(args, log, pause_under=folder if pause else None, cwd=tmp_path)

    killed = pytest_run(tmp_path / "killed.log", pause=True)
    kill_when(killed, (helper_dir / "paused").exists, tmp_path / "killed.log", "the run-file write")
    assert out.read_text() == '{"previous": "run"}' and len(leftovers(folder)) == 1

    rerun = pytest_run(tmp_path / "rerun.log", pause=False)
    assert rerun.wait(timeout=300) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    assert leftovers(folder) == []
    run = load_run(out)
    index, _ = clean
    evaluation = index.evaluate(measures=list(run["per_query"]))
    assert run["effectiveness"] == evaluation.aggregate()
    assert run["per_query"] == {m: evaluation.by_query(m) for m in run["per_query"]}
    assert json.loads(out.read_text()) == run
