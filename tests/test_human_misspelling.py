"""human_misspelling: misspellings people make, from a real list and the kinds of error it shows.

The real list (nlpaug's), the real word frequencies (wordfreq), the estimate behind the
mixture recomputed from that list, and the shipped suite gating the family on all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from robustest.families import FAMILIES
from robustest.perturb import NoLegalEdit
from robustest.perturb.human_typos import (
    KINDS, HumanTypoPlan, channel_weight, classify, errors_of, estimates, misspelling_list, one_human_typo_plans, parse_list,
    sample_human_typos, single_edit,
)
from robustest.perturb.typos import editable_words, words_to_change
from robustest.perturb.words import split_words

REPO = Path(__file__).resolve().parent.parent
QUERIES = [
    "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft",
    "how do I receive a separate accommodation until tomorrow",
    "Definitely the Best Site",
    "THE WING",
]


def test_the_family_is_a_plain_sampler_that_works_on_its_own():
    sampler = FAMILIES["human_misspelling"].sampler
    for query in QUERIES:
        for seed in range(30):
            plan = sampler(query, random.Random(seed))
            variant = plan.apply(query)
            assert variant != query
            # As many words as the paper's misspelling changes, never a stopword or a short word.
            changed = [i for i, (a, b) in enumerate(zip(split_words(query), split_words(variant))) if a.text != b.text]
            assert len(changed) == len(plan.edits) <= words_to_change(query)
            assert set(changed) <= set(editable_words(query))
            assert plan == sampler(query, random.Random(seed))
    with pytest.raises(NoLegalEdit):
        sampler("to be or not", random.Random(0))


def test_a_listed_word_gets_a_real_misspelling_and_another_word_a_kind_of_error():
    listed = misspelling_list()
    assert len(listed) > 9000 and "separate" in listed
    for seed in range(50):
        for query in QUERIES:
            for e in sample_human_typos(query, random.Random(seed)).edits:
                word, typo = e.original.lower(), e.typo.lower()
                if e.kind == "listed":
                    assert typo in listed[word]
                else:
                    assert word not in listed and e.kind in KINDS and typo in errors_of(word, e.kind)


def test_case_is_kept():
    for seed in range(30):
        for e in sample_human_typos("Definitely the Best Site", random.Random(seed)).edits:
            assert e.typo[0].isupper() and e.typo[1:].islower()
        for e in sample_human_typos("THE AEROELASTIC WING", random.Random(seed)).edits:
            assert e.typo.isupper()


@pytest.mark.parametrize("word,kind,typo", [
    ("separate", "vowel", "seperate"), ("definitely", "vowel", "definetely"), ("accommodate", "doubling", "accomodate"),
    ("until", "doubling", "untill"), ("environment", "dropped", "enviroment"), ("their", "transposed", "thier"),
    ("knowledge", "silent", "nowledge"), ("responsible", "suffix", "responsable"), ("from", "real_word", "form"),
    ("lose", "real_word", "loose"), ("word", "keyboard", "wprd"),
])
def test_each_kind_makes_the_classic_errors(word, kind, typo):
    assert typo in errors_of(word, kind)
    assert classify(word, typo) == kind


def test_ie_ei_is_a_vowel_error_that_counts_as_the_simpler_transposition():
    assert "recieve" in errors_of("receive", "vowel") and classify("receive", "recieve") == "transposed"


def test_a_real_word_error_favours_common_words():
    from robustest.perturb.human_typos import real_word_errors

    frequency = real_word_errors("from")
    assert "form" in frequency and all(w != "from" for w in frequency)
    assert frequency["form"] > frequency.get("fro", 0)


def test_the_mixture_is_the_estimate_from_the_list():
    """resources/human_typo_mix.json is what benchmarks/estimate_human_typo_mix.py makes of the
    installed list, kind by kind, and keyboard slips are a minority."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from estimate_human_typo_mix import estimate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    again = estimate()
    shipped = estimates()
    assert again["counts"] == shipped["counts"] and again["weights"] == shipped["weights"]
    assert again["position_weights"] == shipped["position_weights"]
    assert again["channel"] == shipped["channel"]
    assert sum(shipped["weights"].values()) == pytest.approx(1, abs=1e-3)
    assert shipped["weights"]["keyboard"] < 0.25 and shipped["position_weights"][0] < 1


