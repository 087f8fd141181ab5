"""load_ir_datasets: conversion (through a stand-in module), and the one-line failures
(not installed, unknown id, offline, stalled network) through the real package."""

from __future__ import annotations

import socket
import sys
import time
import types
from collections import namedtuple

import pytest

from robustest.data import load_dataset, load_ir_datasets
from robustest.errors import RobustestError


@pytest.fixture
def irds(irds_home):
    """The real ir_datasets, imported fresh with its home in tmp_path (see conftest)."""
    pytest.importorskip("ir_datasets")
    import ir_datasets

    return ir_datasets


@pytest.fixture
def offline(irds, monkeypatch):
    """No name resolves, as on a machine without network (and the same on one with it)."""

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    return irds


def test_unknown_id(irds):
    with pytest.raises(RobustestError) as info:
        load_ir_datasets("no/such/dataset")
    message = str(info.value)
    assert "unknown ir_datasets id 'no/such/dataset'" in message
    assert "ir_datasets list" in message and "BEIR folder" in message
    with pytest.raises(RobustestError, match="unknown ir_datasets id"):
        load_dataset("irds:no/such/dataset")


@pytest.mark.parametrize("dataset_id", ["cranfield", "beir/scifact/test"])
def test_registered_id_offline_fails_fast_with_one_line(offline, dataset_id):
    assert dataset_id in offline.registry
    start = time.monotonic()
    with pytest.raises(RobustestError) as info:
        load_ir_datasets(dataset_id)
    assert time.monotonic() - start < 20
    message = str(info.value)
    assert "\n" not in message
    assert f"could not download or read '{dataset_id}'" in message
    assert "Name or service not known" in message  # the underlying cause, in one line
    assert "BEIR folder" in message


def test_stalled_network_times_out(irds, monkeypatch):
    # A server that accepts connections and never answers: what a black-holing proxy does.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, p, *a, **k: real("127.0.0.1", port, *a, **k))
    start = time.monotonic()
    try:
        with pytest.raises(RobustestError) as info:
            load_ir_datasets("beir/scifact/test")
    finally:
        server.close()
    assert time.monotonic() - start < 20
    assert "timed out" in str(info.value)
    assert "IR_DATASETS_DL_TIMEOUT" in str(info.value)


def test_load_dataset_resolves_registered_ids(offline, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no local folder called 'cranfield' here
    with pytest.raises(RobustestError, match="could not download or read 'cranfield'"):
        load_dataset("cranfield")
    # The split picks the sub-id that has qrels: beir/scifact -> beir/scifact/test.
    with pytest.raises(RobustestError, match="could not download or read 'beir/scifact/test'"):
        load_dataset("irds:beir/scifact")


def test_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "ir_datasets", None)  # makes `import ir_datasets` fail
    with pytest.raises(RobustestError, match=r"pip install 'robustest\[irds\]'"):
        load_ir_datasets("cranfield")
    with pytest.raises(RobustestError, match="not an ir_datasets id"):
        load_dataset("cranfield-that-is-not-a-folder")


# --- conversion, through a stand-in for the package --------------------------------

TitledDoc = namedtuple("TitledDoc", "doc_id title text")
BodyDoc = namedtuple("BodyDoc", "doc_id body")
BodyDoc.default_text = lambda self: f"from {self.body}"
Query = namedtuple("Query", "query_id text")
Qrel = namedtuple("Qrel", "query_id doc_id relevance iteration")


class FakeDataset:
    def __init__(self, docs):
        self.docs = docs

    def has_docs(self):
        return True

    has_queries = has_qrels = has_docs

    def docs_iter(self):
        return iter(self.docs)

    def queries_iter(self):
        return iter([Query("q1", "one"), Query("q2", "two"), Query("q3", "unjudged")])

    def qrels_iter(self):
        return iter([Qrel("q1", "a", 2, "0"), Qrel("q2", "b", 0, "0"), Qrel("q1", "gone", 1, "0"), Qrel("zz", "a", 1, "0")])


@pytest.fixture
def fake_irds(monkeypatch):
    registry = {
        "toy/test": FakeDataset([TitledDoc("a", "Title", "alpha"), TitledDoc("b", None, "beta")]),
        "beir/toy/test": FakeDataset([BodyDoc("a", "alpha"), BodyDoc("b", "beta")]),
    }

    def load(dataset_id):
        return registry[dataset_id]  # KeyError for unknown ids, like the real one

    module = types.SimpleNamespace(load=load, registry=registry)
    monkeypatch.setitem(sys.modules, "ir_datasets", module)
    return module


def test_conversion(fake_irds):
    ds = load_ir_datasets("toy/test")
    assert (ds.name, ds.source, ds.split) == ("toy/test", "irds:toy/test", "toy/test")
    assert ds.doc_ids == ("a", "b")
    assert ds.titles == ("Title", "")
    assert ds.texts == ("alpha", "beta")
    assert ds.queries == {"q1": "one", "q2": "two"}  # q2 judged 0 only: still judged
    assert ds.qrels == {"q1": {"a": 2}, "q2": {"b": 0}}
    assert ds.dropped_queries == 1
    assert ds.notes == ("2 judgements name unknown queries or documents and were dropped",)
    assert ds.exclude_self_matches is False


def test_conversion_default_text_and_beir_flag(fake_irds):
    ds = load_ir_datasets("beir/toy/test")
    assert ds.titles == ("", "") and ds.texts == ("from alpha", "from beta")
    assert ds.exclude_self_matches is True
    assert load_ir_datasets("beir/toy/test", exclude_self_matches=False).exclude_self_matches is False
    # load_dataset: a registered id without the prefix; the split picks the sub-id.
    assert load_dataset("beir/toy").name == "beir/toy/test"
    assert load_dataset("irds:toy", exclude_self_matches=True).exclude_self_matches is True
