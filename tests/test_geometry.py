"""Geometry: IsoScore against its definition and its known values, the pair statistics against
brute force, spectral norms against numpy's SVD, and real models on real cranfield text."""

import math

import numpy as np
import pytest

from robustest import geometry as geo


def isoscore_by_the_steps(points):
    """Rudman et al.'s algorithm step by step, with an explicit PCA rotation (no eigenvalues)."""
    x = np.asarray(points, dtype=float)
    n = x.shape[1]
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=True)
    rotated = centred @ vt.T  # the points in their principal-component coordinates
    variances = np.array([rotated[:, j].var() for j in range(n)])
    scaled = math.sqrt(n) * variances / math.sqrt(sum(v * v for v in variances))
    delta = math.sqrt(sum((s - 1) ** 2 for s in scaled)) / math.sqrt(2 * (n - math.sqrt(n)))
    return ((n - delta**2 * (n - math.sqrt(n))) ** 2 - n) / (n * (n - 1))


def test_isoscore_of_isotropic_gaussian_is_one():
    x = np.random.default_rng(0).normal(size=(50_000, 16))
    assert geo.isoscore(x) > 0.995


def test_isoscore_of_rank_one_data_is_zero():
    rng = np.random.default_rng(1)
    direction = rng.normal(size=64)
    x = rng.normal(size=(300, 1)) * direction + 3.0  # offset: the mean must not matter
    assert geo.isoscore(x) < 1e-9


@pytest.mark.parametrize("k", [1, 4, 10, 32])
def test_isoscore_is_the_share_of_dimensions_used(k):
    """Equal variance on exactly k of n orthogonal directions gives (k - 1) / (n - 1)."""
    n = 32
    rng = np.random.default_rng(k)
    z = rng.normal(size=(400, k))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T)).T) if k > 1 else z  # whiten exactly
    basis, _ = np.linalg.qr(rng.normal(size=(n, n)))
    x = z @ basis[:, :k].T
    assert geo.isoscore(x) == pytest.approx((k - 1) / (n - 1), abs=1e-9)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_isoscore_equals_the_step_by_step_algorithm(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    scales = rng.gamma(0.5, size=n)  # uneven variances: a value strictly inside (0, 1)
    x = rng.normal(size=(int(rng.integers(n + 5, 300)), n)) * scales @ np.linalg.qr(rng.normal(size=(n, n)))[0]
    ours, reference = geo.isoscore(x), isoscore_by_the_steps(x)
    assert 0.01 < reference < 0.99
    assert ours == pytest.approx(reference, abs=1e-9)


def test_average_cosine_is_seeded_and_pairs_distinct_rows():
    assert geo.average_cosine(np.eye(2), pairs=1000) == 0.0  # a row paired with itself would give 1
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 8)) + 2.0  # a common offset: positive cosines
    a, b = geo.average_cosine(x, seed=7), geo.average_cosine(x, seed=7)
    assert a == b
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    all_pairs = (unit @ unit.T)[np.triu_indices(200, 1)].mean()
    assert a == pytest.approx(all_pairs, abs=0.01)
    assert geo.average_cosine(np.ones((5, 3)) * [1, 2, 3]) == pytest.approx(1.0)


def test_uniformity_and_alignment_against_brute_force():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, 5))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    potentials = [math.exp(-2 * np.sum((unit[i] - unit[j]) ** 2)) for i in range(30) for j in range(i + 1, 30)]
    assert geo.uniformity(x) == pytest.approx(math.log(np.mean(potentials)), rel=1e-10)
    assert geo.uniformity(np.ones((4, 3))) == pytest.approx(0.0)  # one point: no spread at all
    q, p = rng.normal(size=(12, 5)), rng.normal(size=(12, 5))
    qu, pu = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (q, p))
    assert geo.alignment(q, p) == pytest.approx(np.mean([np.sum((a - b) ** 2) for a, b in zip(qu, pu)]))
    assert geo.alignment(q, q * 3) == pytest.approx(0.0, abs=1e-12)


def test_spectral_norms_of_a_tiny_bert_leave_out_the_pooler():
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96))
    norms = geo.spectral_norms(model)
    assert len(norms) == 2 * 6 and not any("pooler" in name for name in norms)
    for name, module in geo.linear_layers(model):
        assert norms[name] == pytest.approx(np.linalg.svd(module.weight.detach().numpy(), compute_uv=False)[0], rel=1e-5)
    summary = geo.spectral_summary(norms)
    values = list(norms.values())
    assert summary["spectral_norm_last"] == norms["encoder.layer.1.output.dense"] == values[-1]
    assert summary["spectral_norm_max"] == max(values) and summary["spectral_norm_std"] == pytest.approx(np.std(values))
    assert geo.spectral_summary({})["spectral_norm_mean"] is None


def test_spectral_norms_of_a_causal_lm_leave_out_the_lm_head():
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, vocab_size=100))
    names = list(geo.spectral_norms(model))
    assert len(names) == 2 * 7 and "lm_head" not in names


@pytest.fixture(scope="module")
def small_index(minilm, small_cranfield, cache_dir):
    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir
    from robustest.retrieval import CorpusIndex

    return CorpusIndex(minilm, load_beir(small_cranfield), cache=EmbeddingCache(cache_dir))


def test_minilm_geometry_on_real_text(small_index):
    g = geo.index_geometry(small_index, sample=100)
    assert g["sample"] == 100 and g["documents"] == 150
    assert 0 < g["isoscore"] < 1 and 0 < g["average_cosine"] < 0.5 and g["uniformity"] < 0
    # Query-positive pairs sit closer than random document pairs (2 - 2 cos on the sphere).
    assert g["alignment"] < 2 * (1 - g["average_cosine"])
    assert g["alignment_pairs"] == sum(1 for q in small_index.dataset.queries for r in small_index.dataset.qrels[q].values() if r > 0)
    # 6 layers x (query, key, value, attention output, intermediate, output); no pooler.
    assert g["linear_layers"] == 36 and g["spectral_norm_min"] <= g["spectral_norm_mean"] <= g["spectral_norm_max"]
    assert geo.index_geometry(small_index, sample=100) == g  # seeded: the same numbers again
    assert geo.index_geometry(small_index, sample=100, seed=5)["isoscore"] != g["isoscore"]
    line = geo.geometry_line(g)
    assert line.startswith("geometry: isoscore=") and "average cosine=" in line


def test_smollm2_is_far_more_anisotropic_than_minilm(small_index, smollm_gguf, small_cranfield, cache_dir):
    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir
    from robustest.retrieval import CorpusIndex
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    opts = LoadOptions(cache_dir=cache_dir, progress=False)
    smol = resolve_retriever(str(smollm_gguf), opts).load(opts)
    ours = geo.index_geometry(small_index)
    theirs = geo.index_geometry(CorpusIndex(smol, load_beir(small_cranfield), cache=EmbeddingCache(cache_dir)))
    assert theirs["average_cosine"] > ours["average_cosine"] + 0.3
    assert theirs["isoscore"] < ours["isoscore"]
    assert theirs["linear_layers"] == 30 * 7  # no lm_head in the embedding model


def test_lexical_retriever_has_no_geometry(small_cranfield):
    from robustest.data import load_beir
    from robustest.errors import RobustestError
    from robustest.retrieval import CorpusIndex
    from robustest.retrievers.bm25 import BM25Retriever

    with pytest.raises(RobustestError, match="lexical"):
        geo.index_geometry(CorpusIndex(BM25Retriever(), load_beir(small_cranfield)))
