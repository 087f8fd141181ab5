"""Pooling and padding: hand-made tensors, tiny random models, and the real SmolLM2."""

import numpy as np
import pytest
import torch

from robustest.retrievers import pooling
from robustest.retrievers.hf import EncoderConfig, HFEncoder

TEXTS = [
    "what similarity laws must be obeyed when constructing aeroelastic models",
    "heat conduction",
    "a rather longer query about the structural problems of high speed aircraft in flight",
    "wing",
]


def padded(rows, side):
    """Hidden states where token j of row i has value [i, j], padded on `side` with 99s."""
    width = max(rows)
    hidden = torch.full((len(rows), width, 2), 99.0)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, n in enumerate(rows):
        cols = range(n) if side == "right" else range(width - n, width)
        for j, c in enumerate(cols):
            hidden[i, c] = torch.tensor([i, j], dtype=torch.float)
            mask[i, c] = 1
    return hidden, mask


@pytest.mark.parametrize("side", ["left", "right"])
def test_pooling_reads_only_real_tokens_on_either_side(side):
    rows = [3, 5, 1]
    hidden, mask = padded(rows, side)
    assert pooling.last(hidden, mask)[:, 1].tolist() == [n - 1 for n in rows]
    assert pooling.cls(hidden, mask)[:, 1].tolist() == [0, 0, 0]
    assert pooling.mean(hidden, mask)[:, 1].tolist() == [(n - 1) / 2 for n in rows]
    assert pooling.max_tokens(hidden, mask)[:, 1].tolist() == [n - 1 for n in rows]


@pytest.mark.parametrize("side", ["left", "right"])
def test_without_prefix_drops_the_first_real_tokens(side):
    hidden, mask = padded([4, 6], side)
    masked = pooling.without_prefix(mask, torch.tensor([2, 2]))
    assert masked.sum(1).tolist() == [2, 4]
    # mean over tokens 2..n-1 only
    assert pooling.mean(hidden, masked)[:, 1].tolist() == [2.5, 3.5]


