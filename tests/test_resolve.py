"""--retriever resolution: presets, folders, GGUF, factories, hub ids; fingerprints."""

import json
import shutil

import pytest

from robustest.errors import RobustestError
from robustest.retrievers.presets import PRESETS, find_preset, task_instruction
from robustest.retrievers.resolve import LoadOptions, resolve_retriever


def test_default_resolves_to_the_packaged_minilm(minilm_dir):
    r = resolve_retriever(None)
    assert r.kind == "default" and r.folder.model_dir == minilm_dir
    c = r.folder.config
    assert (c.pooling, c.normalize, c.similarity, c.max_length) == ("mean", True, "cosine", 256)


def test_the_ten_paper_presets_by_name_and_hf_id():
    assert len(PRESETS) == 10
    for preset in PRESETS:
        assert find_preset(preset.name) is preset
        assert find_preset(preset.hf_id.upper()) is preset
    qwen = find_preset("Qwen/Qwen3-Embedding-0.6B").encoder_config("nq")
    assert qwen.query_prompt == "Instruct: Given a question, retrieve Wikipedia passages that answer the question\nQuery:"
    assert (qwen.pooling, qwen.padding_side, qwen.doc_prompt) == ("last", "left", "")
    reasonir = find_preset("reasonir-8b").encoder_config("scifact")
    assert reasonir.pooling == "mean_no_prompt" and reasonir.query_prompt.startswith("<|user|>\nGiven a scientific claim")
    contriever = find_preset("contriever-msmarco").config
    assert (contriever.similarity, contriever.normalize, contriever.query_prompt) == ("dot", False, "")
    diver = find_preset("diver-retriever-4b").encoder_config("nq")  # one fixed instruction for all data
    assert "web search query" in diver.query_prompt and diver.doc_prompt == "Represent this text:"


def test_task_lookup_handles_beir_sub_collections():
    assert task_instruction("cqadupstack-android") == task_instruction("cqadupstack")
    assert "Wikipedia" in task_instruction("NQ")[0]
    assert task_instruction("some-private-collection")[0] == task_instruction("msmarco")[0]


def test_a_preset_not_in_the_local_cache_is_one_clear_error(monkeypatch, tmp_path):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(RobustestError, match="not in the Hugging Face cache") as info:
        resolve_retriever("qwen3-embedding-8b")
    assert str(info.value).startswith("preset qwen3-embedding-8b (Qwen/Qwen3-Embedding-8B) is not")
    assert "--robustest-allow-download" in str(info.value)


def test_a_hub_id_in_the_local_cache_resolves_offline(minilm_dir, tmp_path, monkeypatch):
    """Lay out a real HF cache entry (blobs + snapshot symlinks) and resolve it offline."""
    repo = tmp_path / "hub" / "models--someone--tiny-minilm"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    shutil.copytree(minilm_dir, snapshot)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    r = resolve_retriever("someone/tiny-minilm")
    assert r.kind == "hub" and r.folder.model_dir == snapshot
    assert r.folder.config.pooling == "mean"


def test_sentence_transformers_folder_config_is_read(minilm_dir, tmp_path):
    folder = tmp_path / "st"
    shutil.copytree(minilm_dir, folder)
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": "passage: "}, "similarity_fn_name": "cosine"})
    )
    r = resolve_retriever(str(folder))
    c = r.folder.config
    assert (r.kind, c.pooling, c.query_prompt, c.doc_prompt) == ("local", "cls", "query: ", "passage: ")
    assert resolve_retriever(str(folder), LoadOptions(pooling="max")).folder.config.pooling == "max"

    pooling.update(pooling_mode_weightedmean_tokens=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(RobustestError, match="not supported"):
        resolve_retriever(str(folder))


def test_plain_folder_guesses_pooling_from_the_architecture(minilm_dir, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(minilm_dir / name, folder / name)
    r = resolve_retriever(str(folder))
    assert r.folder.config.pooling == "mean" and "set --robustest-pooling" in r.folder.source
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["LlamaForCausalLM"]}))
    assert resolve_retriever(str(folder)).folder.config.pooling == "last"


def test_gguf_file_and_folder(smollm_gguf):
    by_file = resolve_retriever(str(smollm_gguf))
    by_folder = resolve_retriever(str(smollm_gguf.parent))
    assert by_file.folder.gguf_file == by_folder.folder.gguf_file == smollm_gguf.name
    assert by_file.folder.config.pooling == "last"
    assert by_file.fingerprint(LoadOptions()) == by_folder.fingerprint(LoadOptions())


def test_fingerprint_follows_everything_that_changes_vectors(minilm_dir, tmp_path):
    base = resolve_retriever("default")
    fp = base.fingerprint(LoadOptions())
    assert fp == resolve_retriever("default").fingerprint(LoadOptions())
    assert fp != base.fingerprint(LoadOptions(max_length=128))
    assert fp != base.fingerprint(LoadOptions(dtype="bfloat16"))
    assert fp != resolve_retriever("default", LoadOptions(pooling="cls")).fingerprint(LoadOptions())
    # the same files elsewhere are the same model; changed weights are not
    copy = tmp_path / "copy"
    shutil.copytree(minilm_dir, copy)
    assert resolve_retriever(str(copy)).fingerprint(LoadOptions()) == fp
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert resolve_retriever(str(copy)).fingerprint(LoadOptions()) != fp


def test_factory_spec_errors():
    with pytest.raises(RobustestError, match="cannot import module 'no_such_module_xyz'"):
        resolve_retriever("no_such_module_xyz:make")
    with pytest.raises(RobustestError, match="write module:factory"):
        resolve_retriever("json:")
