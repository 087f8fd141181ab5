"""The paper's datasets (arXiv 2604.16576): 13 BEIR collections, MS MARCO passage (dev, TREC DL
2019 and 2020), 12 BRIGHT tasks and BrowseComp-Plus (golds, evidence).

Each loader path is run for real, offline: the files are written under IR_DATASETS_HOME exactly
as ir_datasets' download leaves them (same names and formats: BEIR's zip, BRIGHT's parquet
files, MS MARCO's tar.gz and TREC files), then ir_datasets' own code opens, extracts and
parses them. ir_datasets checks a file's md5 only while downloading it; a file already at its
cache path is used as it is, so small samples load through the real code.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import write_beir
from robustest.data import load_dataset
from robustest.data.types import subsample_queries
from robustest.errors import RobustestError
from robustest.retrieval import CorpusIndex
from robustest.retrievers.presets import TASKS, task_instruction
from robustest.retrievers.resolve import LoadOptions, resolve_retriever

# The paper's 28 ir_datasets collections, with the TASKS key of their instruction.
BEIR_IDS = {
    "beir/trec-covid": "trec-covid",
    "beir/nfcorpus/test": "nfcorpus",
    "beir/nq": "nq",
    "beir/hotpotqa/test": "hotpotqa",
    "beir/fiqa/test": "fiqa",
    "beir/arguana": "arguana",
    "beir/webis-touche2020/v2": "webis-touche2020",
    "beir/quora/test": "quora",
    "beir/dbpedia-entity/test": "dbpedia-entity",
    "beir/scidocs": "scidocs",
    "beir/fever/test": "fever",
    "beir/climate-fever": "climate-fever",
    "beir/scifact/test": "scifact",
}
MSMARCO_IDS = {
    "msmarco-passage/dev/small": "msmarco",
    "msmarco-passage/trec-dl-2019/judged": "msmarco",
    "msmarco-passage/trec-dl-2020/judged": "msmarco",
}
BRIGHT_TASKS = (
    "biology earth-science economics psychology robotics stackoverflow sustainable-living "
    "leetcode pony aops theoremqa-theorems theoremqa-questions"
).split()
BRIGHT_IDS = {f"bright/{t}": f"bright-{t}" for t in BRIGHT_TASKS}
PAPER_IDS = {**BEIR_IDS, **MSMARCO_IDS, **BRIGHT_IDS}
# BRIGHT's queries come with five LLM reasoning files; ir_datasets reads all of them.
BRIGHT_REASONING = ("Gemini-1.0_reason", "claude-3-opus_reason", "gpt4_reason", "grit_reason", "llama3-70b_reason")


@pytest.fixture
def irds(irds_home):
    """The real ir_datasets with its home in tmp_path (see conftest's irds_home)."""
    pytest.importorskip("ir_datasets")
    import ir_datasets

    return ir_datasets


@pytest.fixture(scope="module")
def bm25():
    return resolve_retriever("bm25").load(LoadOptions(progress=False))


def cache_path(irds, group: str, key: str) -> str:
    """Where ir_datasets' download config puts one file, relative to its collection folder."""
    return irds.util.DownloadConfig.contents()[group][key]["cache_path"]


# -- every paper collection is an ir_datasets id with docs, queries and qrels ----------------


@pytest.mark.parametrize("dataset_id", sorted(PAPER_IDS))
def test_paper_ids_are_registered_with_docs_queries_and_qrels(irds, dataset_id):
    ds = irds.load(dataset_id)  # the registry only: nothing is downloaded
    assert ds.has_docs() and ds.has_queries() and ds.has_qrels()


# --robustest-dataset values -> TASKS key: the ids, and BEIR folders named after the collection.
SPECS = {
    **{f"irds:{i}": key for i, key in PAPER_IDS.items()},
    "data/browsecomp-plus": "browsecomp-plus",
    "data/BrowseComp_Plus": "browsecomp-plus",
    "data/bright/biology": "bright-biology",  # one folder per task under bright/
    "data/bright_earth_science": "bright-earth-science",  # BRIGHT's own spelling of the task
}


@pytest.mark.parametrize("spec,key", sorted(SPECS.items()))
def test_paper_datasets_get_their_own_task_instruction(spec, key):
    instruction, source = task_instruction(spec)
    assert instruction == TASKS[key]
    assert not source.startswith("no known task")


def test_bright_instructions_are_brights_own():
    assert TASKS["bright-earth-science"] == "Given a Earth Science post, retrieve relevant passages that help answer the post"
    assert TASKS["bright-stackoverflow"] == "Given a Stack Overflow post, retrieve relevant passages that help answer the post"
    assert TASKS["bright-leetcode"] == "Given a coding problem, retrieve relevant examples that help answer the problem"
    assert TASKS["bright-theoremqa-theorems"] == "Given a Math problem, retrieve relevant theorems that help answer the problem"
    assert TASKS["bright-aops"] == TASKS["bright-theoremqa-questions"]
    assert task_instruction("irds:bright/biology")[1] == "BRIGHT's task for biology"
    # BRIGHT's long-document variants are not the paper's: the generic instruction, and it says so.
    assert task_instruction("irds:bright/biology-long")[1].startswith("no known task")
    assert task_instruction("data/biology")[1].startswith("no known task")  # a bare 'biology' is not BRIGHT's


# -- BEIR through ir_datasets: BEIR's own zip ----------------------------------------------


def write_beir_zip(irds, name: str, docs: dict, queries: dict, qrels: dict[str, dict]) -> Path:
    """<home>/beir/<name>/source.zip as downloaded: BEIR's zip, one folder named after the
    collection holding corpus.jsonl, queries.jsonl and qrels/<split>.tsv (with header)."""
    path = Path(irds.util.home_path()) / "beir" / cache_path(irds, "beir", name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}/corpus.jsonl", "".join(json.dumps({"_id": d, "title": t, "text": x, "metadata": {}}) + "\n" for d, (t, x) in docs.items()))
        z.writestr(f"{name}/queries.jsonl", "".join(json.dumps({"_id": q, "text": t, "metadata": {}}) + "\n" for q, t in queries.items()))
        for split, judged in qrels.items():
            rows = "".join(f"{q}\t{d}\t{r}\n" for q, ds in judged.items() for d, r in ds.items())
            z.writestr(f"{name}/qrels/{split}.tsv", "query-id\tcorpus-id\tscore\n" + rows)
    return path


SCIFACT_DOCS = {
    "4983": ("Microstructural development of human newborn cerebral white matter", "Alterations of the architecture of cerebral white matter in the developing human brain can affect cortical development."),
    "5836": ("Induction of myelodysplasia by myeloid-derived suppressor cells", "Myelodysplastic syndromes are age-dependent stem cell malignancies that share biological features."),
    "7912": ("BC1 RNA motifs required for dendritic transport in vivo", "BC1 RNA is a translational regulator that is delivered to synapto-dendritic domains."),
}
SCIFACT_QUERIES = {
    "1": "0-dimensional biomaterials show inductive properties.",
    "3": "1,000 genomes project enables mapping of genetic sequence variation consisting of rare variants.",
    "5": "1/2000 in UK have abnormal PrP positivity.",
    "13": "5% of perinatal mortality is due to low birth weight.",
}


def test_beir_scifact_through_ir_datasets(irds):
    write_beir_zip(irds, "scifact", SCIFACT_DOCS, SCIFACT_QUERIES, {"test": {"1": {"4983": 1}, "3": {"5836": 1}}, "train": {"13": {"7912": 1}}})
    ds = load_dataset("irds:beir/scifact")  # the split picks the sub-id: beir/scifact/test
    assert (ds.name, ds.source, ds.split) == ("beir/scifact/test", "irds:beir/scifact/test", "beir/scifact/test")
    assert ds.doc_ids == tuple(SCIFACT_DOCS)
    assert ds.titles == tuple(t for t, _ in SCIFACT_DOCS.values()) and ds.texts == tuple(x for _, x in SCIFACT_DOCS.values())
    assert ds.queries == {"1": SCIFACT_QUERIES["1"], "3": SCIFACT_QUERIES["3"]}  # judged in test only
    assert ds.qrels == {"1": {"4983": 1}, "3": {"5836": 1}}
    assert ds.exclude_self_matches is True and ds.excluded_docs == {}
    train = load_dataset("irds:beir/scifact", split="train")
    assert train.name == "beir/scifact/train" and train.qrels == {"13": {"7912": 1}}
    # ir_datasets' own extraction ran: its docstore and the qrels it cut out of the zip.
    home = Path(irds.util.home_path()) / "beir" / "scifact"
    assert (home / "docs.pklz4").is_dir() and (home / "test.qrels").is_file()


def test_arguana_through_ir_datasets_drops_the_query_itself(irds, bm25):
    # ArguAna: every query is an argument of the corpus under the same id; the task is to find
    # its counter-argument, never the argument itself (BEIR's rule, on by default for beir/).
    docs = {
        "a1": ("Ban smoking", "Smoking in public places harms the health of bystanders, so smoking should be banned."),
        "a1-con": ("Freedom", "Adults accept the risks; a ban on smoking in public places takes away a free choice."),
        "b1": ("School uniforms", "Uniforms remove social pressure from clothing at school."),
        "b1-con": ("Expression", "Pupils express themselves through clothing; uniforms suppress it."),
    }
    queries = {"a1": docs["a1"][1], "b1": docs["b1"][1]}
    write_beir_zip(irds, "arguana", docs, {**queries, "a1-con": docs["a1-con"][1]}, {"test": {"a1": {"a1-con": 1}, "b1": {"b1-con": 1}}})
    ds = load_dataset("irds:beir/arguana")  # one split only: the id has no /test
    assert ds.name == "beir/arguana" and ds.exclude_self_matches is True and set(ds.queries) == {"a1", "b1"}
    kept = CorpusIndex(bm25, ds, exclude_self_matches=False).evaluate()
    assert [next(iter(run)) for run in kept.runs] == ["a1", "b1"]  # each argument finds itself first
    dropped = CorpusIndex(bm25, ds).evaluate()
    assert all(q not in run for q, run in zip(dropped.qids, dropped.runs))
    assert dropped.mean("nDCG@10") > kept.mean("nDCG@10")


# -- BRIGHT through ir_datasets: parquet files, excluded_ids -------------------------------


def write_bright(irds, task: str, docs: dict[str, str], examples: list[dict]) -> Path:
    """<home>/bright/<task>.docs.parquet, <task>.queries.parquet and the five reasoning files,
    with the columns of BRIGHT's parquet files (documents: id, content; examples: query,
    reasoning, id, excluded_ids, gold_ids_long, gold_ids, gold_answer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(irds.util.home_path()) / "bright"
    folder.mkdir(parents=True, exist_ok=True)
    names = {"docs": f"{task}.docs.parquet", "queries": f"{task}.queries.parquet"}
    names.update({source: f"{task}.{source}.queries.parquet" for source in BRIGHT_REASONING})
    # The names are ir_datasets' own (a later version that moves them fails here, not obscurely).
    for key, name in names.items():
        assert cache_path(irds, "bright", f"{task}/{key}" if key in ("docs", "queries") else f"{task}/{key}/queries") == name
    pq.write_table(pa.table({"id": list(docs), "content": list(docs.values())}), folder / names["docs"])
    strings, lists = pa.string(), pa.list_(pa.string())
    schema = pa.schema([("query", strings), ("reasoning", strings), ("id", strings), ("excluded_ids", lists), ("gold_ids_long", lists), ("gold_ids", lists), ("gold_answer", strings)])
    rows = [{"reasoning": "", "gold_ids_long": [], "gold_answer": "N/A", **e} for e in examples]
    table = pa.Table.from_pylist(rows, schema=schema)
    for key in ("queries", *BRIGHT_REASONING):
        pq.write_table(table, folder / names[key])
    return folder


LEETCODE_DOCS = {
    # The problem the query was written from: it matches the query best, and BRIGHT excludes it.
    "leetcode/leetcode_1.txt": "Two Sum. Given an array of integers nums and an integer target, return indices of the two numbers such that they add up to target.",
    # The gold: another problem solved the same way (a hash map of complements).
    "leetcode/leetcode_560.txt": "Subarray Sum Equals K. Count the subarrays whose sum equals k, keeping a hash map of prefix sums seen so far.",
    "leetcode/leetcode_94.txt": "Binary Tree Inorder Traversal. Return the inorder traversal of the values of a binary tree's nodes.",
    "leetcode/leetcode_100.txt": "Same Tree. Check whether two binary trees are structurally identical with the same node values.",
    "leetcode/leetcode_200.txt": "Number of Islands. Count the islands in a grid of land and water with depth-first search.",
}
LEETCODE_EXAMPLES = [
    {
        "id": "0",
        "query": "Given an array of integers nums and an integer target, return indices of the two numbers that add up to target. Use a hash map.",
        "gold_ids": ["leetcode/leetcode_560.txt"],
        "excluded_ids": ["leetcode/leetcode_1.txt"],
    },
    # "N/A" is BRIGHT's way of saying "nothing excluded".
    {"id": "1", "query": "Return the inorder traversal of a binary tree's nodes.", "gold_ids": ["leetcode/leetcode_94.txt"], "excluded_ids": ["N/A"]},
]


def test_bright_loads_with_its_excluded_ids(irds):
    write_bright(irds, "leetcode", LEETCODE_DOCS, LEETCODE_EXAMPLES)
    ds = load_dataset("irds:bright/leetcode")
    assert (ds.name, ds.split) == ("bright/leetcode", "bright/leetcode")
    assert ds.doc_ids == tuple(LEETCODE_DOCS) and ds.texts == tuple(LEETCODE_DOCS.values())
    assert ds.queries == {e["id"]: e["query"] for e in LEETCODE_EXAMPLES}
    # ir_datasets serves excluded_ids as grade -100 "excluded from evaluation": not a judgement.
    assert ds.qrels == {"0": {"leetcode/leetcode_560.txt": 1}, "1": {"leetcode/leetcode_94.txt": 1}}
    assert ds.excluded_docs == {"0": frozenset({"leetcode/leetcode_1.txt"})}
    assert ds.exclude_self_matches is False
    assert ds.notes == ("1 excluded (query, document) pairs are never retrieved (the collection's excluded ids)",)
    assert ds.describe()["excluded_documents"] == 1
    # The exclusions are part of what was measured: the fingerprint changes with them.
    assert replace(ds, excluded_docs={}).fingerprint != ds.fingerprint
    assert replace(ds, excluded_docs={"1": frozenset()}).fingerprint == replace(ds, excluded_docs={}).fingerprint
    assert subsample_queries(ds, 1).excluded_docs == {q: d for q, d in ds.excluded_docs.items() if q in subsample_queries(ds, 1).queries}


@pytest.mark.parametrize("retriever", ["bm25", "minilm"])  # a lexical searcher and FAISS
def test_bright_excluded_ids_never_reach_the_ranking(irds, retriever, request):
    retriever = request.getfixturevalue(retriever)
    write_bright(irds, "leetcode", LEETCODE_DOCS, LEETCODE_EXAMPLES)
    ds = load_dataset("irds:bright/leetcode")
    excluded = "leetcode/leetcode_1.txt"
    # Without the rule, the query's own source problem ranks first and pushes the gold down.
    ignored = CorpusIndex(retriever, replace(ds, excluded_docs={}), k=3).evaluate()
    assert next(iter(ignored.runs[0])) == excluded
    assert ignored.by_query("nDCG@10")["0"] < 1.0
    honoured = CorpusIndex(retriever, ds, k=3).evaluate()
    assert excluded not in honoured.runs[0]  # excluded for query 0 only
    assert next(iter(honoured.runs[0])) == "leetcode/leetcode_560.txt"
    assert honoured.by_query("nDCG@10")["0"] == pytest.approx(1.0)
    assert honoured.by_query("nDCG@10")["1"] == ignored.by_query("nDCG@10")["1"]  # nothing excluded there
    # k documents remain after the exclusions: the search goes one deeper for query 0.
    assert [len(run) for run in honoured.runs] == [3, 3]
    assert honoured.mean("nDCG@10") > ignored.mean("nDCG@10")


def test_bright_without_its_reasoning_files_fails_in_one_line(irds, monkeypatch):
    # ir_datasets reads the five reasoning files for every query, even to get its text alone.
    folder = write_bright(irds, "leetcode", LEETCODE_DOCS, LEETCODE_EXAMPLES)
    (folder / "leetcode.gpt4_reason.queries.parquet").unlink()

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # offline, on any machine
    with pytest.raises(RobustestError, match="could not download or read 'bright/leetcode'") as info:
        load_dataset("irds:bright/leetcode")
    assert "\n" not in str(info.value)


# -- MS MARCO passage through ir_datasets: dev/small, TREC DL 2019 and 2020 ------------------


def tar_gz(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_msmarco_passage_dev_and_trec_dl_through_ir_datasets(irds):
    home = Path(irds.util.home_path()) / "msmarco-passage"
    home.mkdir(parents=True, exist_ok=True)
    # collectionandqueries.tar.gz, as downloaded: collection.tsv (id TAB text), the small dev
    # queries and their qrels. Passage 2 carries the collection's double-encoded utf-8, which
    # ir_datasets repairs while extracting ("cafÃ©" -> "café").
    collection = "0\tThe presence of communication amid scientific minds was equally important.\n1\tThe Manhattan Project and its atomic bomb helped bring an end to World War II.\n2\tA caf\u00c3\u00a9 au lait is coffee with hot milk.\n"
    tar_gz(
        home / cache_path(irds, "msmarco-passage", "collectionandqueries"),
        {
            "collection.tsv": collection.encode("utf-8"),
            "queries.dev.small.tsv": b"1048585\twhat is paula deen's brother\n2\tandromeda galaxy distance\n",
            "qrels.dev.small.tsv": b"1048585\t0\t1\t1\n",
        },
    )
    # TREC DL 2019: the queries' .gz has no cache path (a temporary file), so what a download
    # leaves is ir_datasets' decompressed copy, trec-dl-2019/queries.tsv; qrels as NIST ships them.
    (home / "trec-dl-2019").mkdir()
    (home / "trec-dl-2019" / "queries.tsv").write_text("19335\tanthropological definition of environment\n47923\taxon terminals or synaptic knob definition\n")
    (home / cache_path(irds, "msmarco-passage", "trec-dl-2019/qrels")).write_text("19335 0 0 3\n19335 0 1 0\n19335 0 2 1\n")
    # TREC DL 2020: the queries stay gzipped at their cache path.
    (home / "trec-dl-2020").mkdir()
    with gzip.open(home / cache_path(irds, "msmarco-passage", "trec-dl-2020/queries"), "wt", encoding="utf-8") as f:
        f.write("1030303\twho is aziz hashim\n1037496\twho is rep scalise?\n")
    (home / cache_path(irds, "msmarco-passage", "trec-dl-2020/qrels")).write_text("1030303 0 1 2\n1030303 0 0 0\n")

    dl19 = load_dataset("irds:msmarco-passage/trec-dl-2019/judged")
    assert dl19.doc_ids == ("0", "1", "2")
    assert dl19.texts[2] == "A café au lait is coffee with hot milk."  # repaired by ir_datasets
    assert dl19.titles == ("", "", "")
    assert dl19.queries == {"19335": "anthropological definition of environment"}  # the judged one
    assert dl19.qrels == {"19335": {"0": 3, "1": 0, "2": 1}}  # graded, 0-3
    assert dl19.exclude_self_matches is False
    dl20 = load_dataset("irds:msmarco-passage/trec-dl-2020/judged")
    assert dl20.queries == {"1030303": "who is aziz hashim"} and dl20.qrels == {"1030303": {"1": 2, "0": 0}}
    assert dl20.corpus_fingerprint == dl19.corpus_fingerprint  # one collection: one cached index
    dev = load_dataset("irds:msmarco-passage/dev/small")
    assert dev.queries == {"1048585": "what is paula deen's brother"} and dev.dropped_queries == 1
    assert (home / "collection.tsv").is_file() and (home / "irds_version.txt").read_text() == "v2"


# -- BrowseComp-Plus: not in ir_datasets, a BEIR folder ------------------------------------


def test_browsecomp_plus_is_not_in_ir_datasets(irds):
    assert not [i for i in irds.registry if "browsecomp" in i.lower()]
    with pytest.raises(RobustestError, match="not found"):
        load_dataset("browsecomp-plus-that-is-not-a-folder")


def test_browsecomp_plus_as_a_beir_folder_with_golds_and_evidence(tmp_path, bm25):
    # The converted layout: one corpus and query file, one qrels file per judgement set.
    docs = {"d1": ("", "The 1998 paper on river ecology by an author born in Lima."), "d2": ("", "A list of river ecology journals."), "d3": ("", "Lima, capital of Peru.")}
    queries = {"q1": "Which river ecology paper from 1998 has an author born in Lima?"}
    folder = write_beir(tmp_path / "browsecomp-plus", docs, queries, {"q1": {"d1": 1}}, split="golds")
    write_beir(folder, docs, queries, {"q1": {"d1": 1, "d3": 1}}, split="evidence")
    golds = load_dataset(str(folder), "golds")
    evidence = load_dataset(str(folder), "evidence")
    assert golds.qrels == {"q1": {"d1": 1}} and evidence.qrels == {"q1": {"d1": 1, "d3": 1}}
    assert golds.corpus_fingerprint == evidence.corpus_fingerprint and golds.fingerprint != evidence.fingerprint
    assert task_instruction(str(folder)) == (TASKS["browsecomp-plus"], "BrowseComp-Plus's (Qwen3 web-search) task")
    with pytest.raises(RobustestError, match="pass one of the splits it has: evidence, golds"):
        load_dataset(str(folder), "test")
    assert CorpusIndex(bm25, golds).evaluate().mean("nDCG@10") == pytest.approx(1.0)