def tiny_model_dir(tmp_path, minilm_dir, kind):
    """A 2-layer random model that shares MiniLM's tokenizer (vocab 30522)."""
    from transformers import AutoTokenizer, BertConfig, BertModel, LlamaConfig, LlamaModel

    torch.manual_seed(0)
    common = dict(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    if kind == "bert":
        model = BertModel(BertConfig(**common, max_position_embeddings=128))
    else:
        model = LlamaModel(LlamaConfig(**common, num_key_value_heads=4, max_position_embeddings=128))
    folder = tmp_path / kind
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    return folder


def encoder(folder, config, **kw):
    return HFEncoder("tiny", folder, config, weights_digest="test", batch_size=kw.pop("batch_size", 3), progress=False, **kw)


@pytest.mark.parametrize("kind,pool", [("llama", "last"), ("llama", "mean"), ("bert", "cls"), ("bert", "mean")])
def test_left_and_right_padding_give_the_same_vectors(tmp_path, minilm_dir, kind, pool):
    folder = tiny_model_dir(tmp_path, minilm_dir, kind)
    left = encoder(folder, EncoderConfig(pooling=pool, padding_side="left")).encode(TEXTS)
    right = encoder(folder, EncoderConfig(pooling=pool, padding_side="right")).encode(TEXTS)
    alone = np.stack([encoder(folder, EncoderConfig(pooling=pool)).encode([t])[0] for t in TEXTS])
    if kind == "bert":
        # absolute position embeddings: left padding shifts them, which is why robustest
        # pads encoders on the right and uses left padding only for rotary decoders
        np.testing.assert_allclose(right, alone, atol=1e-5)
        return
    np.testing.assert_allclose(left, right, atol=1e-5)
    np.testing.assert_allclose(right, alone, atol=1e-5)


def test_length_sorted_batching_keeps_input_order(tmp_path, minilm_dir):
    folder = tiny_model_dir(tmp_path, minilm_dir, "bert")
    enc = encoder(folder, EncoderConfig(pooling="mean"), batch_size=2)
    together = enc.encode(TEXTS)
    reversed_ = enc.encode(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(together, reversed_, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_prompt_is_prefixed_and_masked_out_by_mean_no_prompt(tmp_path, minilm_dir):
    folder = tiny_model_dir(tmp_path, minilm_dir, "llama")
    prompt = "represent this query for retrieval : "
    plain = encoder(folder, EncoderConfig(pooling="mean", query_prompt=prompt)).encode_queries(TEXTS[:2])
    masked = encoder(folder, EncoderConfig(pooling="mean_no_prompt", query_prompt=prompt)).encode_queries(TEXTS[:2])
    no_prompt = encoder(folder, EncoderConfig(pooling="mean")).encode_queries(TEXTS[:2])
    assert not np.allclose(plain, no_prompt, atol=1e-4)  # the prompt reached the model
    assert not np.allclose(masked, plain, atol=1e-4)  # and was left out of the mean


def test_real_decoder_last_token_is_padding_side_invariant(smollm_gguf, cache_dir):
    """SmolLM2-135M (GGUF, dequantised once into the cache), last-token pooling."""
    kw = dict(gguf_file=smollm_gguf.name, convert_cache=cache_dir / "models")
    left = encoder(smollm_gguf.parent, EncoderConfig(pooling="last", padding_side="left"), batch_size=4, **kw)
    right = encoder(smollm_gguf.parent, EncoderConfig(pooling="last", padding_side="right"), batch_size=4, **kw)
    a, b = left.encode(TEXTS), right.encode(TEXTS)
    assert a.shape == (4, 576)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert left.tokenizer.padding_side == "left" and right.tokenizer.padding_side == "right"


# -- HotFlip's gradient path pools through the encoder's own code --------------------------


def hotflip_vectors(retriever, texts):
    """Each text's vector from WhiteBox's differentiable forward (input embeddings, not ids),
    next to the same texts as `encode_documents` makes them for the index (batched, padded)."""
    from robustest.attacks.hotflip import WhiteBox
    from robustest.attacks.targets import as_index_vectors

    box = WhiteBox(retriever)
    ids = [box.encode_text(t) for t in texts]
    grad_path = np.vstack([box.differentiable_vector(i)[0].detach().float().cpu().numpy() for i in ids])
    indexed = as_index_vectors(retriever.encode_documents([box.decode(i) for i in ids]), retriever.similarity)
    return grad_path, indexed


@pytest.mark.parametrize(
    "kind,config",
    [
        ("llama", EncoderConfig(pooling="last", doc_prompt="passage : ")),  # left padding, prompt in front
        ("llama", EncoderConfig(pooling="mean_no_prompt", doc_prompt="represent this passage : ")),
        ("bert", EncoderConfig(pooling="cls")),
        ("bert", EncoderConfig(pooling="max", normalize=False, similarity="dot")),  # raw vectors
    ],
)
def test_hotflip_vectors_equal_the_encoders_on_tiny_models(tmp_path, minilm_dir, kind, config):
    grad_path, indexed = hotflip_vectors(encoder(tiny_model_dir(tmp_path, minilm_dir, kind), config), TEXTS)
    np.testing.assert_allclose(grad_path, indexed, atol=1e-5)


def test_hotflip_vectors_equal_the_encoders_with_minilm(minilm):
    grad_path, indexed = hotflip_vectors(minilm, TEXTS)
    np.testing.assert_allclose(grad_path, indexed, atol=1e-5)
    assert np.allclose(np.linalg.norm(grad_path, axis=1), 1.0, atol=1e-5)


def test_pool_is_the_named_pooling_then_normalisation():
    hidden, mask = padded([3, 5], "right")
    np.testing.assert_allclose(pooling.pool(hidden, mask, "cls"), pooling.cls(hidden, mask))
    unit = pooling.pool(hidden, mask, "mean", normalize=True)
    np.testing.assert_allclose(unit, torch.nn.functional.normalize(pooling.mean(hidden, mask), dim=-1))
    # the prefix counts only for mean_no_prompt
    np.testing.assert_allclose(pooling.pool(hidden, mask, "mean", prefix=2), pooling.mean(hidden, mask))
    np.testing.assert_allclose(pooling.pool(hidden, mask, "mean_no_prompt", prefix=2)[:, 1], [2.0, 3.0])
