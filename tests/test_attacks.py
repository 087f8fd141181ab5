"""Corpus poisoning, piece by piece, on real models and data: who is clustered, the HotFlip
objective, the decoder path, ASR@k against an explicitly poisoned FAISS index, the cache."""

from __future__ import annotations

import numpy as np
import pytest

from robustest.attacks import (
    ATTACKS,
    HotFlipConfig,
    PassageCache,
    Poisoning,
    attack_queries,
    cluster_queries,
    hotflip_passages,
    random_gold_passages,
    split_for_attack,
)
from robustest.attacks.hotflip import WhiteBox
from robustest.attacks.targets import as_index_vectors
from robustest.cache import EmbeddingCache
from robustest.data import load_beir, load_dataset
from robustest.errors import RobustestError
from robustest.retrieval import CorpusIndex


class Spy:
    """The retriever under test, recording every text it is asked to encode as a query."""

    def __init__(self, inner):
        self._inner = inner
        self.query_texts: list[str] = []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def encode_queries(self, texts):
        self.query_texts += list(texts)
        return self._inner.encode_queries(texts)


@pytest.fixture(scope="module")
def small_index(minilm, small_cranfield, cache_dir):
    return CorpusIndex(minilm, load_beir(small_cranfield), cache=EmbeddingCache(cache_dir))


# -- test queries never reach the attacker -----------------------------------------------


def test_held_out_split_is_disjoint_and_fixed(small_cranfield):
    dataset = load_beir(small_cranfield)
    queries = split_for_attack(dataset)  # no train split: half the judged queries, by id hash
    assert set(queries.train).isdisjoint(queries.test)
    assert set(queries.train) | set(queries.test) == set(dataset.queries)
    assert {t.lower() for t in queries.train.values()}.isdisjoint(t.lower() for t in queries.test.values())
    assert len(queries.train) == 10 and "held out 10 of the 20" in queries.source
    assert split_for_attack(dataset) == queries  # the same split every time, whatever the seed
    assert set(queries.gold) == set(queries.train)  # every training query has a judged document


def test_a_train_split_loses_every_query_that_is_also_a_test_query(small_cranfield, tmp_path):
    import shutil

    folder = tmp_path / "with-train"
    shutil.copytree(small_cranfield, folder)
    dataset = load_beir(folder)
    test_ids = sorted(dataset.queries, key=int)
    doc = dataset.doc_ids[0]
    with open(folder / "queries.jsonl", "a") as f:
        f.write('{"_id": "t1", "text": "a training query about wings"}\n')
        f.write(f'{{"_id": "t2", "text": "{dataset.queries[test_ids[1]].upper()}"}}\n')  # a test query's text, another id
    (folder / "qrels" / "train.tsv").write_text(f"query-id\tcorpus-id\tscore\nt1\t{doc}\t1\nt2\t{doc}\t1\n{test_ids[0]}\t{doc}\t1\n")
    queries = split_for_attack(load_beir(folder))
    assert set(queries.train) == {"t1"} and queries.removed == 2
    assert set(queries.test) == set(test_ids)  # every test query is attacked
    assert queries.gold == {"t1": dataset.documents[0]}


def test_test_queries_never_reach_the_clustering(minilm, cache_dir, small_cranfield):
    """Through the whole pipeline: what the attacker encodes and clusters is training queries only."""
    for dataset in (load_dataset("default", cache_dir=cache_dir), load_beir(small_cranfield)):
        spy = Spy(minilm)
        index = CorpusIndex(spy, dataset, cache=EmbeddingCache(cache_dir))
        queries = split_for_attack(dataset)
        test_texts = set(queries.test.values())
        poisoning = Poisoning(index, queries, hotflip=HotFlipConfig(iterations=1, pool=4, tokens=12), seeds=(1999, 5), progress=False)
        n = min(5, len(queries.train))
        for seed in poisoning.seeds:
            for cluster in poisoning.clusters(seed, n):
                assert set(cluster.query_ids) <= set(queries.train)
        assert spy.query_texts and not test_texts & set(spy.query_texts)  # before any measuring
        passages = poisoning.passages("hotflip", n, 1999)[0] + poisoning.passages("query_copy", n, 1999)[0]
        assert all(set(p.query_ids) <= set(queries.train) for p in passages)
        assert not any(t in p.text for p in passages for t in test_texts)
        assert not test_texts & set(spy.query_texts)


# -- HotFlip ------------------------------------------------------------------------------


