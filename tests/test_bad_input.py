"""Bad input, one mistake at a time (issue 12 item 6), and fuzzing of what reads user text.

The matrix runs each mistake through a real entry point: the `robustest` command (in this
process), pytest with the plugin (a subprocess, as a user runs it), or a public function
(perturbation arguments, TREC runs). Each case asserts
- the exit code (2 for the command, 4 for pytest's start-up, 1 for a test that met the mistake;
  for a function, the exception type),
- that no traceback and no INTERNALERROR was printed,
- that exactly one error line was printed and that it names the problem (a regex),
- that every input file (datasets, run files, baselines, folders in the way) is
  byte-identical afterwards, and that no temporary file was left behind.
A case that shows a defect still open would be xfail(strict=True), the fix in
its reason. Data is small (20 queries, 150 documents; bm25 or a numpy hashing encoder), so
the whole file takes about two minutes on two cores; most of it is ~70 pytest subprocesses.

The Hypothesis tests at the end feed the BEIR loader random files and every perturbation
operator random queries: only robustest's own errors may escape.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from robustest import strategies as rst
from robustest.cli import main
from robustest.data import load_beir
from robustest.errors import RobustestError
from robustest.families import FAMILIES, Family, register_family, unregister_family
from robustest.families import sampler as family_sampler
from robustest.files import TEMP_NAME
from robustest.perturb import NoLegalEdit, perturb_queries, rng_for
from robustest.perturb.synonyms import SemanticGuard, sample_synonyms, wordnet_sampler
from robustest.perturb.typos import OPS, Typo, TypoPlan, sample_with_op
from robustest.settings import options
from robustest.trec import read_trec_run

HELPER = "bad_input_retrievers"  # the module:factory retrievers below, importable by name

RETRIEVERS = '''
"""Retrievers for robustest's bad-input tests: a hashing bag-of-words encoder (numpy only)
and variants that return what a broken model returns."""
import hashlib

import numpy as np

DIM = 64


class Hashing:
    name, similarity, dimension, fingerprint = "hashing", "cosine", DIM, "hashing-v1"

    def _encode(self, texts):
        out = np.zeros((len(texts), DIM), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % DIM] += 1
        out[:, 0] += 1e-3  # never the zero vector
        return out

    encode_queries = encode_documents = _encode


def make():
    return Hashing()


def returning(documents=None, queries=None, **attrs):
    r = Hashing()
    if documents is not None:
        r.encode_documents = documents
    if queries is not None:
        r.encode_queries = queries
    for key, value in attrs.items():
        setattr(r, key, value)
    return r


def nan_documents():
    return returning(documents=lambda t: np.full((len(t), DIM), np.nan, np.float32))


def inf_queries():
    return returning(queries=lambda t: np.full((len(t), DIM), np.inf, np.float32))


def flat():
    return returning(documents=lambda t: np.zeros(len(t) * DIM, np.float32))


def one_row_short():
    return returning(documents=lambda t: np.ones((len(t) - 1, DIM), np.float32))


def wider_than_declared():
    return returning(documents=lambda t: np.ones((len(t), DIM + 1), np.float32))


def narrow_queries():
    return returning(queries=lambda t: np.ones((len(t), 8), np.float32), dimension=None)


def integers():
    return returning(documents=lambda t: np.ones((len(t), DIM), np.int64))


def strings():
    return returning(documents=lambda t: [["x"] * DIM for _ in t])


def ragged():
    return returning(documents=lambda t: [[0.5] * (i + 1) for i in range(len(t))])


def nothing_back():
    return returning(documents=lambda t: None)


def euclidean():
    return returning(similarity="euclidean")


def broken():
    raise ValueError("checkpoint path not set")


def not_a_retriever():
    return object()


answer = 42
'''


# -- the outcome of one case ---------------------------------------------------------------------


@dataclass
class Outcome:
    code: Any  # exit status; for a function the exception type (None: it returned)
    text: str  # everything printed (or the exception's message)


# One error line per mistake: the command's, pytest's start-up error, argparse's, or the
# one-line report of a RobustestError met inside a test (or a conftest).
ERROR_LINE = re.compile(r"^(ERROR: (?!usage:)|[\w. -]+: error: |RobustestError: |E\s+robustest\.errors\.RobustestError: )")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ERROR_LINE.match(line)]


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    act: Callable[["Env"], Outcome]
    code: Any
    message: str  # regex the error line (or, for a success, the output) must match
    forbid: tuple[str, ...] = ()  # regexes the output must not match, besides a traceback


CASES: list = []


def add(category: str, name: str, code: Any, message: str, act: Callable[["Env"], Outcome], *, marks=(), forbid=()) -> None:
    CASES.append(pytest.param(Case(category, name, act, code, message, tuple(forbid)), id=f"{category}-{name}", marks=marks))


def xfail(reason: str):
    return pytest.mark.xfail(reason=reason, strict=True)


# -- shared, real inputs -------------------------------------------------------------------------


@dataclass
class Data:
    beir: Path  # small cranfield: 20 queries, 150 documents
    helpers: Path  # folder holding the HELPER module and broken modules
    run: Path  # a real run file (bm25, clean scores and the misspelling family, seeds 1999 and 5)
    run_other_measure: Path  # a real run of the hashing encoder that scored only R@100


@pytest.fixture(scope="module")
def data(small_cranfield, tmp_path_factory) -> Data:
    from robustest.engine.record import run_file
    from robustest.engine.session import RobustestSession
    from robustest.runs import save_run
    from robustest.settings import Settings

    root = tmp_path_factory.mktemp("bad-input")
    helpers = root / "helpers"
    helpers.mkdir()
    (helpers / f"{HELPER}.py").write_text(RETRIEVERS)
    (helpers / "bad_input_syntax.py").write_text("def make(:\n    pass\n")
    (helpers / "bad_input_raises.py").write_text("raise RuntimeError('this module needs a GPU')\n")
    (helpers / "bad_input_needs.py").write_text("import no_such_package_robustest_xyz\n")
    sys.path.insert(0, str(helpers))
    try:
        runs = {}
        for name, retriever, measures in (("run.json", "bm25", ("nDCG@10", "RR@10")), ("hashing.json", f"{HELPER}:make", ("R@100",))):
            settings = Settings(retriever=retriever, dataset=str(small_cranfield), cache_dir=str(root / "cache"), seeds=(1999, 5), measures=measures)
            session = RobustestSession(settings)
            session.clean_evaluation
            if name == "run.json":
                session.checks.run("misspelling")
            runs[name] = save_run(root / name, run_file(session))
    finally:
        sys.path.remove(str(helpers))
    return Data(small_cranfield, helpers, runs["run.json"], runs["hashing.json"])


class Env:
    """One case's folders: inputs under in/ (hashed before and after), outputs under out/, a
    cache of its own, and the working folder pytest runs in."""

    def __init__(self, tmp_path: Path, data: Data, capsys, monkeypatch):
        self.tmp, self.data, self.capsys, self.monkeypatch = tmp_path, data, capsys, monkeypatch
        self.inputs, self.out, self.cache, self.work = (tmp_path / n for n in ("in", "out", "cache", "work"))
        for folder in (self.inputs, self.out, self.work):
            folder.mkdir()
        self.before: dict[str, str] | None = None  # the inputs as the first entry point found them

    # inputs
    def path(self, name: str) -> Path:
        return self.inputs / name

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def folder(self, name: str) -> Path:
        path = self.path(name)
        path.mkdir(parents=True)
        return path

    def beir(self, edit: Callable[[Path], Any] | None = None, name: str = "small-cranfield") -> Path:
        """A copy of the small collection, changed by `edit(folder)`."""
        folder = self.path(name)
        shutil.copytree(self.data.beir, folder)
        if edit is not None:
            edit(folder)
        return folder

    def run_file(self, edit: Callable[[dict], Any] | None = None, *, text: str | bytes | None = None, name: str = "run.json") -> Path:
        """A copy of the real run file, its JSON changed by `edit(run)`, or replaced by `text`."""
        if text is None:
            run = json.loads(self.data.run.read_text())
            if edit is not None:
                edit(run)
            text = json.dumps(run)
        return self.file(name, text)

    def snapshot(self) -> dict[str, str]:
        return {
            str(p.relative_to(self.inputs)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
            for p in sorted(self.inputs.rglob("*"))
        }

    # entry points
    def entering(self) -> None:
        if self.before is None:
            self.before = self.snapshot()

    def cli(self, *argv) -> Outcome:
        self.entering()
        self.capsys.readouterr()
        crash = ""
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
        except Exception:  # noqa: BLE001 - a crash is what the case reports
            code, crash = None, traceback.format_exc()
        captured = self.capsys.readouterr()
        return Outcome(code, captured.out + captured.err + crash)

    def evaluate(self, *argv, dataset: Path | str | None = None, retriever: str = "bm25", cache: Path | str | None = None) -> Outcome:
        dataset = self.data.beir if dataset is None else dataset
        return self.cli("evaluate", f"--retriever={retriever}", f"--robustest-dataset={dataset}", f"--robustest-cache-dir={cache or self.cache}", *argv)

    def pytest(self, *args, files: dict[str, str] | None = None, uses_robustest: bool = False) -> Outcome:
        files = dict(files or {})
        self.entering()
        files.setdefault("test_user.py", "def test_session(robustest_session):\n    pass\n" if uses_robustest else "def test_nothing():\n    pass\n")
        for name, text in files.items():
            (self.work / name).write_text(textwrap.dedent(text))
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        environ.update(HF_HUB_OFFLINE="1", ROBUSTEST_CACHE_DIR=str(self.cache), TQDM_DISABLE="1")
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(self.work), *map(str, args)]
        done = subprocess.run(command, cwd=self.work, env=environ, capture_output=True, text=True, timeout=300)
        return Outcome(done.returncode, done.stdout + done.stderr)

    def call(self, fn: Callable[[], Any]) -> Outcome:
        self.entering()
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - the exception is the outcome
            return Outcome(type(exc), f"{type(exc).__name__}: {exc}")
        return Outcome(None, f"returned {result!r}"[:300])


@pytest.fixture
def env(tmp_path, data, capsys, monkeypatch, irds_home) -> Env:
    """irds_home: a dataset that is not a folder is looked up in ir_datasets, kept in tmp_path."""
    e = Env(tmp_path, data, capsys, monkeypatch)
    monkeypatch.chdir(e.work)
    monkeypatch.setattr(sys, "path", [str(data.helpers), *sys.path])  # restored after the test
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("ROBUSTEST_CACHE_DIR", str(e.cache))
    return e


# -- helpers for editing files -------------------------------------------------------------------


def edit_text(rel: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / rel
        path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")

    return edit


def write(rel: str, content: str | bytes) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / rel).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))

    return edit


def remove(rel: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return edit


def line(rel: str, index: int, change: Callable[[str], str]) -> Callable[[Path], None]:
    def edit_lines(text: str) -> str:
        lines = text.splitlines(keepends=True)
        lines[index] = change(lines[index])
        return "".join(lines)

    return edit_text(rel, edit_lines)


def also(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        for e in edits:
            e(folder)

    return edit


# ================================================================================================
# retriever specs and what retrievers return (`robustest evaluate --retriever=...`)
# ================================================================================================

add("retriever", "nonexistent-path", 2, r"retriever '/nonexistent/model-xyz' not found.*(HF_HUB_OFFLINE|--robustest-allow-download)",
    lambda e: e.evaluate(retriever="/nonexistent/model-xyz"))
add("retriever", "unknown-preset-or-hub-id", 2, r"retriever 'qwen3-embedding-99b' not found.*Hugging Face cache",
    lambda e: e.evaluate(retriever="qwen3-embedding-99b"))
add("retriever", "preset-not-in-cache", 2, r"preset bge-m3 \(BAAI/bge-m3\) at revision main is not in the Hugging Face cache.*--robustest-allow-download",
    lambda e: e.evaluate(retriever="bge-m3@main"))
add("retriever", "empty-revision", 2, r"--retriever=org/model@: write org/model@revision",
    lambda e: e.evaluate(retriever="org/model@"))
add("retriever", "revision-on-default", 2, r"--retriever=default@abc: a revision pins a Hugging Face hub model",
    lambda e: e.evaluate(retriever="default@abc"))
add("retriever", "revision-on-bm25", 2, r"--retriever=bm25@v1: .*bm25 is not a hub model",
    lambda e: e.evaluate(retriever="bm25@v1"))
add("retriever", "folder-without-config", 2, r"is not a model folder: it has no config\.json",
    lambda e: e.evaluate(retriever=e.folder("empty-model")))
add("retriever", "folder-without-weights", 2, r"no-weights is not a complete model folder: it has no weights",
    lambda e: e.evaluate(retriever=e.file("no-weights/config.json", '{"model_type": "bert"}').parent))
add("retriever", "config-not-json", 2, r"config\.json is not readable JSON",
    lambda e: e.evaluate(retriever=e.file("bad-config/config.json", '{"model_type": ').parent))
add("retriever", "two-gguf-files", 2, r"it has 2 \.gguf files \(pass one of them\)",
    lambda e: (e.file("two/a.gguf", b"GGUF"), e.evaluate(retriever=e.file("two/b.gguf", b"GGUF").parent))[1])
add("retriever", "corrupt-gguf", 2, r"model\.gguf is not a complete GGUF file.*corrupt",
    lambda e: e.evaluate(retriever=e.file("gguf/model.gguf", random.Random(0).randbytes(1000))))
add("retriever", "file-not-gguf", 2, r"weights\.txt is a file but not a \.gguf model",
    lambda e: e.evaluate(retriever=e.file("weights.txt", "not a model")))
add("retriever", "remote-code-not-trusted", 2, r"ships its own model code \(auto_map: modeling_x\.XModel\).*--robustest-trust-remote-code",
    lambda e: e.evaluate(retriever=e.file("remote/config.json", '{"model_type": "bert", "auto_map": {"AutoModel": "modeling_x.XModel"}}').parent))
add("retriever", "factory-module-missing", 2, r"cannot import module 'no_such_module_xyz'",
    lambda e: e.evaluate(retriever="no_such_module_xyz:make"))
add("retriever", "factory-missing-dependency", 2, r"cannot import module 'bad_input_needs' \(No module named 'no_such_package_robustest_xyz'\)",
    lambda e: e.evaluate(retriever="bad_input_needs:make"))
add("retriever", "factory-module-syntax-error", 2, r"importing module 'bad_input_syntax' raised SyntaxError at .*bad_input_syntax\.py:1",
    lambda e: e.evaluate(retriever="bad_input_syntax:make"))
add("retriever", "factory-module-raises-on-import", 2, r"importing module 'bad_input_raises' raised RuntimeError.*needs a GPU",
    lambda e: e.evaluate(retriever="bad_input_raises:make"))
add("retriever", "factory-attribute-missing", 2, rf"module '{HELPER}' has no attribute 'missing'",
    lambda e: e.evaluate(retriever=f"{HELPER}:missing"))
add("retriever", "factory-name-empty", 2, r"write module:factory",
    lambda e: e.evaluate(retriever=f"{HELPER}:"))
add("retriever", "factory-raises", 2, r"broken\(\) raised ValueError: checkpoint path not set",
    lambda e: e.evaluate(retriever=f"{HELPER}:broken"))
add("retriever", "factory-not-callable", 2, r"answer\(\) raised TypeError: 'int' object is not callable",
    lambda e: e.evaluate(retriever=f"{HELPER}:answer"))
add("retriever", "factory-returns-wrong-object", 2, r"returned object, which lacks name, similarity, .*encode_documents",
    lambda e: e.evaluate(retriever=f"{HELPER}:not_a_retriever"))
add("retriever", "similarity-unknown", 2, r"similarity='euclidean' is not one of cosine, dot",
    lambda e: e.evaluate(retriever=f"{HELPER}:euclidean"))
add("retriever", "returns-nan", 2, r"encode_documents returned NaN in row 0 of 150 \(document '\w+'\)",
    lambda e: e.evaluate(retriever=f"{HELPER}:nan_documents"))
add("retriever", "returns-infinity", 2, r"encode_queries returned infinity in row 0 of 20",
    lambda e: e.evaluate(retriever=f"{HELPER}:inf_queries"))
add("retriever", "returns-1d-array", 2, r"encode_documents returned shape \(9600,\) for 150 documents.*2-D array",
    lambda e: e.evaluate(retriever=f"{HELPER}:flat"))
add("retriever", "returns-too-few-rows", 2, r"encode_documents returned 149 rows for 150 documents",
    lambda e: e.evaluate(retriever=f"{HELPER}:one_row_short"))
add("retriever", "returns-undeclared-width", 2, r"vectors of dimension 65, but its dimension says 64",
    lambda e: e.evaluate(retriever=f"{HELPER}:wider_than_declared"))
add("retriever", "query-width-differs-from-corpus", 2, r"encode_queries returned vectors of dimension 8, but the corpus vectors have dimension 64",
    lambda e: e.evaluate(retriever=f"{HELPER}:narrow_queries"))
add("retriever", "returns-integers", 2, r"ndarray of dtype int64; it must return floating-point vectors",
    lambda e: e.evaluate(retriever=f"{HELPER}:integers"))
add("retriever", "returns-strings", 2, r"list of dtype <U1; it must return floating-point vectors",
    lambda e: e.evaluate(retriever=f"{HELPER}:strings"))
add("retriever", "returns-ragged-rows", 2, r"returned a list that is not an array.*one vector per text, all of one length",
    lambda e: e.evaluate(retriever=f"{HELPER}:ragged"))
add("retriever", "returns-none", 2, r"encode_documents returned NoneType",
    lambda e: e.evaluate(retriever=f"{HELPER}:nothing_back"))
add("retriever", "plugin-unknown-retriever", 4, r"^ERROR: retriever 'no-such-model-xyz' not found",
    lambda e: e.pytest("--retriever=no-such-model-xyz", f"--robustest-dataset={e.data.beir}", uses_robustest=True))
add("retriever", "plugin-factory-returns-wrong-object", 4, r"^ERROR: --retriever=half:make returned object, which lacks",
    lambda e: e.pytest("--retriever=half:make", f"--robustest-dataset={e.data.beir}", uses_robustest=True,
                       files={"half.py": "def make():\n    return object()\n"}))


# ================================================================================================
# dataset files (`robustest evaluate --robustest-dataset=...`; the copies under in/ must not change)
# ================================================================================================

CORPUS, QUERIES, QRELS = "corpus.jsonl", "queries.jsonl", "qrels/test.tsv"


def dataset_case(name: str, message: str, edit: Callable[[Path], Any], *, marks=()) -> None:
    add("dataset", name, 2, message, lambda e: e.evaluate(dataset=e.beir(edit)), marks=marks)


add("dataset", "missing-folder", 2, r"dataset '.*/in/nope' not found: no folder at .*BEIR folder",
    lambda e: e.evaluate(dataset=e.path("nope")))
add("dataset", "a-file-not-a-folder", 2, r"BEIR folder .*notes\.txt is a file, not a folder",
    lambda e: e.evaluate(dataset=e.file("notes.txt", "hello")))
dataset_case("missing-corpus", r"missing file .*/corpus\.jsonl: a BEIR folder needs", remove(CORPUS))
dataset_case("missing-queries", r"missing file .*/queries\.jsonl: a BEIR folder needs", remove(QUERIES))
dataset_case("missing-qrels-folder", r"missing folder .*/qrels: a BEIR folder needs .*add qrels/test\.tsv", remove("qrels"))
dataset_case("qrels-folder-empty", r"missing file .*/qrels/test\.tsv: .*holds no <split>\.tsv files", remove(QRELS))
dataset_case("corpus-is-a-folder", r"missing file .*/corpus\.jsonl", also(remove(CORPUS), lambda d: (d / CORPUS).mkdir()))
dataset_case("qrels-is-a-file", r"missing folder .*/qrels", also(remove("qrels"), write("qrels", "1\t2\t1\n")))
dataset_case("invalid-json-line", r"corpus\.jsonl:4: malformed JSON", line(CORPUS, 3, lambda s: s[:-5] + "\n"))
dataset_case("json-array-line", r"queries\.jsonl:1: expected a JSON object, got list", edit_text(QUERIES, lambda s: "[1, 2]\n" + s))
dataset_case("json-too-deep", r"corpus\.jsonl:1: JSON nested too deeply", edit_text(CORPUS, lambda s: '{"_id": "z", "text": ' + "[" * 100_000 + "]" * 100_000 + "}\n" + s))
dataset_case("duplicate-document-id", r"corpus\.jsonl:151: duplicate _id '\w+' \(first on line 1\)", edit_text(CORPUS, lambda s: s + s.splitlines(keepends=True)[0]))
dataset_case("duplicate-query-id", r"queries\.jsonl:\d+: duplicate _id '1' \(first on line 1\)", edit_text(QUERIES, lambda s: s + s.splitlines(keepends=True)[0]))
dataset_case("qrels-unknown-document", r"qrels/test\.tsv:\d+: unknown corpus-id 'no-such-doc', not in corpus\.jsonl", edit_text(QRELS, lambda s: s + "1\tno-such-doc\t1\n"))
dataset_case("qrels-unknown-query", r"qrels/test\.tsv:\d+: unknown query-id 'no-such-query', not in queries\.jsonl", edit_text(QRELS, lambda s: s + "no-such-query\t184\t1\n"))
dataset_case("empty-corpus", r"corpus\.jsonl has no documents", write(CORPUS, ""))
dataset_case("empty-queries", r"qrels/test\.tsv:2: unknown query-id '1', not in queries\.jsonl \(\d+ lines name unknown", write(QUERIES, ""))
dataset_case("empty-qrels", r"qrels/test\.tsv judges none of the queries", write(QRELS, ""))
dataset_case("qrels-header-only", r"qrels/test\.tsv judges none of the queries", write(QRELS, "query-id\tcorpus-id\tscore\n"))
dataset_case("not-utf8", r"corpus\.jsonl:1: not valid utf-8 \(invalid continuation byte", lambda d: (d / CORPUS).write_bytes((d / CORPUS).read_bytes().replace(b'"text": "', b'"text": "caf\xe9 ', 1)))
dataset_case("utf16-file", r"queries\.jsonl:1: not valid utf-8", lambda d: (d / QUERIES).write_bytes((d / QUERIES).read_text().encode("utf-16")))
dataset_case("bom-inside-the-file", r"queries\.jsonl:2: malformed JSON \(Unexpected UTF-8 BOM", line(QUERIES, 1, lambda s: "\ufeff" + s))
dataset_case("unpaired-surrogate", r"queries\.jsonl:1: field \"text\" holds an unpaired surrogate \\ud800", line(QUERIES, 0, lambda s: s.replace('"text": "', '"text": "\\ud800', 1)))
dataset_case("trec-qrels-four-columns", r"qrels/test\.tsv:2: expected 3 tab-separated columns .* got 4; BEIR qrels are not TREC qrels", edit_text(QRELS, lambda s: "".join(l.replace("\t", "\t0\t", 1) if i else l for i, l in enumerate(s.splitlines(keepends=True)))))
dataset_case("qrels-space-separated", r"qrels/test\.tsv:1: expected 3 tab-separated columns .* got 1", edit_text(QRELS, lambda s: s.replace("\t", " ")))
dataset_case("qrels-wrong-header-two-columns", r"qrels/test\.tsv:1: expected 3 tab-separated columns .* got 2", line(QRELS, 0, lambda s: "query-id\tcorpus-id\n"))
dataset_case("qrels-score-not-integer", r"qrels/test\.tsv:\d+: score '0\.5' is not an integer", edit_text(QRELS, lambda s: s + "1\t184\t0.5\n"))
dataset_case("qrels-score-out-of-range", r"qrels/test\.tsv:\d+: score '99999999999999999999' is out of range", edit_text(QRELS, lambda s: s + "1\t184\t99999999999999999999\n"))
dataset_case("missing-id", r"corpus\.jsonl:1: missing field \"_id\"", edit_text(CORPUS, lambda s: '{"text": "x"}\n' + s))
dataset_case("missing-text", r"queries\.jsonl:1: missing field \"text\"", edit_text(QUERIES, lambda s: '{"_id": "q0"}\n' + s))
dataset_case("id-is-a-list", r"corpus\.jsonl:1: field \"_id\" must be a string or integer, got list", edit_text(CORPUS, lambda s: '{"_id": [1], "text": "x"}\n' + s))
dataset_case("id-is-true", r"corpus\.jsonl:1: field \"_id\" must be a string or integer, got bool", edit_text(CORPUS, lambda s: '{"_id": true, "text": "x"}\n' + s))
dataset_case("id-empty", r"queries\.jsonl:1: field \"_id\" is empty", edit_text(QUERIES, lambda s: '{"_id": "", "text": "x"}\n' + s))
dataset_case("text-is-a-number", r"queries\.jsonl:1: field \"text\" must be a string, got int", edit_text(QUERIES, lambda s: '{"_id": "q0", "text": 5}\n' + s))
dataset_case("text-is-null", r"corpus\.jsonl:1: field \"text\" must be a string, got NoneType", edit_text(CORPUS, lambda s: '{"_id": "z", "text": null}\n' + s))
dataset_case("title-is-nan", r"corpus\.jsonl:1: field \"title\" must be a string, got float", edit_text(CORPUS, lambda s: '{"_id": "z", "text": "x", "title": NaN}\n' + s))
dataset_case("nul-bytes", r"corpus\.jsonl:1: malformed JSON", edit_text(CORPUS, lambda s: "\x00\x00\n" + s))
add("dataset", "split-without-qrels", 2, r"missing file .*/qrels/dev\.tsv: no split 'dev' in .*pass one of the splits it has: test",
    lambda e: e.evaluate("--robustest-split=dev", dataset=e.beir()))
add("dataset", "plugin-invalid-json-line", 4, r"^ERROR: .*corpus\.jsonl:4: malformed JSON",
    lambda e: e.pytest("--retriever=bm25", f"--robustest-dataset={e.beir(line(CORPUS, 3, lambda s: s[:-5] + chr(10)))}", uses_robustest=True))
add("dataset", "plugin-missing-folder", 4, r"^ERROR: dataset '.*/in/nope' not found",
    lambda e: e.pytest("--retriever=bm25", f"--robustest-dataset={e.path('nope')}", uses_robustest=True))
add("dataset", "plugin-unknown-query-in-qrels", 4, r"^ERROR: .*qrels/test\.tsv:\d+: unknown query-id 'ghost'",
    lambda e: e.pytest("--retriever=bm25", f"--robustest-dataset={e.beir(edit_text(QRELS, lambda s: s + 'ghost' + chr(9) + '184' + chr(9) + '1' + chr(10)))}", uses_robustest=True))


# ================================================================================================
# options, ini keys and [tool.robustest] in pyproject.toml (pytest start-up: exit 4)
# ================================================================================================

# One bad value for every option that parses its value; the message must name the option and
# the value. test_every_option_has_a_bad_value_case keeps this table complete.
BAD_VALUES = {  # option -> (bad value, what the one error line must say)
    "device": ("gpu7", r"--robustest-device: 'gpu7' is not a device"),
    "dataset_fields": ("doc=docid", r"--robustest-dataset-fields: unknown key 'doc'; the known keys are id, title, text"),
    "dtype": ("float64", r"--robustest-dtype: 'float64' is not one of auto, float32"),
    "batch_size": ("0", r"--robustest-batch-size: '0' must be at least 1"),
    "pooling": ("avg", r"--robustest-pooling: 'avg' is not one of mean, cls"),
    "max_length": ("-5", r"--robustest-max-length: '-5' must be at least 1"),
    "max_queries": ("0", r"--robustest-max-queries: '0' must be at least 1"),
    "top_k": ("ten", r"--robustest-top-k: 'ten' is not a whole number"),
    "measures": ("nDCG@ten", r"--robustest-measures: measure 'nDCG@ten' is not an ir-measures measure"),
    "exclude_self_matches": ("maybe", r"--robustest-exclude-self-matches: 'maybe' is not true/false"),
    "effectiveness_floor": ("high", r"--robustest-effectiveness-floor: 'high' is not a number"),
    "seeds": ("1999,1999", r"--robustest-seeds: seed 1999 given twice"),
    "thresholds": ("misspelling=20", r"--robustest-thresholds: misspelling: '20' looks like a percentage"),
    "worst_case_thresholds": ("misspelling=40", r"--robustest-worst-case-thresholds: misspelling: '40' looks like a percentage"),
    "family_set": ("misspelling.k", r"--robustest-family-set: 'misspelling\.k': write FAMILY\.KEY=VALUE"),
    "inconclusive": ("maybe", r"--robustest-inconclusive: 'maybe' is not one of pass, fail"),
    "not_judged": ("pass", r"--robustest-not-judged: 'pass' is not one of skip, fail"),
    "properties": ("lenient", r"--robustest-properties: 'lenient' is not one of report, strict"),
    "synonym_guard": ("1.5", r"--robustest-synonym-guard: '1\.5' is not a cosine"),
    "paraphrase_guard": ("high", r"--robustest-paraphrase-guard: 'high' is not a cosine"),
    "paraphrase_decoding": ("beam", r"--robustest-paraphrase-decoding: 'beam' is not one of greedy, sample"),
    "poison_passages": ("0", r"--robustest-poison-passages: '0': give one or more positive numbers"),
    "poison_length": ("0", r"--robustest-poison-length: '0' must be at least 1"),
    "poison_iterations": ("-1", r"--robustest-poison-iterations: '-1' must be 0 or more"),
    "poison_pool": ("0", r"--robustest-poison-pool: '0' must be at least 1"),
    "poison_seeds": ("x", r"--robustest-poison-seeds: 'x' is not a list of whole numbers"),
    "poison_threshold": ("150", r"--robustest-poison-threshold: '150'"),
    "regression_tolerance": ("150%", r"--robustest-regression-tolerance: '150%' must be at least 0 and below 1"),
    "geometry_sample": ("0", r"--robustest-geometry-sample: '0' must be at least 1"),
    "geometry_max_average_cosine": ("abc", r"--robustest-geometry-max-average-cosine: 'abc' is not a number"),
    "geometry_min_isoscore": ("high", r"--robustest-geometry-min-isoscore: 'high' is not a number"),
    "threads": ("0", r"--robustest-threads: '0' must be at least 1"),
    "index": ("annoy", r"--robustest-index: 'annoy' is not an index kind; use flat"),
    "index_shards": ("0", r"--robustest-index-shards: '0' must be at least 1"),
    "query_prompt": ("Instruct: {taks} Query: ", r"--robustest-query-prompt: .* has the placeholder \{taks\}; the only one is \{task\}"),
    "doc_prompt": ("{passage}: ", r"--robustest-doc-prompt: .* has the placeholder \{passage\}; the only one is \{task\}"),
    "instruction": ("Given a {query}, retrieve", r"--robustest-instruction: .* has the placeholder \{query\}"),
    "per_query": ("queries.xlsx", r"--robustest-per-query: 'queries\.xlsx' is not a \.parquet or \.csv file"),
}
FLAGS = [name for name, _, option in options() if option.flag]


def option(name: str) -> str:
    return "--retriever" if name == "retriever" else "--robustest-" + name.replace("_", "-")


for name, (value, message) in BAD_VALUES.items():
    add("option", f"cli-{name}", 4, r"^python -m pytest: error: argument " + message, lambda e, name=name, value=value: e.pytest(f"{option(name)}={value}"))
for name in FLAGS:  # a switch on the command line takes no value; in an ini file it must be true/false
    add("option", f"ini-{name}", 4, rf"^ERROR: ini key robustest_{name} = 'perhaps': 'perhaps' is not true/false",
        lambda e, name=name: e.pytest(files={"pytest.ini": f"[pytest]\nrobustest_{name} = perhaps\n"}))
add("option", "ini-top-k-zero", 4, r"^ERROR: ini key robustest_top_k = '0': '0' must be at least 1",
    lambda e: e.pytest(files={"pytest.ini": "[pytest]\nrobustest_top_k = 0\n"}))
add("option", "ini-measures-unknown", 4, r"^ERROR: ini key robustest_measures = 'nDCG@10,MAP@ten'",
    lambda e: e.pytest(files={"tox.ini": "[pytest]\nrobustest_measures = nDCG@10,MAP@ten\n"}))
add("option", "pyproject-ini-options-max-queries", 4, r"^ERROR: ini key robustest_max_queries = '-1': '-1' must be at least 1",
    lambda e: e.pytest(files={"pyproject.toml": '[tool.pytest.ini_options]\nrobustest_max_queries = "-1"\n'}))
add("option", "ini-seeds-twice", 4, r"^ERROR: ini key robustest_seeds = '1999,5,1999': seed 1999 given twice",
    lambda e: e.pytest(files={"pytest.ini": "[pytest]\nrobustest_seeds = 1999,5,1999\n"}))
add("option", "ini-thresholds-unknown-family", 4, r"^ERROR: 'mispelling' in --robustest-thresholds \(or the ini key robustest_thresholds\) names no registered family \(misspelling, .*register_family",
    lambda e: e.pytest(files={"pytest.ini": "[pytest]\nrobustest_thresholds = mispelling=0.2\n"}))
add("option", "ini-thresholds-unknown-family-with-a-robustest-option", 4, r"^ERROR: 'mispelling' in --robustest-thresholds \(or the ini key robustest_thresholds\) names no registered family \(misspelling, ",
    lambda e: e.pytest("--retriever=bm25", f"--robustest-dataset={e.data.beir}", files={"pytest.ini": "[pytest]\nrobustest_thresholds = mispelling=0.2\n"}))
add("option", "top-k-below-measure-cutoff", 4, r"^ERROR: --robustest-top-k=50 retrieves fewer documents than R@100",
    lambda e: e.pytest("--robustest-top-k=50"))
add("option", "floor-on-unmeasured-measure", 4, r"^ERROR: --robustest-effectiveness-floor names nDCG@100, which is not measured",
    lambda e: e.pytest("--robustest-effectiveness-floor=nDCG@100:0.3"))
add("option", "baseline-and-compare-to", 4, r"^ERROR: --robustest-baseline and --robustest-compare-to both name a reference",
    lambda e: e.pytest(f"--robustest-baseline={e.run_file()}", "--robustest-compare-to=bm25"))
add("option", "update-baseline-without-baseline", 4, r"^ERROR: --robustest-update-baseline replaces the --robustest-baseline file",
    lambda e: e.pytest("--robustest-update-baseline"))
add("option", "family-set-unknown-key", 4, r"^ERROR: \[tool\.robustest\.misspelling\]: unknown key 'kk'",
    lambda e: e.pytest("--robustest-family-set=misspelling.kk=3"))
add("option", "family-set-unknown-family", 4, r"^ERROR: 'mispelling' in --robustest-family-set \(or the ini key robustest_family_set\) names no registered family \(misspelling, ",
    lambda e: e.pytest("--robustest-family-set=mispelling.k=3"))
add("option", "family-set-confidence", 4, r"^ERROR: \[tool\.robustest\.reordering\]: confidence = '1\.5': '1\.5' must be between 0 and 1",
    lambda e: e.pytest("--robustest-family-set=reordering.confidence=1.5"))
add("option", "cli-evaluate-top-k-zero", 2, r"^robustest evaluate: error: argument --robustest-top-k/--top-k: '0' must be at least 1; see robustest evaluate --help$",
    lambda e: e.evaluate("--top-k=0"))
add("option", "cli-evaluate-device", 2, r"^robustest evaluate: error: argument --robustest-device/--device: 'tpu' is not a device",
    lambda e: e.evaluate("--robustest-device=tpu"))
add("option", "cli-evaluate-unknown-option", 2, r"^robustest: error: unrecognized arguments: --robustest-colour=red; see robustest --help$",
    lambda e: e.evaluate("--robustest-colour=red"))
add("option", "cli-evaluate-thresholds-unknown-family", 2, r"^robustest: error: --robustest-thresholds: 'nosuch' is not a family",
    lambda e: e.evaluate("--robustest-thresholds=nosuch=0.1"))
add("option", "cli-evaluate-family-set", 2, r"^robustest: error: \[tool\.robustest\.misspelling\]: k = '0': '0' must be at least 1",
    lambda e: e.evaluate("--family-set=misspelling.k=0"))
add("option", "cli-unknown-command", 2, r"^robustest: error: argument command: invalid choice: 'evalute'",
    lambda e: e.cli("evalute"))


def pyproject_case(name: str, toml: str, message: str, *, marks=()) -> None:
    add("option", f"pyproject-{name}", 4, message, lambda e: e.pytest(files={"pyproject.toml": toml}), marks=marks)


pyproject_case("threshold-as-percentage", "[tool.robustest]\nthreshold = 20\n", r"^ERROR: \[tool\.robustest\]: threshold = 20: 20 looks like a percentage: write 0\.20")
pyproject_case("threshold-negative", "[tool.robustest]\nthreshold = -1\n", r"^ERROR: \[tool\.robustest\]: threshold = -1: .*share in \(0, 1\]")
pyproject_case("threshold-true", "[tool.robustest]\nthreshold = true\n", r"^ERROR: \[tool\.robustest\]: threshold = True: True is not a number")
pyproject_case("seeds-a-string", '[tool.robustest]\nseeds = "1999"\n', r"^ERROR: \[tool\.robustest\]: seeds = '1999': '1999' is not a list; write seeds = \[1999, 5, 27\]")
pyproject_case("seeds-twice", "[tool.robustest]\nseeds = [1999, 5, 1999]\n", r"^ERROR: \[tool\.robustest\]: seeds = \[1999, 5, 1999\]: seed 1999 given twice")
pyproject_case("seeds-empty", "[tool.robustest]\nseeds = []\n", r"^ERROR: \[tool\.robustest\]: seeds = \[\]: no seed given")
pyproject_case("seeds-fractional", "[tool.robustest]\nseeds = [1.5]\n", r"^ERROR: \[tool\.robustest\]: seeds = \[1\.5\]: .*not a list of whole numbers")
pyproject_case("unknown-key", "[tool.robustest]\ntresholds = 0.1\n", r"^ERROR: \[tool\.robustest\] has unknown key\(s\) tresholds; use threshold")
pyproject_case("family-name-as-a-key", "[tool.robustest]\nmisspelling = 0.2\n", r"^ERROR: \[tool\.robustest\] has unknown key\(s\) misspelling")
pyproject_case("unknown-family-table", "[tool.robustest.mispelling]\nk = 20\n", r"^ERROR: \[tool\.robustest\.mispelling\] in .*pyproject\.toml names no registered family \(misspelling, .*register_family")
pyproject_case("k-zero", "[tool.robustest.misspelling]\nk = 0\n", r"^ERROR: \[tool\.robustest\.misspelling\]: k = 0: 0 must be at least 1")
pyproject_case("k-a-string", '[tool.robustest.misspelling]\nk = "ten"\n', r"^ERROR: \[tool\.robustest\.misspelling\]: k = 'ten': 'ten' is not a whole number")
pyproject_case("k-fractional", "[tool.robustest.reordering]\nk = 2.5\n", r"^ERROR: \[tool\.robustest\.reordering\]: k = 2\.5: 2\.5 is not a whole number")
pyproject_case("confidence-above-one", "[tool.robustest.misspelling]\nconfidence = 1.5\n", r"^ERROR: \[tool\.robustest\.misspelling\]: confidence = 1\.5: 1\.5 must be between 0 and 1")
pyproject_case("max-edits-zero", "[tool.robustest.case]\nmax_edits = 0\n", r"^ERROR: \[tool\.robustest\.case\]: max_edits = 0: 0 must be at least 1")
pyproject_case("min-queries-zero", "[tool.robustest.whitespace]\nmin_queries = 0\n", r"^ERROR: \[tool\.robustest\.whitespace\]: min_queries = 0: 0 must be at least 1")
pyproject_case("family-unknown-key", '[tool.robustest.misspelling]\nmesure = "RR@10"\n', r"^ERROR: \[tool\.robustest\.misspelling\]: unknown key 'mesure'; use threshold, measure")
pyproject_case("measure-a-number", "[tool.robustest.misspelling]\nmeasure = 5\n", r"^ERROR: \[tool\.robustest\.misspelling\]: measure = 5: 5 is not a measure name")
pyproject_case(
    "measure-unknown", '[tool.robustest.misspelling]\nmeasure = "nDCG@ten"\n', r"^ERROR: \[tool\.robustest\.misspelling\]: measure = 'nDCG@ten'",
)
pyproject_case("poisoning-passages-zero", "[tool.robustest.poisoning]\npassages = [0]\n", r"^ERROR: \[tool\.robustest\.poisoning\]: passages = \[0\] must be one or more positive numbers")
pyproject_case("poisoning-unknown-attack", '[tool.robustest.poisoning]\nattacks = ["hotflip", "nope"]\n', r"^ERROR: \[tool\.robustest\.poisoning\]: attacks names unknown attack\(s\) nope")
pyproject_case("poisoning-train-fraction", "[tool.robustest.poisoning]\ntrain_fraction = 1.5\n", r"^ERROR: \[tool\.robustest\.poisoning\]: train_fraction = 1\.5")
pyproject_case("poisoning-iterations-negative", "[tool.robustest.poisoning]\niterations = -1\n", r"^ERROR: \[tool\.robustest\.poisoning\]: iterations = -1")
pyproject_case("malformed-toml", "[tool.robustest\nthreshold = 0.2\n", r"^ERROR: .*pyproject\.toml: .*line 1")


# ================================================================================================
# run files: report, analyze and baselines (the run files under in/ must not change)
# ================================================================================================


def report(e: Env, run: Path, *more) -> Outcome:
    return e.cli("report", run, "--html", e.out / "report.html", *more)


def damaged_run(name: str, message: str, edit: Callable[[dict], Any] | None = None, *, text=None) -> None:
    add("run-file", name, 2, rf"^robustest: error: .*{message}", lambda e: report(e, e.run_file(edit, text=text)))


def set_key(key: str, value: Any) -> Callable[[dict], None]:
    return lambda run: run.__setitem__(key, value)


def family(change: Callable[[dict], None]) -> Callable[[dict], None]:
    return lambda run: change(run["families"]["misspelling"])


add("run-file", "missing", 2, r"^robustest: error: run file .*/in/nope\.json does not exist; save one with --robustest-save",
    lambda e: report(e, e.path("nope.json")))
add("run-file", "a-folder-without-runs", 2, r"^robustest: error: .*/in/runs holds no run files \(\*\.json\); pass run files",
    lambda e: report(e, e.folder("runs")))
damaged_run("truncated", r"run file .*run\.json is not valid JSON .*truncated", text=json.dumps({"schema": 2, "retriever": {"name": "x" * 50}})[:40])
damaged_run("empty", r"run file .*run\.json is not valid JSON \(line 1, column 1", text="")
damaged_run("not-json", r"run file .*run\.json is not valid JSON", text="schema: 2\n")
damaged_run("json-array", r"run\.json is not a robustest run file \(no schema field\)", text="[1, 2, 3]")
damaged_run("json-too-deep", r"run file .*run\.json is JSON nested too deeply", text="[" * 100_000 + "]" * 100_000)
damaged_run("not-utf8", r"run file .*run\.json cannot be read \(.*can't decode byte 0xe9", text=b'{"schema": 2, "name": "caf\xe9"}')
damaged_run("no-schema", r"run\.json is not a robustest run file \(no schema field\)", lambda run: run.pop("schema"))
damaged_run("old-schema", r"run\.json has schema 1, .*save the baseline again", set_key("schema", 1))
damaged_run("future-schema", r"run\.json has schema 99, .*upgrade robustest", set_key("schema", 99))
damaged_run("schema-a-string", r"run\.json has schema '2', not a version number: it is damaged", set_key("schema", "2"))
damaged_run("no-families", r"run\.json lacks families: it is damaged", lambda run: run.pop("families"))
damaged_run("families-a-list", r"run\.json: families is a list, not an object: it is damaged", set_key("families", []))
damaged_run("family-a-number", r"run\.json: family misspelling is a number, not an object", set_key("families", {"misspelling": 3}))
damaged_run("family-lacks-keys", r"run\.json: family misspelling lacks seeds, clean", family(lambda f: (f.pop("seeds"), f.pop("clean"))))
damaged_run("variants-of-a-seed-a-list", r"family misspelling variants of seed 1999 is a list, not an object", family(lambda f: f["variants"].__setitem__("1999", [])))
damaged_run("variant-without-text", r"family misspelling variant of query \w+ \(seed 5\) is not an object with a text",
            family(lambda f: next(iter(f["variants"]["5"].values())).pop("text")))
damaged_run("dataset-a-string", r"run\.json: dataset is a string, not an object", set_key("dataset", "cranfield"))
damaged_run("retriever-null", r"run\.json: retriever is null, not an object", set_key("retriever", None))
damaged_run("per-query-a-list", r"run\.json: per_query is a list, not an object", set_key("per_query", [1]))
damaged_run("per-query-measure-a-string", r"run\.json: per_query nDCG@10 is a string, not an object", lambda run: run["per_query"].__setitem__("nDCG@10", "x"))
damaged_run("effectiveness-a-string", r"run\.json: effectiveness is a string, not an object", set_key("effectiveness", "high"))
damaged_run("effectiveness-value-a-string", r"run\.json: effectiveness nDCG@10 is a string, not a number", lambda run: run["effectiveness"].__setitem__("nDCG@10", "0.3"))
damaged_run("gates-an-object", r"run\.json: gates is an object, not a list", set_key("gates", {}))
damaged_run("gate-a-number", r"run\.json: gate 1 is a number, not an object", set_key("gates", [1]))
add("run-file", "baseline-of-another-dataset", 2, r"^robustest: error: the baseline .*run\.json was measured on small-cranfield \[test\] with 20 queries, this run on small-cranfield \[test\] with 5 queries",
    lambda e: e.evaluate("--robustest-max-queries=5", f"--robustest-baseline={e.run_file()}"))
add("run-file", "baseline-damaged", 2, r"^robustest: error: run file .*base\.json is not valid JSON",
    lambda e: e.evaluate(f"--robustest-baseline={e.run_file(text='{', name='base.json')}"))
add("run-file", "save-onto-its-baseline", 2, r"^robustest: error: --robustest-save=.*run\.json is the baseline this run is gated against",
    lambda e: e.evaluate(f"--robustest-baseline={e.run_file()}", f"--robustest-save={e.path('run.json')}"))
add("run-file", "save-onto-its-baseline-by-another-path", 2, r"^robustest: error: --robustest-save=.*\.\./in/run\.json is the baseline",
    lambda e: e.evaluate(f"--robustest-baseline={e.run_file()}", "--robustest-save=../in/run.json"))
add("run-file", "plugin-save-onto-its-baseline", 4, r"^ERROR: --robustest-save=.*run\.json is the baseline this run is gated against",
    lambda e: e.pytest(f"--robustest-baseline={e.run_file()}", f"--robustest-save={e.path('run.json')}"))
add("run-file", "plugin-baseline-truncated", 4, r"^ERROR: run file .*run\.json is not valid JSON",
    lambda e: e.pytest("--retriever=bm25", f"--robustest-dataset={e.data.beir}", f"--robustest-baseline={e.run_file(text=e.data.run.read_text()[:500])}", uses_robustest=True))
add("run-file", "plugin-baseline-of-another-dataset", 4, r"^ERROR: the baseline .*run\.json was measured on small-cranfield \[test\] with 20 queries, this run on .* with 5 queries",
    lambda e: e.pytest("--retriever=bm25", f"--robustest-dataset={e.data.beir}", "--robustest-max-queries=5", f"--robustest-baseline={e.run_file()}", uses_robustest=True))
add("run-file", "plugin-baseline-without-common-seeds", 1, r"^RobustestError: the baseline .*run\.json ran misspelling with seeds 1999, 5, this run asks for 7: no seed in common",
    lambda e: e.pytest("--retriever=bm25", f"--robustest-dataset={e.data.beir}", "--robustest-seeds=7", f"--robustest-baseline={e.run_file()}",
                       files={"test_user.py": "def test_gate(robustness):\n    robustness.gate('misspelling')\n"}))


def trec_case(name: str, message: str, content: bytes | None) -> None:
    def act(e: Env) -> Outcome:
        path = e.path("run.trec") if content is None else e.file("run.trec", content)
        return e.call(lambda: read_trec_run(path))

    add("run-file", f"trec-{name}", RobustestError, message, act)


trec_case("missing", r"cannot read the TREC run .*run\.trec \(No such file", None)
trec_case("five-columns", r"run\.trec, line 2: not a TREC run line", b"1 Q0 d1 1 0.5 tag\n1 Q0 d2 2 0.4\n")
trec_case("rank-not-a-number", r"run\.trec, line 1: not a TREC run line", b"1 Q0 d1 first 0.5 tag\n")
trec_case("not-utf8", r"the TREC run .*run\.trec is not utf-8", b"1 Q0 caf\xe9 1 0.5 tag\n")


# ================================================================================================
# report, analyze, init and the outputs of a run (folders in the way must not change)
# ================================================================================================

add("output", "report-into-missing-folder", 2, r"^robustest: error: cannot write the HTML report .*/nope/r\.html: .*/nope does not exist",
    lambda e: e.cli("report", e.data.run, "--html", e.out / "nope" / "r.html"))
add("output", "report-onto-a-folder", 2, r"^robustest: error: cannot write .*/in/taken \(Is a directory\)",
    lambda e: e.cli("report", e.data.run, "--html", e.folder("taken")))
add("output", "report-under-a-file", 2, r"^robustest: error: cannot write the HTML report .*/in/notes\.txt/r\.html: .*notes\.txt is a file, not a folder",
    lambda e: e.cli("report", e.data.run, "--html", e.file("notes.txt", "mine") / "r.html"))
add("output", "report-baseline-missing", 2, r"^robustest: error: run file .*/in/base\.json does not exist",
    lambda e: e.cli("report", e.data.run, "--html", e.out / "r.html", "--baseline", e.path("base.json")))
add("output", "report-baseline-damaged", 2, r"^robustest: error: run file .*/in/base\.json lacks retriever",
    lambda e: e.cli("report", e.data.run, "--html", e.out / "r.html", "--baseline", e.run_file(lambda r: r.pop("retriever"), name="base.json")))
add("output", "report-without-html", 2, r"^robustest: error: robustest report writes --html OUT\.html, --per-query OUT\.parquet or both",
    lambda e: e.cli("report", e.data.run))
add("output", "report-per-query-as-excel", 2, r"^robustest report: error: argument --per-query: 'q\.xlsx' is not a \.parquet or \.csv file",
    lambda e: e.cli("report", e.data.run, "--per-query", "q.xlsx"))
add("output", "report-per-query-into-missing-folder", 2, r"^robustest: error: cannot write .*/nope/q\.parquet \(No such file or directory\)",
    lambda e: e.cli("report", e.data.run, "--per-query", e.out / "nope" / "q.parquet"))
add("output", "report-series-with-baseline", 2, r"^robustest: error: robustest report got 2 runs: a checkpoint series is one --html page; --per-query and --baseline take one run",
    lambda e: e.cli("report", e.data.run, e.data.run, "--html", e.out / "r.html", "--baseline", e.data.run))
add("output", "analyze-no-runs", 2, r"^robustest analyze: error: the following arguments are required: RUN",
    lambda e: e.cli("analyze"))
add("output", "analyze-run-missing", 2, r"^robustest: error: run file .*/in/nope\.json does not exist",
    lambda e: e.cli("analyze", e.path("nope.json"), "--out", e.out / "a"))
add("output", "analyze-run-damaged", 2, r"^robustest: error: run file .*run\.json: per_query nDCG@10 is a string",
    lambda e: e.cli("analyze", e.run_file(lambda r: r["per_query"].__setitem__("nDCG@10", "x")), "--out", e.out / "a"))
add("output", "analyze-out-is-a-file", 2, r"^robustest: error: cannot create output folder .*/in/out\.txt \(File exists\)",
    lambda e: e.cli("analyze", e.data.run, "--out", e.file("out.txt", "mine")))
add("output", "analyze-out-under-a-file", 2, r"^robustest: error: cannot create output folder .*/in/out\.txt/a \(Not a directory\)",
    lambda e: e.cli("analyze", e.data.run, "--out", e.file("out.txt", "mine") / "a"))
add("output", "analyze-same-run-twice", 2, r"^robustest: error: .*run\.json and .*run\.json are both runs of BM25 on small-cranfield",
    lambda e: e.cli("analyze", e.data.run, e.run_file(), "--out", e.out / "a"))
add("output", "analyze-no-shared-measure", 2, r"^robustest: error: the runs share no per-query measure",
    lambda e: e.cli("analyze", e.data.run, e.data.run_other_measure, "--out", e.out / "a"))
add("output", "analyze-factor-without-file", 2, r"^robustest: error: --factor=qtype needs --factor-file=CSV",
    lambda e: e.cli("analyze", e.data.run, "--factor", "qtype", "--out", e.out / "a"))
add("output", "analyze-factor-file-missing", 2, r"^robustest: error: cannot read factor file .*/in/types\.csv \(No such file",
    lambda e: e.cli("analyze", e.data.run, "--factor", "qtype", "--factor-file", e.path("types.csv"), "--out", e.out / "a"))
add("output", "analyze-factor-file-a-folder", 2, r"^robustest: error: cannot read factor file .*/in/types \(Is a directory\)",
    lambda e: e.cli("analyze", e.data.run, "--factor", "qtype", "--factor-file", e.folder("types"), "--out", e.out / "a"))
add("output", "analyze-unknown-factor", 2, r"^robustest: error: factor file .*types\.csv has no column 'qtype' \(it has dataset, kind\)",
    lambda e: e.cli("analyze", e.data.run, "--factor", "qtype", "--factor-file", e.file("types.csv", "dataset,kind\nsmall-cranfield,a\n"), "--out", e.out / "a"))
add("output", "analyze-factor-file-empty", 2, r"^robustest: error: factor file .*types\.csv has no column 'dataset' \(it has none\)",
    lambda e: e.cli("analyze", e.data.run, "--factor", "qtype", "--factor-file", e.file("types.csv", ""), "--out", e.out / "a"))
add("output", "analyze-factor-maps-no-query", 2, r"^robustest: error: the factor file gives no qtype for 20 queries, e.g. dataset 'small-cranfield'",
    lambda e: e.cli("analyze", e.data.run, "--factor", "qtype", "--factor-file", e.file("types.csv", "dataset,qtype,query\nscifact,a,1\n"), "--out", e.out / "a"))
add("output", "analyze-factor-row-without-level", 2, r"^robustest: error: factor file .*types\.csv, row 2: no qtype; give every row a dataset and a qtype",
    lambda e: e.cli("analyze", e.data.run, "--factor", "qtype", "--factor-file", e.file("types.csv", "dataset,qtype\nsmall-cranfield\n"), "--out", e.out / "a"))
add("output", "analyze-factor-file-not-utf8", 2, r"^robustest: error: factor file .*types\.csv is not utf-8",
    lambda e: e.cli("analyze", e.data.run, "--factor", "qtype", "--factor-file", e.file("types.csv", b"dataset,qtype\nsmall-cranfield,caf\xe9\n"), "--out", e.out / "a"))
add("output", "init-into-a-file", 2, r"^robustest: error: cannot write the suites to .*/in/suites: File exists",
    lambda e: e.cli("init", e.file("suites", "not a folder")))
add("output", "init-under-a-file", 2, r"^robustest: error: cannot write the suites to .*/in/notes\.txt/suites: Not a directory",
    lambda e: e.cli("init", e.file("notes.txt", "mine") / "suites"))
add("output", "init-over-edited-suites", 2, r"^robustest: error: .*/in/suites already has test_geometry\.py; move them away or pass --force",
    lambda e: e.cli("init", e.file("suites/test_geometry.py", "# my edits\n").parent))
add("output", "save-into-missing-folder", 2, r"^ERROR: results not saved: cannot write the run file .*/out/nope/run\.json: .*/nope does not exist",
    lambda e: e.evaluate(f"--robustest-save={e.out / 'nope' / 'run.json'}"))
add("output", "save-under-a-file", 2, r"^ERROR: results not saved: cannot write the run file .*notes\.txt/run\.json: .*notes\.txt is a file, not a folder",
    lambda e: e.evaluate(f"--robustest-save={e.file('notes.txt', 'mine') / 'run.json'}"))
add("output", "save-onto-a-folder", 2, r"^ERROR: results not saved: cannot write .*/in/taken \(Is a directory\)",
    lambda e: e.evaluate(f"--robustest-save={e.folder('taken')}"))
add("output", "html-onto-a-folder", 2, r"^ERROR: HTML report not written: cannot write .*/in/taken \(Is a directory\)",
    lambda e: e.evaluate(f"--robustest-html={e.folder('taken')}"))
add("output", "plugin-per-query-onto-a-folder", 4, r"^ERROR: --robustest-per-query=.*/in/taken\.parquet is a folder; name a file in it",
    lambda e: e.pytest(f"--robustest-per-query={e.folder('taken.parquet')}"))
add("output", "plugin-mteb-results-onto-a-file", 4, r"^ERROR: --robustest-mteb-results=.*/in/notes\.txt is a file; it names a folder for MTEB results",
    lambda e: e.pytest(f"--robustest-mteb-results={e.file('notes.txt', 'mine')}"))
add("output", "analyze-mteb-results-onto-a-file", 2, r"^robustest: error: --mteb-results=.*/in/notes\.txt is a file; it names a folder",
    lambda e: e.cli("analyze", e.data.run, "--out", e.out / "a", "--mteb-results", e.file("notes.txt", "mine")))
add("output", "trec-run-into-missing-folder", 2, r"^ERROR: TREC run not written: cannot write the TREC run .*/nope/run\.trec: folder .*/nope does not exist",
    lambda e: e.evaluate(f"--robustest-trec-run={e.out / 'nope' / 'run.trec'}"))


# ================================================================================================
# cache states
# ================================================================================================


def hashing(e: Env, *argv, cache: Path | None = None) -> Outcome:
    return e.evaluate(*argv, retriever=f"{HELPER}:make", cache=cache)


def entry(cache: Path, ext: str) -> Path:
    return next((cache / "embeddings").glob(f"*.{ext}"))


def rebuilt_after(damage: Callable[[Path], None]) -> Callable[[Env], Outcome]:
    """Fill the cache, damage its entry, run again: the second run must warn, rebuild and give the same scores."""

    def act(e: Env) -> Outcome:
        first = hashing(e)
        assert first.code == 0, first.text
        damage(e.cache)
        second = hashing(e)
        scores = [re.findall(r"^\s+\S+ = [\d.]+$", o.text, re.M) for o in (first, second)]
        assert scores[0] and scores[0] == scores[1], (first.text, second.text)
        assert hashing(e).text.count("warning") == 0  # the rebuilt entry is whole again
        return second

    return act


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def lock_is_a_folder(e: Env) -> Outcome:
    first = hashing(e)
    assert first.code == 0, first.text
    lock = entry(e.cache, "lock")
    for ext in ("npy", "json", "lock"):
        entry(e.cache, ext).unlink()
    lock.mkdir()
    return hashing(e)


def unwritable(e: Env) -> Outcome:
    folder = e.folder("readonly")
    folder.chmod(0o500)
    try:
        return hashing(e, cache=folder / "cache")
    finally:
        folder.chmod(0o700)


add("cache", "cache-dir-is-a-file", 2, r"^robustest: error: cannot write the embedding cache at .*/in/cache\.txt/embeddings \(Not a directory\); pass --robustest-cache-dir",
    lambda e: hashing(e, cache=e.file("cache.txt", "mine")))
add("cache", "cache-dir-under-a-file", 2, r"^robustest: error: cannot write the embedding cache at .*/in/cache\.txt/c/embeddings \(Not a directory\)",
    lambda e: hashing(e, cache=e.file("cache.txt", "mine") / "c"))
add("cache", "embeddings-folder-is-a-file", 2, r"^robustest: error: cannot write the embedding cache at .*/in/c/embeddings \(File exists\)",
    lambda e: hashing(e, cache=e.file("c/embeddings", "mine").parent))
add("cache", "env-cache-dir-is-a-file", 2, r"^robustest: error: cannot write the embedding cache at .*/in/env-cache/embeddings .*set ROBUSTEST_CACHE_DIR",
    lambda e: (e.monkeypatch.setenv("ROBUSTEST_CACHE_DIR", str(e.file("env-cache", "mine"))),
               e.cli("evaluate", f"--retriever={HELPER}:make", f"--robustest-dataset={e.data.beir}"))[1])
add("cache", "dataset-cache-under-a-file", 2, r"^robustest: error: cannot write the dataset cache at .*/in/cache\.txt/datasets",
    lambda e: e.cli("evaluate", "--retriever=bm25", "--robustest-dataset=default", "--robustest-no-cache", f"--robustest-cache-dir={e.file('cache.txt', 'mine')}"))
add("cache", "plugin-cache-dir-is-a-file", 4, r"^ERROR: cannot write the embedding cache at .*/in/cache\.txt/embeddings",
    lambda e: e.pytest("--retriever=bm25", f"--robustest-dataset={e.data.beir}", f"--robustest-cache-dir={e.file('cache.txt', 'mine')}", uses_robustest=True))
add("cache", "truncated-vectors-rebuilt", 0, r"robustest: warning: damaged embedding cache entry .*\.npy \(unreadable",
    rebuilt_after(lambda c: truncate(entry(c, "npy"))))
add("cache", "edited-vectors-rebuilt", 0, r"robustest: warning: damaged embedding cache entry .*\.npy \(checksum mismatch\); rebuilding it",
    rebuilt_after(lambda c: flip_a_byte(entry(c, "npy"))))
add("cache", "garbage-manifest-rebuilt", 0, r"robustest: warning: damaged embedding cache entry .*\.json \(not a robustest cache record",
    rebuilt_after(lambda c: entry(c, "json").write_text("[]")))
add("cache", "manifest-missing-rebuilt", 0, r"robustest: warning: damaged embedding cache entry .*\.npy \(no manifest beside it\)",
    rebuilt_after(lambda c: entry(c, "json").unlink()))
add("cache", "vectors-entry-is-a-folder", 2, r"^robustest: error: cannot write .*\.npy \(Is a directory\)",
    lambda e: (hashing(e), (lambda p: (p.unlink(), p.mkdir()))(entry(e.cache, "npy")), hashing(e))[2])
add("cache", "lock-file-is-a-folder", 2, r"^robustest: error: .*\.lock",
    lock_is_a_folder)
add("cache", "unwritable-cache-dir", 2, r"^robustest: error: cannot write the embedding cache at .*readonly/cache/embeddings \(Permission denied\)",
    unwritable, marks=pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into a 0o500 folder: the permission cannot fail"))


# ================================================================================================
# perturbation arguments: strategies, families, samplers (a function's exception is the outcome)
# ================================================================================================

QUERY = "what is the heat transfer in laminar boundary layers"


def perturb_case(name: str, raises: type, message: str, fn: Callable[[], Any], *, marks=()) -> None:
    add("perturbation", name, raises, message, lambda e: e.call(fn), marks=marks)


def registering(family_: Family) -> Callable[[], Any]:
    def fn():
        try:
            return register_family(family_)
        finally:  # a case that wrongly registers must not leak into the next
            if family_.name in FAMILIES and FAMILIES[family_.name] is family_:
                unregister_family(family_.name)

    return fn


def sample(family_: Family, query: str = QUERY) -> Callable[[], Any]:
    return lambda: family_.sampler(query, random.Random(0))


perturb_case("typos-min-edits-zero", InvalidArgument, r"min_edits=0 must be at least 1", lambda: rst.typos(QUERY, min_edits=0).validate())
perturb_case("typos-max-below-min", InvalidArgument, r"max_edits=1 < min_edits=2", lambda: rst.typos(QUERY, min_edits=2, max_edits=1).validate())
perturb_case("typos-edits-not-integers", InvalidArgument, r"must be integers, got min_edits='1'", lambda: rst.typos(QUERY, min_edits="1").validate())
perturb_case("typos-unknown-op", InvalidArgument, r"ops=\('teleport',\) must be a non-empty subset", lambda: rst.typos(QUERY, ops=("teleport",)).validate())
perturb_case("typos-no-ops", InvalidArgument, r"ops=\(\) must be a non-empty subset", lambda: rst.typos(QUERY, ops=()).validate())
perturb_case("typos-only-stopwords", InvalidArgument, r"no word of 'is it to an' can be misspelled", lambda: rst.typos("is it to an").validate())
perturb_case("swaps-one-word", InvalidArgument, r"no two different words of 'turbulence' can swap", lambda: rst.swaps("turbulence").validate())
perturb_case("case-without-letters", InvalidArgument, r"'1999 2026' allows no case perturbation", lambda: rst.case_changes("1999 2026").validate())
perturb_case("whitespace-one-word", InvalidArgument, r"'turbulence' allows no whitespace perturbation", lambda: rst.whitespace("turbulence").validate())
perturb_case("naturalize-only-stopwords", NoLegalEdit, r"'the of and' has only stopwords", lambda: rst.naturalized("the of and").validate())
perturb_case("queries-none-allow-it", InvalidArgument, r"none of the queries allows this perturbation", lambda: rst.perturbed_queries({"1": "a", "2": "to"}, rst.swaps).validate())
perturb_case("sampler-strategy-no-edit", InvalidArgument, r"no two different words of 'flow'", lambda: rst.from_sampler(FAMILIES["reordering"].sampler)("flow").validate())
perturb_case(
    "synonym-swaps-zero", InvalidArgument, r"max_swaps=0",
    lambda: rst.synonym_swaps(QUERY, max_swaps=0).validate(),
)
perturb_case("register-bad-name", RobustestError, r"family name 'bad name' must be letters, digits and underscores", registering(Family("bad name", FAMILIES["case"].sampler)))
perturb_case("register-builtin-name", RobustestError, r"'misspelling' is a built-in family; give yours another name", registering(Family("misspelling", FAMILIES["case"].sampler)))
perturb_case("register-marker-name", RobustestError, r"family name 'geometry' is taken by robustest", registering(Family("geometry", FAMILIES["case"].sampler)))
perturb_case("register-config-key-name", RobustestError, r"family name 'threshold' is taken by robustest", registering(Family("threshold", FAMILIES["case"].sampler)))
perturb_case("register-without-sampler", RobustestError, r"family 'lonely' needs a sampler", registering(Family("lonely")))
perturb_case("register-threshold-percent", RobustestError, r"family 'loud': 20 looks like a percentage", registering(Family("loud", FAMILIES["case"].sampler, threshold=20)))
perturb_case("register-threshold-zero", RobustestError, r"family 'strict': 0 must be a share in \(0, 1\]", registering(Family("strict", FAMILIES["case"].sampler, threshold=0)))
perturb_case("register-empty-measure", RobustestError, r"family 'blank': '' is not a measure name", registering(Family("blank", FAMILIES["case"].sampler, measure="")))
perturb_case("register-not-a-family", RobustestError, r"register_family takes a robustest\.Family, got dict", lambda: register_family({"name": "x"}))
perturb_case("unregister-builtin", RobustestError, r"'misspelling' is a built-in family and cannot be removed", lambda: unregister_family("misspelling"))
perturb_case("substitutions-empty", RobustestError, r"needs a non-empty mapping of text -> replacement, got \{\}", lambda: Family.substitutions({}, name="abbreviations"))
perturb_case("substitutions-bad-regex", RobustestError, r"substitution key '\(unclosed' is not a valid regular expression", lambda: Family.substitutions({"(unclosed": "x"}, name="r", regex=True))
perturb_case("substitutions-not-strings", RobustestError, r"substitution 'temperature' -> 5: both sides must be strings", lambda: Family.substitutions({"temperature": 5}, name="t"))
perturb_case("substitutions-empty-key", RobustestError, r"substitution '' -> 'x': both sides must be strings, the key non-empty", lambda: Family.substitutions({"": "x"}, name="t"))
perturb_case("from-function-not-callable", RobustestError, r"Family\.from_function needs a function of the query, got 42", lambda: Family.from_function(42, name="n"))
perturb_case("from-function-returns-int", RobustestError, r"shout returned int for .*it must return the perturbed query as a str", sample(Family.from_function(lambda q: 5, name="shout")))
perturb_case("from-function-no-change", NoLegalEdit, r"same leaves .* unchanged", sample(Family.from_function(lambda q: q, name="same")))
perturb_case("perturb-unknown-family", RobustestError, r"'teleporting' has no sampler; families with one: misspelling", lambda: family_sampler("teleporting"))
perturb_case("perturb-no-queries", None, r"returned Perturbed\(family='misspelling', seed=1999, variants=\(\), skipped=\{\}\)", lambda: perturb_queries({}, "misspelling", 1999, family_sampler("misspelling")))
perturb_case("synonyms-unknown-pos", ValueError, r"pos='noun' is not a part-of-speech mode; use one of wordnet-majority, any", lambda: sample_synonyms(QUERY, random.Random(0), pos="noun"))
perturb_case("wordnet-sampler-unknown-pos", ValueError, r"pos='verbs' is not a part-of-speech mode", lambda: wordnet_sampler(pos="verbs"))
perturb_case("guard-no-tries", ValueError, r"tries=0 must be at least 1", lambda: SemanticGuard(None, tries=0))
perturb_case("typo-plan-for-another-query", ValueError, r"Typo\(word=9, .*\) is not a legal edit of 'heat flow'", lambda: TypoPlan((Typo(9, "delete", 0),)).apply("heat flow"))
perturb_case("typo-unknown-op", ValueError, r"Typo\(word=0, op='teleport'.*is not a legal edit", lambda: TypoPlan((Typo(0, "teleport", 0),)).apply("heat flow"))
perturb_case("naturalize-plan-for-another-query", ValueError, r"word 2 is not among the 2 words of 'heat flow'", lambda: FAMILIES["naturalizing"].sampler("What is the heat of the flow", random.Random(0)).apply("heat flow"))
add("perturbation", "plugin-conftest-registers-bad-family", 4, r"^E\s+robustest\.errors\.RobustestError: family name 'bad name' must be letters",
    lambda e: e.pytest(files={"conftest.py": "import robustest\nrobustest.register_family(robustest.Family('bad name', lambda q, rng: None))\n"}),
    forbid=[r"robustest/families\.py"])
add("perturbation", "plugin-bad-family-inside-a-test", 1, r"^RobustestError: family 'loud': 20 looks like a percentage",
    lambda e: e.pytest(files={"test_user.py": "import robustest\n\ndef test_register():\n    robustest.register_family(robustest.Family('loud', lambda q, rng: None, threshold=20))\n"}))


# ================================================================================================
# the matrix
# ================================================================================================


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case: Case, env: Env):
    outcome = case.act(env)
    text = outcome.text
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    for pattern in case.forbid:
        assert not re.search(pattern, text), text
    if isinstance(case.code, int):  # a command: its exit status, and one error line naming the problem
        assert outcome.code == case.code, text
        errors = error_lines(text)
        if case.code == 0:
            assert not errors and re.search(case.message, text, re.M), text
        else:
            assert len(errors) == 1, text
            assert re.search(case.message, errors[0]), errors[0]
    else:  # a function: the exception type (None: it returned), its message on one line
        assert outcome.code is case.code, text
        assert "\n" not in text.strip() and re.search(case.message, text), text
    assert env.snapshot() == env.before, "an input file or folder was changed"
    assert not [p for p in env.tmp.rglob("*") if TEMP_NAME.match(p.name)], "a temporary file was left behind"


def test_the_matrix_covers_every_category():
    counts: dict[str, int] = {}
    for param in CASES:
        counts[param.values[0].category] = counts.get(param.values[0].category, 0) + 1
    assert len(CASES) >= 100 and len({p.id for p in CASES}) == len(CASES)
    assert set(counts) == {"retriever", "dataset", "option", "run-file", "output", "cache", "perturbation"}
    assert min(counts.values()) >= 10, counts


def test_every_option_has_a_bad_value_case():
    """A new option that parses its value gets a case here (BAD_VALUES), or this fails."""
    parsed = {name for name, _, o in options() if not o.flag and o.parse.__name__ != "text"}
    assert parsed == set(BAD_VALUES)


# ================================================================================================
# fuzzing: only robustest's own errors may escape
# ================================================================================================

FUZZ = hsettings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

IDS = ["1", "2", "3", "a", "b"]
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
# Objects shaped like BEIR lines, with every field possibly missing, mistyped or odd.
beir_objects = st.fixed_dictionaries(
    {},
    optional={
        "_id": st.one_of(st.sampled_from(IDS), st.integers(-2, 3), json_values),
        "text": st.one_of(st.text(max_size=12), json_values),
        "title": st.one_of(st.text(max_size=8), json_values),
    },
).flatmap(lambda obj: st.dictionaries(st.text(max_size=5), json_values, max_size=2).map(lambda extra: {**extra, **obj}))
well_formed = st.fixed_dictionaries({"_id": st.sampled_from(IDS), "text": st.text(max_size=15)}, optional={"title": st.one_of(st.none(), st.text(max_size=8))})
odd_lines = st.one_of(
    st.just(""),
    st.text(max_size=20),
    json_values.map(json.dumps),
    st.sampled_from(['{"_id": "1", "text": "\\ud800"}', '{"_id": "\\udfff", "text": "x"}', "\ufeff{}", '{"_id": "1"', "[" * 2000 + "]" * 2000]),
)


def joined(lines: list[str]) -> bytes:
    return "\n".join(lines).encode("utf-8", "surrogatepass")


valid_lines = st.lists(
    st.one_of(well_formed.map(json.dumps), well_formed.map(lambda o: json.dumps(o, ensure_ascii=False))), min_size=1, max_size=5, unique_by=lambda s: json.loads(s)["_id"]
)
jsonl_files = st.one_of(
    valid_lines.map(joined),
    valid_lines.map(joined),  # twice: about half the folders are well-formed, so loads succeed too
    st.tuples(valid_lines, odd_lines, st.integers(0, 5)).map(lambda t: joined([*t[0][: t[2]], t[1], *t[0][t[2]:]])),
    st.lists(st.one_of(beir_objects.map(json.dumps), odd_lines), max_size=6).map(joined),
    st.binary(max_size=80),
)
cells = st.one_of(st.sampled_from([*IDS, "0", "-1", "query-id", "score", "x y", "1.5", "99999999999999999999", "", " 2 "]), st.text(max_size=5))
qrels_rows = st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(IDS), st.integers(-1, 3)).map(lambda t: "\t".join(map(str, t))), min_size=1, max_size=8)
qrels_files = st.one_of(
    qrels_rows.map(lambda rows: joined(["query-id\tcorpus-id\tscore", *rows])),
    qrels_rows.map(joined),
    st.lists(st.lists(cells, min_size=1, max_size=4).map("\t".join), max_size=5).map(joined),
    st.binary(max_size=60),
)
LAYOUTS = ["complete"] * 5 + ["no qrels folder", "no corpus", "other split"]


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(corpus=jsonl_files, queries=jsonl_files, qrels=qrels_files, layout=st.sampled_from(LAYOUTS))
def test_fuzz_the_beir_loader(fuzz_root, corpus, queries, qrels, layout):
    with tempfile.TemporaryDirectory(dir=fuzz_root) as folder:
        root = Path(folder)
        files = {"queries.jsonl": queries}
        if layout != "no corpus":
            files["corpus.jsonl"] = corpus
        if layout != "no qrels folder":
            files["qrels/" + ("dev.tsv" if layout == "other split" else "test.tsv")] = qrels
        for name, content in files.items():
            (root / name).parent.mkdir(exist_ok=True)
            (root / name).write_bytes(content)
        try:
            dataset = load_beir(root)
        except RobustestError as exc:
            assert "\n" not in str(exc)
        else:  # what loads is usable: ids line up, and it fingerprints, describes and prints
            assert set(dataset.queries) == set(dataset.qrels) and dataset.queries
            assert all(d in set(dataset.doc_ids) for judged in dataset.qrels.values() for d in judged)
            dataset.fingerprint, dataset.corpus_fingerprint, dataset.describe(), repr(dataset)
            assert len(dataset.documents) == len(dataset.doc_ids)
        assert {name: (root / name).read_bytes() for name in files} == files  # the loader only reads


SAMPLERS = {name: f.sampler for name, f in FAMILIES.items() if f.sampler is not None}
SAMPLERS.update({f"misspelling:{op}": (lambda op: lambda q, rng: sample_with_op(q, op, rng))(op) for op in OPS})
SAMPLERS["substitutions"] = Family.substitutions({"heat": "warmth", "flow": "stream", "ß": "ss"}, name="subs").sampler
words = st.sampled_from(["heat", "transfer", "the", "of", "Flow", "laminar", "don't", "stress-strain", "x", "ab", "1999", "ǅ", "ß", "İ", "ﬁ", "é", "\u0301", "\u200b", "_", "*@", "?!"])
queries = st.one_of(
    st.text(max_size=50),
    st.lists(words, max_size=12).map(" ".join),
    st.lists(st.one_of(words, st.sampled_from([" ", "  ", "\t", "\n", "-", "'"])), max_size=16).map("".join),
)


@pytest.fixture(scope="module")
def wordnet_missing() -> str | None:
    """Why WordNet cannot be loaded, or None (loaded once: parsing it takes seconds)."""
    from robustest.perturb.synonyms import synonym_candidates

    try:
        synonym_candidates("heat")  # loads WordNet into the samplers' own cache
    except RobustestError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@hsettings(FUZZ, max_examples=60)
@given(query=queries, other=queries, seed=st.integers(0, 2**32 - 1))
def test_fuzz_every_perturbation_operator(wordnet_missing, name, query, other, seed):
    if name == "synonymizing" and wordnet_missing:
        pytest.skip(f"WordNet is not installed ({wordnet_missing}): the synonymizing operator cannot run")
    sampler = SAMPLERS[name]
    try:
        plan = sampler(query, rng_for(seed, name, "q1"))
    except (NoLegalEdit, RobustestError) as exc:
        assert isinstance(str(exc), str)
        return
    variant = plan.apply(query)
    assert isinstance(variant, str) and isinstance(plan.describe(query), str)
    assert plan.apply(query) == variant  # apply is pure
    assert plan == sampler(query, rng_for(seed, name, "q1"))  # sampling is seeded
    try:  # a plan made for another query: a str, or a ValueError that says so; never a crash
        assert isinstance(plan.apply(other), str)
    except ValueError:
        pass
