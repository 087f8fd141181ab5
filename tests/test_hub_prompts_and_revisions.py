"""Hugging Face and BEIR conventions: named sentence-transformers prompts, prompt and instruction
overrides, the task instruction from the dataset's real name, `id@revision`, opt-in remote code,
and the message for a preset that is not in the Hugging Face cache."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robustest.errors import RobustestError
from robustest.retrievers.local import st_prompt_names
from robustest.retrievers.presets import TASKS, find_preset, task_instruction
from robustest.retrievers.resolve import LoadOptions, resolve_retriever

QWEN = "Qwen/Qwen3-Embedding-0.6B"
COMMIT_A = "a" * 40
COMMIT_B = "b" * 40
BEIR = (
    "arguana climate-fever cqadupstack dbpedia-entity fever fiqa hotpotqa msmarco nfcorpus nq "
    "quora scidocs scifact trec-covid webis-touche2020"
).split()


def linked_copy(source: Path, target: Path) -> Path:
    """A model folder whose files link to `source`'s (so the weights are not copied)."""
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_dir():
            linked_copy(item, target / item.name)
        else:
            (target / item.name).symlink_to(item)
    return target


def st_folder(tmp_path, minilm_dir, st_config: dict, name="st") -> Path:
    folder = linked_copy(minilm_dir, tmp_path / name)
    (folder / "config_sentence_transformers.json").unlink()
    (folder / "config_sentence_transformers.json").write_text(json.dumps(st_config))
    return folder


@pytest.fixture
def hf_cache(tmp_path, monkeypatch, minilm_dir):
    """A Hugging Face cache holding MiniLM's files as two commits of Qwen3-Embedding-0.6B:
    main -> COMMIT_A, tag v2 -> COMMIT_B (same files: only the revision differs)."""
    import huggingface_hub.constants as c

    hub = tmp_path / "hub"
    repo = hub / "models--Qwen--Qwen3-Embedding-0.6B"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT_A)
    (repo / "refs" / "v2").write_text(COMMIT_B)
    for commit in (COMMIT_A, COMMIT_B):
        linked_copy(minilm_dir, repo / "snapshots" / commit)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(hub))
    return repo


# -- sentence-transformers prompts by any name ---------------------------------------------


def test_prompt_names_are_mapped_like_sentence_transformers_and_beyond():
    nomic = {"search_query": "search_query: ", "search_document": "search_document: ", "classification": "c: ", "clustering": "k: "}
    assert st_prompt_names(nomic, None) == ("search_query", "search_document", ["classification", "clustering"])
    # the exact names win over names that contain them
    both = {"search_query": "s: ", "query": "q: ", "passage": "p: ", "corpus_doc": "d: "}
    assert st_prompt_names(both, None) == ("query", "passage", ["search_query", "corpus_doc"])
    # default_prompt_name: used for queries and, as sentence-transformers does, for documents
    assert st_prompt_names({"retrieval": "r: ", "other": "o: "}, "retrieval") == ("retrieval", "retrieval", ["other"])
    assert st_prompt_names({"Query_Short": "q: "}, None) == ("Query_Short", None, [])
    assert st_prompt_names({}, "missing") == (None, None, [])


def test_named_prompts_reach_the_encoder_and_the_unused_ones_are_shown(minilm_dir, tmp_path):
    folder = st_folder(
        tmp_path,
        minilm_dir,
        {"prompts": {"search_query": "search_query: ", "search_document": "search_document: ", "classification": "classification: "}},
    )
    r = resolve_retriever(str(folder))
    c = r.folder.config
    assert (c.query_prompt, c.doc_prompt) == ("search_query: ", "search_document: ")
    text = r.describe(LoadOptions())
    assert "prompts not used: classification" in text
    assert "query 'search_query: '" in text and "document 'search_document: '" in text
    # overrides: a prompt of its own, and "" for none
    opts = LoadOptions(query_prompt="q: ", doc_prompt="")
    assert (r.encoder_config(opts).query_prompt, r.encoder_config(opts).doc_prompt) == ("q: ", "")
    assert "(--robustest-query-prompt)" in r.describe(opts) and "no document prompt (--robustest-doc-prompt)" in r.describe(opts)
    assert r.fingerprint(opts) != r.fingerprint(LoadOptions())


