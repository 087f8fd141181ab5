"""Progress of long steps: what a task writes through pytest's real TerminalWriter, live and
plain, when it stays silent, and the real producers (an encode with the embedded model,
HotFlip, a second process waiting on a cache lock)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from _pytest._io import TerminalWriter

from robustest import progress
from robustest.attacks import HotFlipConfig, PassageCache, cluster_queries, hotflip_passages, split_for_attack
from robustest.cache import EmbeddingCache
from robustest.data import load_beir

FINAL = re.compile(r"^robustest: (.+) \.\.\. ([\d,]+)/([\d,]+) \(([\d.]+) s, ([\d,.]+) texts/s\)(, cached)?$")


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    """No sink left over from another test, TQDM_DISABLE unset."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(progress, "_sink", None)


@pytest.fixture
def eager(monkeypatch):
    """Every task reports, however quick."""
    monkeypatch.setattr(progress, "START_AFTER", 0)
    monkeypatch.setattr(progress, "FINAL_AFTER", 0)


def terminal(live: bool = False, verbosity: int = 0):
    out = io.StringIO()
    return out, progress.TerminalSink(TerminalWriter(file=out), live=live, verbosity=verbosity)


def run(n: int, step: int = 1, pause: float = 0.0, description: str = "encoding things with m", **kw) -> None:
    with progress.task(description, n, **kw) as t:
        for _ in range(0, n, step):
            time.sleep(pause)
            t.advance(step)


def test_a_long_task_reports_its_start_and_a_final_line_with_count_time_and_rate(monkeypatch):
    monkeypatch.setattr(progress, "START_TOTAL", 100)  # a large task: its start line at once
    out, sink = terminal()
    with progress.using(sink):
        with progress.task("encoding 200 documents with m", 200) as t:
            for _ in range(10):
                time.sleep(0.03)
                t.advance(20)
            t.done("cached")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "robustest: encoding 200 documents with m ..."
    assert len(lines) == 2  # plain lines come every PLAIN_EVERY seconds: none in 0.3 s
    what, done, total, seconds, rate, cached = FINAL.match(lines[-1]).groups()
    assert (what, done, total, cached) == ("encoding 200 documents with m", "200", "200", ", cached")
    assert 0.3 <= float(seconds) < 5
    assert 40 <= float(rate.replace(",", "")) <= 200 / 0.3  # the rate is count over elapsed time


def test_plain_lines_are_periodic_and_counts_are_grouped(monkeypatch, eager):
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.1)
    out, sink = terminal()
    with progress.using(sink):
        run(3000, step=500, pause=0.06, description="encoding 3,000 documents with m")
    lines = out.getvalue().splitlines()
    assert lines[0] == "robustest: encoding 3,000 documents with m ..."  # START_TOTAL: at once
    middle = lines[1:-1]
    assert 2 <= len(middle) <= 4  # about every 0.1 s of 0.36 s, not once per advance (6)
    assert all(re.search(r" \.\.\. [\d,]+/3,000 \(", line) for line in middle)
    assert FINAL.match(lines[-1]).group(2) == "3,000"


def test_live_mode_redraws_one_line_with_carriage_returns(monkeypatch, eager):
    monkeypatch.setattr(progress, "LIVE_EVERY", 0)
    out, sink = terminal(live=True)
    writer = sink.writer
    writer.fullwidth = 60
    writer.write("tests/test_x.py ")  # pytest is mid-line when a test starts encoding
    with progress.using(sink):
        run(5, description="encoding 5 documents with a-model-with-a-rather-long-name-indeed")
    text = out.getvalue()
    assert text.startswith("tests/test_x.py \n\r")  # the bar starts on a line of its own
    assert text.endswith("\n") and text.count("\n") == 2
    frames = text.split("\n")[1].split("\r")[1:]
    assert len(frames) == 6  # one per advance, then the final line over it
    assert all(len(f) <= 59 for f in frames[:-1])  # never wider than the terminal: it would wrap
    assert [re.search(r"(\d)/5", f).group(1) for f in frames[:-1]] == ["1", "2", "3", "4", "5"]
    assert all(f.startswith("robustest: encoding 5 doc") for f in frames)  # the description is cut, not the counts
    assert frames[-1].startswith("robustest: encoding 5 documents with a-model-with-a-rather-long-name-indeed ... 5/5 (")
    assert writer.width_of_current_line == 0  # pytest's next output starts on a fresh line


