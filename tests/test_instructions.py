"""The instruction families: the query prompt perturbed, the query and the corpus as they were.

Pure samplers first, then prompted encoding on tiny random models and the real MiniLM, then the
shipped suites end to end: all-MiniLM-L6-v2 with --robustest-query-prompt on cranfield,
SmolLM2-135M-Instruct as a last-token decoder with an E5-style instruction, a retriever with no
prompt, baseline replay, a sentence-transformers model through robustest.check, and analyze."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import robustest
from robustest.families import FAMILIES
from robustest.perturb import NoLegalEdit
from robustest.perturb.instructions import (
    GIVEN, InstructionEdit, InstructionPerturber, QueryPrompt, format_drift, format_drifts, generic_instruction, misspelt_instruction,
    other_task_instruction, remove_instruction, reworded_instruction, template_rewrites,
)
from robustest.retrievers.tasks import DEFAULT_TASK, TASKS

from conftest import validate_run_file
from test_pooling import TEXTS, encoder, tiny_model_dir

REPO = Path(__file__).resolve().parent.parent
SUITES = REPO / "suites"
KINDS = [name for name, f in FAMILIES.items() if f.instruction is not None]  # the query-prompt kinds
TASK = "Given a question on aerodynamics, retrieve abstracts of papers that answer it"
QWEN3 = QueryPrompt("Instruct: {task}\nQuery: ", TASKS["scifact"])
SAMPLERS = (remove_instruction, generic_instruction, other_task_instruction, reworded_instruction, misspelt_instruction, format_drift)


def test_the_group_has_six_query_prompt_kinds_and_the_document_prompt():
    assert KINDS == ["instruction_removed", "instruction_generic", "instruction_other_task", "instruction_reworded", "instruction_misspelling", "instruction_format"]
    assert all(FAMILIES[k].perturbs_queries and not FAMILIES[k].model_written and FAMILIES[k].sampler is None for k in KINDS)
    assert [n for n, f in FAMILIES.items() if f.group == "instruction"] == [*KINDS, "document_prompt"]
    assert FAMILIES["document_prompt"].gated and not FAMILIES["document_prompt"].perturbs_queries


# -- the prompt and its samplers ------------------------------------------------------------


@pytest.mark.parametrize("prompt,template,task", [
    ("Instruct: Given a claim, find documents that refute the claim\nQuery:", "Instruct: {task}\nQuery:", "Given a claim, find documents that refute the claim"),
    ("Instruct: Given a claim, find documents\nQuery: ", "Instruct: {task}\nQuery: ", "Given a claim, find documents"),
    ("Instruct: one line Query: ", "Instruct: {task} Query: ", "one line"),
    ("<|user|>\nGiven a post, retrieve answers\n<|embed|>\n", "<|user|>\n{task}\n<|embed|>\n", "Given a post, retrieve answers"),
    ("Represent this sentence for searching relevant passages: ", "{task}: ", "Represent this sentence for searching relevant passages"),
    ("query: ", "{task}: ", "query"),
])
def test_a_prompt_is_read_as_template_and_instruction(prompt, template, task):
    parsed = QueryPrompt.parse(prompt)
    assert (parsed.template, parsed.task) == (template, task)
    assert parsed.text == prompt


def test_a_known_template_wins_over_reading_the_text():
    parsed = QueryPrompt.parse("Instruct: X\nQuery:", template="Instruct: {task}\nQuery:", task="X")
    assert parsed == QueryPrompt("Instruct: {task}\nQuery:", "X")


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: s.__name__)
def test_every_kind_changes_the_prompt_and_never_the_query(sampler):
    query = "how do wings stall"
    for seed in range(40):
        edit = sampler(QWEN3, random.Random(seed))
        assert isinstance(edit, InstructionEdit) and edit.edit
        assert edit.prompt != QWEN3.text
        assert edit.apply(query) == query


def test_the_kinds_keep_the_template_where_they_should():
    for seed in range(40):
        rng = random.Random(seed)
        for sampler in (generic_instruction, other_task_instruction, reworded_instruction, misspelt_instruction):
            prompt = sampler(QWEN3, rng).prompt
            assert prompt.startswith("Instruct: ") and prompt.endswith("\nQuery: "), (sampler.__name__, prompt)
        other = other_task_instruction(QWEN3, rng).prompt[len("Instruct: "):-len("\nQuery: ")]
        assert other in TASKS.values() and other not in (QWEN3.task, DEFAULT_TASK)
        misspelt = misspelt_instruction(QWEN3, rng).prompt[len("Instruct: "):-len("\nQuery: ")]
        changed = [a != b for a, b in zip(misspelt.split(), QWEN3.task.split())]
        assert 1 <= sum(changed) <= max(int(0.1 * len(QWEN3.task.split())), 1) or len(misspelt.split()) != len(QWEN3.task.split())
    assert remove_instruction(QWEN3, random.Random(0)).prompt == ""
    assert generic_instruction(QWEN3, random.Random(0)).prompt == f"Instruct: {DEFAULT_TASK}\nQuery: "


def test_the_generic_kind_has_nothing_to_do_when_the_task_is_the_generic_one():
    with pytest.raises(NoLegalEdit, match="generic"):
        generic_instruction(QueryPrompt("Instruct: {task}\nQuery: ", DEFAULT_TASK), random.Random(0))


def test_every_known_instruction_has_meaning_keeping_rewrites():
    """Each rewrite keeps what is given and what is wanted, only their order and verb change."""
    for task in set(TASKS.values()):
        m = GIVEN.fullmatch(task)
        assert m, task
        rewrites = template_rewrites(task)
        assert len(set(rewrites)) == 5 and task not in rewrites
        assert all(m.group(2) in r and m.group(4) in r for r in rewrites)


def test_a_tag_prompt_has_no_rewrite_and_its_format_still_drifts():
    tag = QueryPrompt.parse("query: ")
    with pytest.raises(NoLegalEdit):
        reworded_instruction(tag, random.Random(0))
    assert format_drifts(tag) == [("no whitespace before the query", "query:")]


def test_format_drift_of_the_qwen3_prompt():
    drifts = dict(format_drifts(QueryPrompt("Instruct: {task}\nQuery:", "Find X")))
    assert drifts["labels Instruct:, Query: dropped"] == "Find X\n"
    assert drifts["label Query: -> Question:"] == "Instruct: Find X\nQuestion:"
    assert drifts["newlines -> spaces"] == "Instruct: Find X Query:"
    assert drifts["a space before the query"] == "Instruct: Find X\nQuery: "


def test_the_perturber_is_seeded_per_query_and_keeps_the_query_text():
    queries = {str(i): f"query number {i} about wings" for i in range(30)}
    perturb = InstructionPerturber("instruction_other_task", other_task_instruction, QWEN3)
    first, again, other = perturb(queries, 5), perturb(queries, 5), perturb(queries, 27)
    assert first == again
    assert [v.prompt for v in first.variants] != [v.prompt for v in other.variants]
    assert all(v.text == v.original == queries[v.query_id] and v.prompt == v.plan.prompt for v in first.variants)
    assert len({v.prompt for v in first.variants}) > 5  # drawn per query, not once per seed


def test_the_perturber_skips_a_query_whose_prompt_would_not_change():
    perturb = InstructionPerturber("instruction_generic", generic_instruction, QueryPrompt("{task}", DEFAULT_TASK))
    done = perturb({"1": "a", "2": "b"}, 1999)
    assert not done.variants and set(done.skipped.values()) == {"the task instruction already is the generic web-search one"}


def test_a_rewriter_adds_its_rewording_to_the_templates():
    rewritten = "Look up abstracts that answer an aerodynamics question"
    perturb = InstructionPerturber("instruction_reworded", reworded_instruction, QueryPrompt("Instruct: {task}\nQuery: ", TASK), lambda task, seed: (rewritten,))
    prompts = [v.prompt for v in perturb({str(i): "q" for i in range(60)}, 1999).variants]
    assert f"Instruct: {rewritten}\nQuery: " in prompts
    assert len(set(prompts)) == 6  # five templates and the rewriter's


# -- encoding after another prompt ------------------------------------------------------------


@pytest.mark.parametrize("kind,pool", [("bert", "mean"), ("bert", "mean_no_prompt"), ("llama", "last")])
def test_a_prompted_query_is_the_vector_of_a_model_with_that_prompt(tmp_path, minilm_dir, kind, pool):
    from robustest.retrievers.hf import EncoderConfig

    folder = tiny_model_dir(tmp_path, minilm_dir, kind)
    a, b = "represent the question : ", "find : "
    mixed = encoder(folder, EncoderConfig(pooling=pool, query_prompt="unused : ")).encode_queries_with_prompts(TEXTS, [a, b, a, ""])
    with_a = encoder(folder, EncoderConfig(pooling=pool, query_prompt=a)).encode_queries(TEXTS)
    with_b = encoder(folder, EncoderConfig(pooling=pool, query_prompt=b)).encode_queries(TEXTS)
    bare = encoder(folder, EncoderConfig(pooling=pool)).encode_queries(TEXTS)
    np.testing.assert_allclose(mixed, np.stack([with_a[0], with_b[1], with_a[2], bare[3]]), atol=1e-5)


def test_the_index_encodes_prompted_queries_with_the_real_model(minilm, minilm_dir, small_cranfield, cache_dir):
    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir
    from robustest.retrieval import CorpusIndex
    from robustest.retrievers.hf import HFEncoder
    from robustest.retrievers.prompts import PromptedQuery

    dataset = load_beir(small_cranfield)
    index = CorpusIndex(minilm, dataset, cache=EmbeddingCache(cache_dir), k=20)
    qid, text = next(iter(dataset.queries.items()))
    prompt = f"Instruct: {TASK}\nQuery: "
    vectors = index.query_vectors([(qid, text), (qid, PromptedQuery(text, prompt))])
    prompted_model = HFEncoder("minilm", minilm_dir, replace(minilm.config, query_prompt=prompt), weights_digest="x", progress=False)
    np.testing.assert_allclose(vectors[1], prompted_model.encode_queries([text])[0], atol=1e-5)
    np.testing.assert_allclose(vectors[0], minilm.encode_queries([text])[0], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)


def test_the_corpus_is_encoded_once_for_every_kind(minilm_dir, small_cranfield):
    """Six kinds, five seeds, 20 queries: one encode_documents call over the corpus, nothing
    cached to read it from."""
    from robustest.data import load_beir
    from robustest.retrievers.hf import EncoderConfig, HFEncoder

    class Counting(HFEncoder):
        documents: list[int] = []

        def encode_documents(self, texts):
            self.documents.append(len(texts))
            return super().encode_documents(texts)

    model = Counting("minilm", minilm_dir, EncoderConfig(query_prompt=f"Instruct: {TASK}\nQuery: "), weights_digest="count", progress=False)
    report = robustest.check(model, str(small_cranfield), families=KINDS, no_cache=True, verbose=False)
    assert Counting.documents == [len(load_beir(small_cranfield).doc_ids)]
    assert {g.family for g in report.gates} - {""} == set(KINDS)  # and the clean effectiveness gate


def test_runs_that_differ_only_in_the_query_prompt_share_the_corpus_vectors(minilm_dir, small_cranfield, tmp_path):
    """The corpus cache is keyed by what a document's vector depends on: a second and third run
    with another instruction, or none, read the first one's corpus; a document prompt does not."""
    from robustest.data import load_beir
    from robustest.retrievers.hf import EncoderConfig, HFEncoder

    encoded: list[int] = []

    class Counting(HFEncoder):
        def encode_documents(self, texts):
            encoded.append(len(texts))
            return super().encode_documents(texts)

    cache = tmp_path / "cache"
    models = [Counting("minilm", minilm_dir, EncoderConfig(query_prompt=p), weights_digest="share", progress=False)
              for p in (f"Instruct: {TASK}\nQuery: ", "Instruct: Given a question, retrieve passages\nQuery: ", "")]  # fmt: skip
    scores = [robustest.check(m, str(small_cranfield), families=[], cache_dir=str(cache), verbose=False).run["effectiveness"]["nDCG@10"] for m in models]
    assert encoded == [len(load_beir(small_cranfield).doc_ids)]  # the first run only
    assert len(corpus_entries(cache)) == 1 and len(set(scores)) == 3  # the queries did change
    assert len({m.fingerprint for m in models}) == 3 and len({m.document_fingerprint for m in models}) == 1
    # A model without a query prompt keys its corpus as before this key existed (old caches stay valid).
    assert models[2].document_fingerprint == models[2].fingerprint
    with_document_prompt = HFEncoder("minilm", minilm_dir, EncoderConfig(doc_prompt="passage: "), weights_digest="share", progress=False)
    assert with_document_prompt.document_fingerprint != models[2].document_fingerprint