@pytest.mark.parametrize(
    "st_config,query_name,doc_name",
    [
        ({"prompts": {"query": "query: ", "passage": "passage: "}}, "query", "passage"),
        # default_prompt_name: what sentence-transformers' encode() applies when no prompt is named
        ({"prompts": {"retrieval": "Represent this for retrieval: ", "classification": "c: "}, "default_prompt_name": "retrieval"}, None, None),
    ],
)
def test_vectors_match_sentence_transformers_with_the_mapped_prompt(minilm_dir, tmp_path, st_config, query_name, doc_name):
    """Compared with explicit prompt names (or plain encode() for the default prompt): since 5.x,
    sentence-transformers' encode_document adds an empty "document" prompt and so skips
    "passage" and the default, which its own docs say it checks."""
    from sentence_transformers import SentenceTransformer

    folder = st_folder(tmp_path, minilm_dir, st_config)
    texts = ["what causes diabetes", "Insulin resistance is a main cause of type 2 diabetes."]
    opts = LoadOptions(progress=False, device="cpu")
    ours = resolve_retriever(str(folder), opts).load(opts)
    st = SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_allclose(ours.encode_queries(texts), st.encode(texts, prompt_name=query_name), atol=1e-5)
    np.testing.assert_allclose(ours.encode_documents(texts), st.encode(texts, prompt_name=doc_name), atol=1e-5)
    # and the prompts did change the vectors (the checks above are not vacuous)
    assert not np.allclose(ours.encode_documents(texts), ours.encode(texts), atol=1e-3)


# -- the task instruction from the dataset's real name ---------------------------------------


@pytest.mark.parametrize(
    "spec,key",
    [
        ("irds:beir/scifact/test", "scifact"),
        ("irds:beir/cqadupstack/android", "cqadupstack"),
        ("irds:msmarco-passage/dev/small", "msmarco"),
        ("irds:beir/webis-touche2020/v2", "webis-touche2020"),
        ("irds:cord19/trec-covid", "trec-covid"),
        ("irds:dpr-w100/natural-questions/dev", "nq"),
        ("beir/fiqa/test", "fiqa"),  # a bare ir_datasets id, as load_dataset accepts
        ("data/NFCorpus", "nfcorpus"),
        ("/data/beir/trec-covid/", "trec-covid"),
        ("beir-scifact", "scifact"),
        ("scifact-test", "scifact"),
        ("nq-train", "nq"),
        ("Climate_FEVER", "climate-fever"),
        ("cqadupstack-android", "cqadupstack"),
    ],
)
def test_known_collections_get_their_e5_qwen3_instruction(spec, key):
    instruction, source = task_instruction(spec)
    assert instruction == TASKS[key] and source == f"E5/Qwen3 task for {key}"


@pytest.mark.parametrize("spec", ["our-beir-set", "data/our-beir-set", "my-scifact-v2", "scifact2", "irds:cranfield", "irds:antique/test"])
def test_unknown_collections_get_the_generic_instruction_and_say_so(spec):
    instruction, source = task_instruction(spec)
    assert instruction == TASKS["msmarco"]
    assert source.startswith("no known task for") and "set --robustest-instruction" in source


def test_instruction_sources():
    assert task_instruction("irds:beir/scifact/test", "Find it") == ("Find it", "--robustest-instruction")
    assert task_instruction("default")[0] == task_instruction("")[0] == TASKS["wordnet-senses"]
    assert "embedded" in task_instruction("default")[1] and "embedded" in task_instruction("/cache/wordnet-senses")[1]
    from robustest.data.default_collection import DEFAULT_DATASET_NAME

    assert task_instruction(DEFAULT_DATASET_NAME) == task_instruction("default")
    assert "'our-beir-set'" in task_instruction("data/our-beir-set")[1]
    assert set(BEIR) <= set(TASKS)
    assert TASKS["nq"] == "Given a question, retrieve Wikipedia passages that answer the question"


def test_cqadupstack_forum_folders_as_beir_unpacks_them(tmp_path):
    forum = tmp_path / "cqadupstack" / "android"
    forum.mkdir(parents=True)
    assert task_instruction(str(forum))[1] == "E5/Qwen3 task for cqadupstack"
    other = tmp_path / "forums" / "android"
    other.mkdir(parents=True)
    assert task_instruction(str(other))[1].startswith("no known task for 'android'")


def test_a_preset_fills_the_instruction_of_the_dataset_and_shows_it(hf_cache):
    scifact = LoadOptions(dataset_name="irds:beir/scifact/test")
    r = resolve_retriever("qwen3-embedding-0.6b", scifact)
    assert r.encoder_config(scifact).query_prompt == f"Instruct: {TASKS['scifact']}\nQuery:"
    text = r.describe(scifact)
    assert "instruction: E5/Qwen3 task for scifact" in text and "Given a scientific claim" in text
    ours = LoadOptions(dataset_name="data/our-beir-set")
    assert "no known task for 'our-beir-set'" in r.describe(ours)
    override = LoadOptions(dataset_name="irds:beir/scifact/test", instruction="Find the proof")
    assert r.encoder_config(override).query_prompt == "Instruct: Find the proof\nQuery:"
    assert "instruction: --robustest-instruction" in r.describe(override)
    assert len({r.fingerprint(o) for o in (scifact, ours, override)}) == 3
    # a preset with one fixed instruction keeps it, unless overridden
    diver = find_preset("diver-retriever-4b")
    assert diver.instruction("irds:beir/scifact/test")[0] == TASKS["msmarco"]
    assert diver.instruction("irds:beir/scifact/test", "X") == ("X", "--robustest-instruction")