def test_quiet_quiet_is_silent(eager):
    out, sink = terminal(live=True, verbosity=-2)
    with progress.using(sink):
        run(5, pause=0.01)
        progress.note("waiting for nothing")
    assert out.getvalue() == ""
    out, sink = terminal(verbosity=-1)  # -q alone still reports
    with progress.using(sink):
        run(5)
    assert "5/5" in out.getvalue()


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_tqdm_disable_silences_everything(monkeypatch, eager, value):
    monkeypatch.setenv("TQDM_DISABLE", value)
    out, sink = terminal()
    with progress.using(sink):
        run(5)
        progress.note("waiting for nothing")
        with progress.task("dequantising x.gguf", None):
            pass
    assert out.getvalue() == ""


def test_tqdm_disable_false_does_not_silence(monkeypatch, eager):
    monkeypatch.setenv("TQDM_DISABLE", "0")
    out, sink = terminal()
    with progress.using(sink):
        run(5)
    assert "5/5" in out.getvalue()


def test_quick_tasks_are_silent_at_the_default_thresholds():
    out, sink = terminal(live=True)
    with progress.using(sink):
        for _ in range(50):  # a session encodes a few query variants hundreds of times
            run(8)
    assert out.getvalue() == ""


def test_a_task_longer_than_the_final_threshold_reports_only_its_end(monkeypatch):
    monkeypatch.setattr(progress, "FINAL_AFTER", 0.2)
    out, sink = terminal()
    with progress.using(sink):
        run(4, pause=0.07)  # shorter than START_AFTER: no start line; longer than FINAL_AFTER
    (line,) = out.getvalue().splitlines()
    assert FINAL.match(line).group(2) == "4"


def test_a_task_inside_a_task_is_silent(eager):
    """HotFlip encodes its candidates through the retriever: only HotFlip reports."""
    out, sink = terminal()
    with progress.using(sink):
        with progress.task("HotFlip", 2, unit="iterations") as outer:
            for _ in range(2):
                run(3, description="encoding 3 documents with m")
                outer.advance()
        run(3, description="encoding 3 queries with m")  # after it: reported again
    text = out.getvalue()
    assert "encoding 3 documents" not in text
    assert "robustest: HotFlip ... 2/2 (" in text
    assert "encoding 3 queries with m ... 3/3" in text


def test_a_failed_task_says_stopped_if_it_was_shown(eager):
    out, sink = terminal()
    with progress.using(sink), pytest.raises(KeyboardInterrupt):
        with progress.task("encoding 10 documents with m", 10) as t:
            t.advance(4)
            raise KeyboardInterrupt
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("robustest: encoding 10 documents with m ... 4/10 (") and last.endswith(", stopped")


def test_a_task_of_unknown_length_says_when_it_starts_and_how_long_it_took():
    out, sink = terminal()
    with progress.using(sink):
        with progress.task("dequantising x.gguf", None):
            time.sleep(0.05)
    start, final = out.getvalue().splitlines()  # shown at once: it cannot advance
    assert start == "robustest: dequantising x.gguf ..."
    assert re.fullmatch(r"robustest: dequantising x\.gguf \.\.\. done \(0\.\d s\)", final)


def test_the_default_sink_writes_plain_lines_to_stderr_when_it_is_not_a_terminal(capsys, eager):
    run(5, pause=0.01, description="encoding 5 queries with m")
    progress.note("a note")
    captured = capsys.readouterr()
    assert captured.out == "" and "\r" not in captured.err
    lines = captured.err.splitlines()
    assert lines[0].startswith("robustest: encoding 5 queries with m ... 1/5 (")  # START_AFTER = 0
    assert FINAL.match(lines[1]).group(2) == "5"  # then nothing for PLAIN_EVERY seconds
    assert lines[2:] == ["robustest: a note"]


def test_durations_and_rates_read_well():
    assert [progress.duration(s) for s in (0.42, 41.4, 185, 3725)] == ["0.4 s", "41 s", "3 min 05 s", "1 h 02 min"]
    assert progress.rate(1033, 41, "texts") == "25 texts/s"
    assert progress.rate(5, 2, "texts") == "2.5 texts/s"
    assert progress.rate(3, 12, "iterations") == "4.0 s/iteration"
    assert progress.rate(50, 2, "") == "25/s"


def test_importing_progress_loads_neither_torch_nor_pytest_nor_tqdm():
    code = "import sys, robustest.progress; print(sorted({'torch', 'pytest', 'hypothesis', 'tqdm', 'filelock'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- the real producers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_reporting(cache_dir):
    """The embedded default retriever with progress on (the shared `minilm` has it off)."""
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    opts = LoadOptions(cache_dir=cache_dir, progress=True)
    return resolve_retriever("default", opts).load(opts)