@pytest.mark.parametrize("word,other,edit", [
    ("separate", "seperate", ("sub", "a", "e")),
    ("accommodate", "accomodate", ("del", "m", "m")),
    ("until", "untill", ("ins", "l", "l")),
    ("their", "thier", ("trans", "e", "i")),
    ("apple", "pple", ("del", "^", "a")),
    ("apple", "xapple", ("ins", "^", "x")),
    ("apple", "appel", ("trans", "l", "e")),
    ("apple", "apple", None),
    ("final", "finle", None),
    ("definitely", "definately", ("sub", "i", "a")),
])
def test_single_edit_names_the_one_letter_edit(word, other, edit):
    assert single_edit(word, other) == edit


def test_the_confusion_table_favours_the_edits_people_make():
    """Counted from the list: a vowel for a vowel beats a far key, an undoubled consonant beats
    a dropped first letter; an edit never seen is rare, never impossible."""
    assert channel_weight("separate", "seperate") > 10 * channel_weight("separate", "seqarate")
    assert channel_weight("accommodate", "accomodate") > channel_weight("accommodate", "ccommodate")
    assert 0 < channel_weight("jazz", "jazq") < channel_weight("jazz", "jaz")


def test_the_list_is_read_as_written():
    assert parse_list("luck lock Luke luck1\nfoo\n2nd snd\nseparate seperate seperete\n") == {
        "luck": ("lock", "luke"), "separate": ("seperate", "seperete"),
    }


def test_one_edit_plans_are_all_single_misspellings():
    query = "receive separate accommodation"
    plans = one_human_typo_plans(query)
    assert plans and all(isinstance(p, HumanTypoPlan) and len(p.edits) == 1 for p in plans)
    variants = [p.apply(query) for p in plans]
    assert len(set(variants)) == len(variants) and query not in variants
    assert plans[0].edits[0].kind == "listed"
    with pytest.raises(ValueError, match="another query"):
        plans[0].apply("something else entirely")


def test_the_suite_gates_it_on_the_real_model(small_cranfield, cache_dir, tmp_path):
    import subprocess

    import robustest

    suite = Path(robustest.__file__).parent / "suites" / "test_query_families.py"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-m", "human_misspelling", f"--robustest-dataset={small_cranfield}",
         f"--robustest-cache-dir={cache_dir}", f"--robustest-save={tmp_path / 'run.json'}"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert done.returncode in (0, 1), done.stdout[-3000:]
    run = json.loads((tmp_path / "run.json").read_text())
    gate = {g["family"]: g for g in run["gates"]}["human_misspelling"]
    assert gate["verdict"] in ("pass", "fail", "inconclusive") and len(run["families"]["human_misspelling"]["seeds"]) == 5
    edits = [v["edit"] for by_query in run["families"]["human_misspelling"]["variants"].values() for v in by_query.values()]
    assert len(edits) >= 90 and any(e.startswith("listed ") for e in edits)
    assert "human_misspelling drop rate" in done.stdout
    assert "worst case of one edit" in done.stdout and "human_misspelling:" in done.stdout


def test_without_the_list_the_family_skips_naming_the_extra(monkeypatch):
    from robustest.perturb import human_typos, loaders

    def missing():
        raise human_typos.MissingHumanModel(f"human_misspelling needs a list of real misspellings: {human_typos.INSTALL}")

    monkeypatch.setattr(human_typos, "misspelling_list", missing)
    with pytest.raises(loaders.MissingResource, match=r"robustest\[human\]"):
        loaders.human_misspellings(None)