# -- org/model@revision ----------------------------------------------------------------------


def test_a_revision_picks_its_snapshot_and_enters_the_fingerprint(hf_cache):
    opts = LoadOptions()
    plain = resolve_retriever(QWEN, opts)
    assert plain.folder.model_dir == hf_cache / "snapshots" / COMMIT_A and plain.revision is None
    by_commit = resolve_retriever(f"{QWEN}@{COMMIT_B}", opts)
    by_tag = resolve_retriever("qwen3-embedding-0.6b@v2", opts)
    by_option = resolve_retriever(QWEN, LoadOptions(revision="v2"))
    assert by_commit.folder.model_dir == by_tag.folder.model_dir == by_option.folder.model_dir == hf_cache / "snapshots" / COMMIT_B
    assert (by_commit.kind, by_commit.revision, by_commit.label) == ("preset", COMMIT_B, f"{QWEN}@{COMMIT_B}")
    assert by_tag.label == "Qwen/Qwen3-Embedding-0.6B@v2" and by_tag.revision == COMMIT_B
    assert f"revision v2 (commit {COMMIT_B})" in by_tag.describe(opts)
    # the same files: the pinned commit tells them apart; one commit pinned two ways is one model
    assert by_commit.fingerprint(opts) == by_tag.fingerprint(opts) == by_option.fingerprint(opts)
    assert plain.fingerprint(opts) != by_commit.fingerprint(opts)
    assert plain.fingerprint(opts) != resolve_retriever(f"{QWEN}@main", opts).fingerprint(opts)


def test_the_loaded_encoder_keeps_the_revision_in_its_fingerprint(hf_cache):
    opts = LoadOptions(progress=False, device="cpu", dataset_name="irds:beir/nq/test")
    r = resolve_retriever(f"{QWEN}@v2", opts)
    encoder = r.load(opts)
    assert encoder.fingerprint == r.fingerprint(opts)
    assert encoder.describe()["revision"] == COMMIT_B and encoder.name == f"{QWEN}@v2"
    assert encoder.config.query_prompt == f"Instruct: {TASKS['nq']}\nQuery:"


def test_revision_errors(hf_cache, minilm_dir, monkeypatch):
    with pytest.raises(RobustestError, match="at revision nope is not in the Hugging Face cache"):
        resolve_retriever(f"{QWEN}@nope")
    with pytest.raises(RobustestError, match="pins revision v2, but the revision option says v3"):
        resolve_retriever(f"{QWEN}@v2", LoadOptions(revision="v3"))
    with pytest.raises(RobustestError, match="a revision pins a Hugging Face hub model"):
        resolve_retriever(str(minilm_dir), LoadOptions(revision="v2"))
    with pytest.raises(RobustestError, match="write org/model@revision"):
        resolve_retriever(f"{QWEN}@")


def test_a_local_path_with_an_at_sign_is_a_path(minilm_dir, tmp_path):
    folder = linked_copy(minilm_dir, tmp_path / "ckpt@1200")
    r = resolve_retriever(str(folder))
    assert r.kind == "local" and r.revision is None


# -- remote code is opt-in -------------------------------------------------------------------

CUSTOM_CODE = '''
from transformers import BertModel


class CustomModel(BertModel):
    """Marks that the folder's own code ran."""
'''


def test_a_folder_with_its_own_code_needs_the_opt_in(minilm_dir, tmp_path, monkeypatch):
    import transformers.dynamic_module_utils as dmu
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path / "custom"
    BertModel(BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_custom.py").write_text(CUSTOM_CODE)

    with pytest.raises(RobustestError) as info:
        resolve_retriever(str(folder))
    message = str(info.value)
    assert "--robustest-trust-remote-code" in message and "modeling_custom.CustomModel" in message

    # transformers copies the code into its modules cache: keep that in tmp_path
    monkeypatch.setattr(dmu, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    opts = LoadOptions(trust_remote_code=True, progress=False, device="cpu")
    r = resolve_retriever(str(folder), opts)
    assert "its own code" in r.describe(opts)
    encoder = r.load(opts)
    assert type(encoder.model).__name__ == "CustomModel"  # without the flag transformers would use BertModel
    assert encoder.encode_queries(["a query"]).shape == (1, 64)


# -- a preset that is not in the cache -------------------------------------------------------


def test_an_uncached_preset_says_so_offline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_CACHE", None)
    code = (
        "from robustest.retrievers.resolve import resolve_retriever\n"
        "try:\n    resolve_retriever('bge-m3')\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    assert out.startswith(
        "RobustestError preset bge-m3 (BAAI/bge-m3) is not in the Hugging Face cache; run once with "
        "--robustest-allow-download (online) or pass a local folder"
    )
    assert "HF_HUB_OFFLINE is set" in out and str(tmp_path / "hf") in out
    assert "not a preset" not in out