def test_a_real_encode_reports_what_it_encodes_with_which_model(eager, minilm_reporting, minilm, cranfield_dir):
    texts = load_beir(cranfield_dir).documents[:60]
    out, sink = terminal()
    with progress.using(sink):
        vectors = minilm_reporting.encode_documents(texts)
        minilm_reporting.encode_queries(texts[:3])
        silent = minilm.encode_documents(texts)  # progress=False: nothing, even at thresholds 0
    lines = out.getvalue().splitlines()
    final = [FINAL.match(line) for line in lines if "60/60" in line]
    assert len(final) == 1 and final[0].group(1) == "encoding 60 documents with all-MiniLM-L6-v2"
    assert float(final[0].group(5).replace(",", "")) > 0
    assert any(line.startswith("robustest: encoding 3 queries with all-MiniLM-L6-v2 ... 3/3 (") for line in lines)
    assert len([line for line in lines if "60 documents" in line]) == 2  # first batch, final line
    assert np.allclose(vectors, silent, atol=1e-6)  # reporting changes nothing in the vectors


def test_hotflip_reports_iterations_and_its_own_encodes_stay_silent(eager, minilm_reporting, small_cranfield):
    queries = split_for_attack(load_beir(small_cranfield))
    vectors = minilm_reporting.encode_queries(list(queries.train.values()))
    clusters = cluster_queries(list(queries.train), vectors, 2, seed=1, similarity="cosine")
    out, sink = terminal()
    with progress.using(sink):
        hotflip_passages(minilm_reporting, queries, clusters, HotFlipConfig(tokens=12, iterations=2, pool=4), seed=1)
    text = out.getvalue()
    assert "robustest: HotFlip: 2 passages of 12 tokens, 2 iterations each, with all-MiniLM-L6-v2 ... 4/4 (" in text
    assert "encoding" not in text


def hold_lock(path):
    """Another process holding the file lock at `path` for about 1.5 s."""
    code = "import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); time.sleep(1.5)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_waiting_on_the_embedding_cache_lock_says_so_once(tmp_path):
    cache = EmbeddingCache(tmp_path)
    parts = {"retriever": "r" * 64, "corpus": "c" * 64}
    lock = cache.root / f"{cache.key(parts)}.lock"
    out, sink = terminal()
    holder = hold_lock(lock)
    try:
        with progress.using(sink):
            started = time.monotonic()
            result = cache.load_or_compute(parts, lambda: np.ones((3, 4)), what="3 documents with m")
            waited = time.monotonic() - started
    finally:
        holder.wait()
    assert out.getvalue().splitlines() == [f"robustest: waiting for another process to finish encoding 3 documents with m (lock {lock})"]
    assert waited > 0.5 and not result.hit and result.array.shape == (3, 4)
    out, sink = terminal()
    with progress.using(sink):  # nobody holds it now: nothing to say
        assert cache.load_or_compute({**parts, "corpus": "d" * 64}, lambda: np.ones((3, 4))).array.shape == (3, 4)
    assert out.getvalue() == ""


def test_waiting_on_the_passage_cache_lock_says_so(tmp_path):
    cache = PassageCache(tmp_path)
    parts = {"attack": "hotflip", "seed": 1}
    lock = cache.path(parts).with_suffix(".lock")
    out, sink = terminal()
    holder = hold_lock(lock)
    try:
        with progress.using(sink):
            passages, hit = cache.load_or_compute(parts, lambda: [])
    finally:
        holder.wait()
    assert (passages, hit) == ([], False)
    assert out.getvalue() == f"robustest: waiting for another process to finish generating the same adversarial passages (lock {lock})\n"


def test_a_long_property_search_reports_the_examples_it_ran(pytester, small_cranfield, cache_dir):
    """Searches are quick now (strategies cached, query vectors kept), so this one is made slow
    on purpose: past the start threshold it reports, once done, how many examples it ran."""
    pytester.makepyfile(
        "import time\n"
        "import pytest\n"
        "from hypothesis import given, strategies as st\n"
        "from robustest import strategies as rst\n"
        "@pytest.mark.robustest_property\n"
        "@rst.property_settings(max_examples=12, derandomize=True, database=None)\n"
        "@given(data=st.data())\n"
        "def test_slow_search(robustness, data):\n"
        "    qid, query, plan = data.draw(rst.perturbed_queries(robustness.stable_queries(k=10), rst.swaps))\n"
        "    time.sleep(0.25)\n"
        "    robustness.keeps_relevant_in_top_k('reordering', qid, query, [plan], k=100)\n"
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}"
    )
    result.assert_outcomes(xpassed=1)
    result.stdout.fnmatch_lines(["*robustest: property search test_slow_search ... done (12 examples, *"])