def test_hotflip_objective_never_decreases_over_accepted_steps(small_index):
    """Each accepted swap raises the mean similarity to the cluster, re-measured from the
    passage text at every iteration (the text that would be indexed), not just the trace."""
    queries = split_for_attack(small_index.dataset)
    retriever = small_index.retriever
    vectors = retriever.encode_queries(list(queries.train.values()))
    clusters = cluster_queries(list(queries.train), vectors, 2, seed=5, similarity=retriever.similarity)
    iterations = 8
    passages = hotflip_passages(
        retriever, queries, clusters, HotFlipConfig(tokens=30, iterations=iterations, pool=16), seed=5, progress=False, snapshots=range(iterations + 1)
    )
    accepted_total = 0
    for p, cluster in zip(passages, clusters):
        trace = np.array(p.trace)
        assert len(trace) == iterations + 1 and len(p.token_ids) == 30
        assert np.all(np.diff(trace) >= 0)
        steps = np.diff(trace)
        assert set(np.flatnonzero(steps > 0) + 1) == set(p.accepted)  # up exactly where a swap was kept
        texts = [p.extra["snapshots"][i] for i in range(iterations + 1)]
        again = cluster.objective(retriever.encode_documents(texts), retriever.similarity)
        assert np.allclose(again, trace, atol=1e-5)
        assert np.all(np.diff(again) >= -1e-5)
        assert retriever.encode_documents([p.text]).shape == (1, retriever.dimension)
        accepted_total += len(p.accepted)
    assert accepted_total > 0 and passages[0].trace[-1] > passages[0].trace[0]


def test_hotflip_passages_are_text_that_tokenizes_back_to_the_optimised_tokens(small_index):
    box = WhiteBox(small_index.retriever)
    queries = split_for_attack(small_index.dataset)
    vectors = small_index.retriever.encode_queries(list(queries.train.values()))
    clusters = cluster_queries(list(queries.train), vectors, 1, seed=1, similarity="cosine")
    (p,) = hotflip_passages(small_index.retriever, queries, clusters, HotFlipConfig(tokens=25, iterations=3, pool=8), seed=1, progress=False)
    assert box.encode_text(p.text) == list(p.token_ids)
    assert not set(p.token_ids) & set(box.tokenizer.all_special_ids)
    # gold initialisation: the passage starts from the nearest training query's judged document
    start = box.encode_text(queries.gold[clusters[0].query_ids[0]])[:25]
    assert sum(a == b for a, b in zip(start, p.token_ids)) >= 25 - 3


def small_clusters(small_index, n: int, seed: int = 3):
    queries = split_for_attack(small_index.dataset)
    retriever = small_index.retriever
    vectors = retriever.encode_queries(list(queries.train.values()))
    return queries, cluster_queries(list(queries.train), vectors, n, seed=seed, similarity=retriever.similarity)


def same_passages(a, b) -> bool:
    return [(p.cluster, p.token_ids, p.trace, p.accepted) for p in a] == [(p.cluster, p.token_ids, p.trace, p.accepted) for p in b]


@pytest.mark.parametrize("screen", [0, 3])
def test_hotflip_passages_do_not_depend_on_which_others_run_in_lockstep(small_index, screen):
    """A cluster's passage is the same alone, first, or inside a group: its own random stream,
    and batched forwards that do not mix rows."""
    queries, clusters = small_clusters(small_index, 3)
    config = HotFlipConfig(tokens=20, iterations=4, pool=8, screen=screen)
    together = hotflip_passages(small_index.retriever, queries, clusters, config, seed=11, progress=False)
    alone = [hotflip_passages(small_index.retriever, queries, [c], config, seed=11, progress=False)[0] for c in (clusters[2], clusters[0])]
    assert same_passages(alone, [together[2], together[0]])
    assert all(p.extra["seconds"] == together[0].extra["seconds"] > 0 for p in together)  # the lockstep's time, shared
    assert len({p.token_ids for p in together}) == 3


def test_hotflip_reusing_an_unchanged_passages_gradient_changes_nothing(small_index, monkeypatch):
    """No swap kept: the tokens did not change, so neither did the gradient; reusing it gives
    exactly the passages that recomputing gives, with fewer gradient passes."""
    queries, clusters = small_clusters(small_index, 2)
    config = HotFlipConfig(tokens=16, iterations=6, pool=2)  # a small pool: some iterations keep nothing
    computed = []
    original = WhiteBox.gradients

    def counting(self, passages, targets):
        computed.append(len(passages))
        return original(self, passages, targets)

    monkeypatch.setattr(WhiteBox, "gradients", counting)
    reused = hotflip_passages(small_index.retriever, queries, clusters, config, seed=2, progress=False)
    with_reuse = sum(computed)
    recomputed = hotflip_passages(small_index.retriever, queries, clusters, config, seed=2, progress=False, reuse_gradients=False)
    assert sum(computed) - with_reuse == 2 * 6  # every passage, every iteration
    # once per passage at the start, then once after each swap kept before the last iteration
    kept = sum(len([i for i in p.accepted if i < 6]) for p in reused)
    assert with_reuse == 2 + kept < 2 * 6
    assert same_passages(reused, recomputed)