def test_the_corpus_key_is_known_before_loading(minilm_dir):
    """`robustest encode` on Ray keys the entry before any actor loads the model: the same key."""
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    opts = LoadOptions(query_prompt="Instruct: {task}\nQuery: ", instruction=TASK, progress=False)
    resolution = resolve_retriever(str(minilm_dir), opts)
    loaded = resolution.load(opts)
    assert resolution.fingerprint(opts) == loaded.fingerprint
    assert resolution.document_fingerprint(opts) == loaded.document_fingerprint != loaded.fingerprint


# -- the shipped suites, end to end -------------------------------------------------------------


def run_suites(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", str(SUITES), "-p", "no:cacheprovider", "-rs", *args], cwd=cwd, capture_output=True, text=True)


def corpus_entries(cache_dir: Path) -> set[str]:
    return {p.name for p in (Path(cache_dir) / "embeddings").glob("*.npy")}


@pytest.fixture(scope="module")
def cranfield_run(minilm_dir, cranfield_dir, cache_dir, tmp_path_factory):
    """The issue's run: -m instruction, all-MiniLM-L6-v2 with an E5-style prompt whose {task}
    the instruction fills, 50 cranfield queries; the corpus entries before and after."""
    folder = tmp_path_factory.mktemp("instruction-run")
    before = corpus_entries(cache_dir)
    done = run_suites([
        "-m", "instruction", f"--retriever={minilm_dir}", f"--robustest-dataset={cranfield_dir}", "--robustest-max-queries=50",
        "--robustest-query-prompt=Instruct: {task}\\nQuery: ", f"--robustest-instruction={TASK}", f"--robustest-cache-dir={cache_dir}",
        f"--robustest-save={folder / 'run.json'}", f"--robustest-html={folder / 'report.html'}",
    ], folder)
    return done, folder, before, corpus_entries(cache_dir)


def test_every_kind_is_gated_and_saved_with_its_prompts(cranfield_run, cache_dir):
    done, folder, before, after = cranfield_run
    assert done.returncode in (0, 1), done.stdout[-3000:]  # gated: a kind may fail; nothing may error
    assert " error" not in done.stdout.splitlines()[-1], done.stdout[-3000:]
    run = validate_run_file(folder / "run.json")
    prompt = f"Instruct: {TASK}\nQuery: "
    assert run["retriever"]["query_prompt"] == prompt
    gates = {g["family"]: g for g in run["gates"]}
    assert set(gates) == set(KINDS) and set(run["families"]) == set(KINDS)
    for kind in KINDS:
        family = run["families"][kind]
        assert family["acts_on"] == "instruction" and family["seeds"] == [1999, 5, 27, 2016, 2026]
        variants = [v for by_query in family["variants"].values() for v in by_query.values()]
        assert len(variants) >= 50 * 5 * 0.9 and all(v["prompt"] != prompt for v in variants)
        assert all(v["text"] == run["queries"][q] for by_query in family["variants"].values() for q, v in by_query.items())
        gate = gates[kind]
        assert gate["verdict"] in ("pass", "fail", "inconclusive") and gate["drop_rate_ci"][0] <= gate["drop_rate_mean"] <= gate["drop_rate_ci"][1]
        assert f"{kind} drop rate" in done.stdout
    assert {v["prompt"] for v in run["families"]["instruction_removed"]["variants"]["1999"].values()} == {""}
    assert {v["prompt"] for v in run["families"]["instruction_generic"]["variants"]["5"].values()} == {f"Instruct: {DEFAULT_TASK}\nQuery: "}
    table = done.stdout[done.stdout.index("instruction sensitivity:"):]
    for kind in KINDS:
        assert kind in table
    assert "mean of the kinds" in table
    # The corpus was encoded once: at most one new corpus entry (none when a warm cache had it).
    assert len(after - before) <= 1
    html = (folder / "report.html").read_text()
    assert "Instruction sensitivity" in html and "instruction_format" in html


def test_a_retriever_without_a_prompt_skips_the_group_with_the_fix(small_cranfield, cache_dir, tmp_path):
    done = run_suites(["-m", "instruction", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}"], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1 and skipped[0].startswith("SKIPPED [7]"), done.stdout[-3000:]  # and document_prompt
    assert "encodes queries with no prompt" in skipped[0] and "--robustest-query-prompt" in skipped[0]


LITERAL = f"Instruct: {TASK}\nQuery: "


@pytest.fixture(scope="module")
def small_runs(minilm_dir, smollm_gguf, small_cranfield, cache_dir, tmp_path_factory):
    """all-MiniLM-L6-v2 and SmolLM2 (last-token pooling) with the same E5-style prompt, written
    out, on 20 cranfield queries: instruction kinds beside the misspelling family."""
    folder = tmp_path_factory.mktemp("two-models")
    common = ["-m", "instruction or misspelling", "-k", "drop_rate", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}",
              f"--robustest-query-prompt={LITERAL.replace(chr(10), chr(92) + 'n')}"]
    runs = {}
    for name, spec in (("minilm", minilm_dir), ("smollm", smollm_gguf)):
        done = run_suites([*common, f"--retriever={spec}", f"--robustest-save={folder / name}.json"], folder)
        assert (folder / f"{name}.json").exists(), done.stdout[-3000:]
        runs[name] = (done, folder / f"{name}.json")
    return runs


def test_a_decoder_llm_with_an_e5_instruction_is_gated_on_every_kind(small_runs):
    done, path = small_runs["smollm"]
    run = json.loads(path.read_text())
    assert run["retriever"]["pooling"] == "last" and run["retriever"]["padding_side"] == "left"
    assert run["retriever"]["query_prompt"] == LITERAL
    assert {g["family"] for g in run["gates"]} >= set(KINDS)
    assert "instruction sensitivity:" in done.stdout


def test_analyze_shows_the_instruction_kinds_beside_the_query_families(small_runs, tmp_path):
    from robustest.analyze import analyze_runs

    analysis = analyze_runs([small_runs["minilm"][1], small_runs["smollm"][1]])
    text = analysis.text
    for column in ["misspelling nDCG@10", *(f"{k} nDCG@10" for k in KINDS), "instruction sensitivity nDCG@10"]:
        assert column in analysis.score_columns
        assert f"{column} ~ model" in text
    assert text.count("instruction sensitivity drop rate") == 2
    rows = [r for r in analysis.scores if r["model"] == analysis.runs[0]["model"]]
    first = rows[0]
    kinds = [first[f"{k} nDCG@10"] for k in KINDS if np.isfinite(first[f"{k} nDCG@10"])]
    assert first["instruction sensitivity nDCG@10"] == pytest.approx(np.mean(kinds))


def test_a_baseline_replays_the_same_prompts(small_runs, minilm_dir, small_cranfield, cache_dir, tmp_path):
    _, baseline = small_runs["minilm"]
    done = run_suites(["-m", "instruction", "-k", "drop_rate", f"--retriever={minilm_dir}", f"--robustest-dataset={small_cranfield}",
                       f"--robustest-cache-dir={cache_dir}", f"--robustest-query-prompt={LITERAL.replace(chr(10), chr(92) + 'n')}",
                       f"--robustest-baseline={baseline}", f"--robustest-save={tmp_path / 'again.json'}"], tmp_path)
    again, before = json.loads((tmp_path / "again.json").read_text()), json.loads(baseline.read_text())
    for kind in KINDS:
        assert again["families"][kind]["variants"] == before["families"][kind]["variants"]
    compared = {r["family"] for r in again["comparison"]["regressions"]}
    assert set(KINDS) <= compared, done.stdout[-3000:]


def test_a_sentence_transformers_model_with_a_query_prompt_gives_the_suites_numbers(small_runs, minilm_dir, small_cranfield, cache_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_dir), device="cpu", prompts={"query": LITERAL})
    report = robustest.check(model, str(small_cranfield), families=KINDS, cache_dir=str(cache_dir), verbose=False)
    suite = json.loads(small_runs["minilm"][1].read_text())
    for kind in KINDS:
        ours = report.run["families"][kind]
        assert ours["variants"] == suite["families"][kind]["variants"]
        np.testing.assert_allclose(ours["drop_rates"], suite["families"][kind]["drop_rates"], atol=1e-4)