def test_hotflip_screening_accepts_only_exact_improvements(small_index):
    """With a reduced-precision screen, what is kept is still judged in full precision: the
    trace is the passage's own objective as indexed, and never goes down."""
    queries, clusters = small_clusters(small_index, 2)
    retriever = small_index.retriever
    config = HotFlipConfig(tokens=20, iterations=5, pool=12, screen=2)
    passages = hotflip_passages(retriever, queries, clusters, config, seed=4, progress=False, snapshots=range(6))
    box = WhiteBox(retriever)
    if box.screen_dtype is not None:
        assert passages[0].extra["screened_with"] in ("bfloat16", "float16")
    for p, cluster in zip(passages, clusters):
        assert np.all(np.diff(p.trace) >= 0)
        again = cluster.objective(retriever.encode_documents([p.extra["snapshots"][i] for i in range(6)]), retriever.similarity)
        assert np.allclose(again, p.trace, atol=1e-5)
        assert box.encode_text(p.text) == list(p.token_ids)
    assert sum(len(p.accepted) for p in passages) > 0


def test_hotflip_needs_a_hugging_face_retriever(small_index):
    class Vectors:
        name, similarity, dimension, fingerprint = "numpy-model", "cosine", 4, "x"

        def encode_queries(self, texts):
            return np.ones((len(texts), 4), dtype=np.float32)

        encode_documents = encode_queries

    with pytest.raises(RobustestError, match="HotFlip needs gradients.*numpy-model.*black-box attacks"):
        WhiteBox(Vectors())
    queries = split_for_attack(small_index.dataset)
    # black-box passages work without a tokenizer: L words instead of L tokens
    (p,) = random_gold_passages(Vectors(), queries, 1, tokens=7, seed=1)
    assert len(p.text.split()) == 7


def test_hotflip_with_the_smollm2_decoder_end_to_end(smollm_gguf, small_cranfield, cache_dir):
    """The decoder path: last-token pooling, left padding, GGUF weights; every attack and ASR@k."""
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    opts = LoadOptions(cache_dir=cache_dir, progress=False, batch_size=16)
    smol = resolve_retriever(str(smollm_gguf), opts).load(opts)
    assert smol.config.pooling == "last"
    index = CorpusIndex(smol, load_beir(small_cranfield), cache=EmbeddingCache(cache_dir))
    poisoning = Poisoning(index, split_for_attack(index.dataset), hotflip=HotFlipConfig(tokens=16, iterations=2, pool=6), seeds=(1999,), progress=False)
    results = {a: poisoning.run(a, 2) for a in ATTACKS}
    (p1, p2) = results["hotflip"].passages[0]
    for p in (p1, p2):
        assert len(p.token_ids) == 16 and np.all(np.diff(p.trace) >= 0)
        assert WhiteBox(smol).encode_text(p.text) == list(p.token_ids)
    for r in results.values():
        assert r.hits[20].shape == (1, 10) and 0 <= r.summary(20)[0] <= 1
    # the candidates HotFlip feeds the model as ids are exactly the text the index encodes
    box = WhiteBox(smol)
    box.fix_frame([p1.token_ids, p2.token_ids])
    np.testing.assert_allclose(box.vectors([p1.token_ids, p2.token_ids]), smol.encode_documents([p1.text, p2.text]), atol=1e-5)


def test_passages_fed_as_ids_are_the_indexed_passages_prompt_included(minilm_dir):
    """HotFlip scores candidates from token ids framed by what the tokenizer adds (special
    tokens, the passage prompt): the vectors equal `encode_documents` of the text."""
    from robustest.retrievers.hf import EncoderConfig, HFEncoder

    config = EncoderConfig(pooling="mean_no_prompt", doc_prompt="represent this passage : ")
    retriever = HFEncoder("minilm-prompted", minilm_dir, config, weights_digest="test", device="cpu", progress=False)
    box = WhiteBox(retriever)
    texts = ["wing flutter at supersonic speeds", "boundary layer transition on a flat plate"]
    passages = [box.settle(box.encode_text(t), 12) for t in texts]
    box.fix_frame(passages)
    assert list(box._frame.head[-len(box.prompt_ids) :]) == box.prompt_ids
    indexed = retriever.encode_documents([box.decode(p) for p in passages])
    np.testing.assert_allclose(box.vectors(passages), indexed, atol=1e-6)
    # the batched gradient is each passage's own, as from its text alone
    import torch

    targets = [indexed[1], indexed[0]]
    for ids, target, grad in zip(passages, targets, box.gradients(passages, targets)):
        vector, inputs, start = box.differentiable_vector(ids)
        (alone,) = torch.autograd.grad((vector[0] * torch.as_tensor(target)).sum(), inputs)
        assert grad.shape == (12, retriever.dimension)
        torch.testing.assert_close(grad, alone[0, start : start + 12], atol=1e-6, rtol=0)


# -- measuring ----------------------------------------------------------------------------


def test_asr_is_the_top_k_of_the_clean_index_with_the_passages_added(small_index):
    """The merge against the clean ranking equals a FAISS index holding corpus and passages."""
    import faiss

    queries = split_for_attack(small_index.dataset)
    poisoning = Poisoning(small_index, queries, hotflip=HotFlipConfig(tokens=20), seeds=(27,), progress=False)
    result = poisoning.run("query_copy", 4)  # strong enough to reach some top ks
    passages = result.passages[0]
    retriever = small_index.retriever
    small_index.searcher  # encodes (or loads) the corpus
    corpus = as_index_vectors(small_index.embeddings, "cosine")
    adversarial = as_index_vectors(retriever.encode_documents([p.text for p in passages]), "cosine")
    index = faiss.IndexFlatIP(corpus.shape[1])
    index.add(np.vstack([corpus, adversarial]))
    ids = list(small_index.dataset.doc_ids) + [f"adversarial-{i}" for i in range(len(passages))]
    qids = list(queries.test)
    _, found = index.search(as_index_vectors(retriever.encode_queries([queries.test[q] for q in qids]), "cosine"), 51)
    for k in (5, 10, 20, 50):
        expected = []
        for qid, row in zip(qids, found):
            top = [ids[i] for i in row if ids[i] != qid][:k]  # BEIR: a document never answers itself
            expected.append(any(d.startswith("adversarial-") for d in top))
        assert result.hits[k][0].tolist() == expected, k
    assert 0 < result.hits[50].sum()


def test_seeds_give_their_own_passages_and_the_same_seed_the_same_ones(small_index, tmp_path):
    queries = split_for_attack(small_index.dataset)
    config = HotFlipConfig(tokens=20, iterations=2, pool=6)
    cache = PassageCache(tmp_path)
    first = Poisoning(small_index, queries, hotflip=config, seeds=(1999, 5), cache=cache, progress=False).run("hotflip", 2)
    again = Poisoning(small_index, queries, hotflip=config, seeds=(1999, 5), cache=cache, progress=False).run("hotflip", 2)
    assert first.cached == (False, False) and again.cached == (True, True)
    assert [[p.text for p in ps] for ps in first.passages] == [[p.text for p in ps] for ps in again.passages]
    assert [p.text for p in first.passages[0]] != [p.text for p in first.passages[1]]
    assert np.array_equal(first.hits[20], again.hits[20])
    other = Poisoning(small_index, queries, hotflip=HotFlipConfig(tokens=20, iterations=3, pool=6), seeds=(1999,), cache=cache, progress=False)
    assert other.run("hotflip", 2).cached == (False,)  # another parameter, another entry
    assert len(list((tmp_path / "attacks").glob("*.json"))) == 3
    unscreened = Poisoning(small_index, queries, hotflip=HotFlipConfig(tokens=20, iterations=2, pool=6, screen=0), cache=cache, progress=False)
    screened = Poisoning(small_index, queries, hotflip=config, cache=cache, progress=False)
    assert cache.key(unscreened.cache_parts("hotflip", 2, 1999)) != cache.key(screened.cache_parts("hotflip", 2, 1999))  # screening is in the key


def test_attack_settings_are_checked_with_readable_messages(small_index):
    queries = split_for_attack(small_index.dataset)
    with pytest.raises(RobustestError, match="at least 11 training queries"):
        Poisoning(small_index, queries, progress=False).clusters(1, 11)
    with pytest.raises(RobustestError, match="HotFlip pool = 0"):
        HotFlipConfig(pool=0)
    with pytest.raises(RobustestError, match="HotFlip screen = -1 must be 0 or more"):
        HotFlipConfig(screen=-1)
    with pytest.raises(RobustestError, match="does not fit"):
        Poisoning(small_index, queries, hotflip=HotFlipConfig(tokens=600), seeds=(1,), progress=False).run("hotflip", 1)
    with pytest.raises(RobustestError, match="train_fraction"):
        attack_queries(small_index.dataset, train_fraction=1.0)