# -- the document prompt ----------------------------------------------------------------------


def test_the_sample_holds_every_judged_document_and_is_seeded(small_cranfield):
    from robustest.data import load_beir
    from robustest.document_prompt import sample_rows

    dataset = load_beir(small_cranfield)
    qids = sorted(dataset.queries)[:10]
    judged = {dataset.doc_ids.index(d) for q in qids for d in dataset.qrels[q]}
    rows = sample_rows(dataset, qids, 60, 1999)
    assert len(rows) == 60 and judged <= set(rows.tolist()) and list(rows) == sorted(set(rows.tolist()))
    assert rows.tolist() == sample_rows(dataset, qids, 60, 1999).tolist() != sample_rows(dataset, qids, 60, 5).tolist()
    assert sample_rows(dataset, qids, 0, 1999).tolist() == list(range(len(dataset.doc_ids)))


@pytest.mark.parametrize("documents", [0, 60])
def test_without_the_document_prompt_scores_as_a_model_without_one(minilm, minilm_dir, small_cranfield, cache_dir, documents):
    """The family's perturbed scores are those of the same model configured with no document
    prompt, on the same documents (all of them, or the sample); its clean ones the model's own."""
    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir
    from robustest.document_prompt import sample_rows
    from robustest.retrieval import CorpusIndex
    from robustest.retrievers.hf import HFEncoder

    query, doc = "query: ", "passage: "
    report = robustest.check(str(minilm_dir), str(small_cranfield), families=["document_prompt"], query_prompt=query, doc_prompt=doc,
                             family_set=f"document_prompt.documents={documents}", cache_dir=str(cache_dir), verbose=False)
    family = report.run["families"]["document_prompt"]
    assert family["acts_on"] == "document_prompt" and family["seeds"] == [1999]
    dataset = load_beir(small_cranfield)
    rows = sample_rows(dataset, sorted(dataset.queries), documents, 1999)
    assert report.run["document_prompt_documents"] == {"encoded": len(rows), "corpus": len(dataset.doc_ids), "prompt": doc}
    for prompt, scores in ((doc, family["clean"]), ("", family["perturbed"]["1999"])):
        model = HFEncoder("m", minilm_dir, replace(minilm.config, query_prompt=query, doc_prompt=prompt), weights_digest="dp", progress=False)
        index = CorpusIndex(model, dataset, cache=EmbeddingCache(None), k=100)
        vectors = model.encode_documents([dataset.documents[i] for i in rows])
        expected = index.evaluate_with(vectors, None if len(rows) == len(dataset.doc_ids) else rows)
        assert scores == pytest.approx(expected.by_query("nDCG@10"), abs=1e-5)
    if documents:
        assert family["clean"] != pytest.approx(report.run["per_query"]["nDCG@10"], abs=1e-6)  # scored on the sample
    else:
        assert family["clean"] == pytest.approx(report.run["per_query"]["nDCG@10"], abs=1e-5)
    assert "document_prompt" in str(report) and "documents: ''" in str(report)


def test_a_model_without_a_document_prompt_skips_it_with_the_fix(minilm_dir, small_cranfield, cache_dir):
    report = robustest.check(str(minilm_dir), str(small_cranfield), families=["document_prompt"], query_prompt="query: ", cache_dir=str(cache_dir), verbose=False)
    assert "skipped: document_prompt drop rate:" in str(report) and "--robustest-doc-prompt" in str(report)
