"""Short failures (issue 24, item 7): a failing gate prints a few lines that name the test and
not robustest's frames, the same variant under several seeds once; one line per inconclusive
gate; the summary says what each property search found; a registered family and the
documented example of a check of your own report each failure once; a "never" gate refuted by
one example has p = 0; a poisoning gate states ASR beside the random-gold control."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import failure_sections, query_suite_args
from robustest.assertions import RobustnessError, assert_attack_success, assert_top_k_unchanged
from robustest.attacks.poisoning import AttackResult
from robustest.stats import Verdict, apply_holm

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "custom_checks"
SUITE = Path(__file__).resolve().parents[1] / "robustest" / "suites" / "test_query_families.py"
ROBUSTEST_LINES = re.compile(r"def enforce|_judged|def _judge|def _decide|__tracebackhide__|robustest/(errors|assertions|stability)\.py|robustest/(plugin|engine)/")


def naturalizing_args(pytester, cache_dir, dataset, table: str = "") -> list[str]:
    """The shipped query suite at a naturalizing threshold no drop rate passes (the path to
    the suite comes first: replace it with node ids to select tests)."""
    settings = "[tool.robustest.naturalizing]\nthreshold = 0.001\n" + table
    return [*query_suite_args(pytester, cache_dir, dataset, settings), "--robustest-seeds=1999,5", "-p", "no:randomly"]


def test_a_failing_gate_is_a_few_lines_naming_the_test_with_each_variant_once(pytester, small_cranfield, cache_dir):
    """Naturalizing gives every seed the same variant: one example per query, "seeds 1999, 5".
    A plain `assert` in the user's own test keeps pytest's report."""
    pytester.makepyfile(test_own="def test_plain_assert(robustness):\n    assert robustness.seeds('naturalizing') == (1,)\n")
    args = naturalizing_args(pytester, cache_dir, small_cranfield)
    result = pytester.runpytest_subprocess(*args, str(pytester.path / "test_own.py"), "-k", "(drop_rate and naturalizing) or plain_assert", "--robustest-inconclusive=fail")
    result.assert_outcomes(failed=2)
    sections = failure_sections(result.stdout.str())
    report = sections["test_drop_rate[naturalizing]"]
    assert len(report) <= 15, "\n".join(report)
    assert re.match(r"\S*test_query_families\.py:\d+: in test_drop_rate$", report[0]), report[0]
    assert not [line for line in report if ROBUSTEST_LINES.search(line)], "\n".join(report)
    assert report[1].startswith("E   naturalizing drop rate: INCONCLUSIVE - drop rate of nDCG@10")
    examples = [line for line in report if re.match(r"E +\[\d+, seeds? ", line)]
    assert 1 <= len(examples) <= 3 and all("seeds 1999, 5]" in line for line in examples), "\n".join(report)
    assert len({line.split(",")[0] for line in examples}) == len(examples)  # each query once
    assert any("--robustest-html=report.html" in line for line in report)
    plain = "\n".join(sections["test_plain_assert"])  # pytest's own report: the source and the rewritten assert
    assert ">       assert robustness.seeds('naturalizing') == (1,)" in plain and "E       assert (1999, 5) == (1,)" in plain

    # --fulltrace keeps everything pytest would show
    full = pytester.runpytest_subprocess(*args, "-k", "drop_rate and naturalizing", "--robustest-inconclusive=fail", "--fulltrace")
    full.assert_outcomes(failed=1)
    assert "def _judge(" in full.stdout.str() and "robustest/engine/checks.py" in full.stdout.str()


PROPERTIES = '''
import pytest


@pytest.mark.robustest_property
def test_a_recipe_keeps_the_top_document(robustness):
    qid, query = next(iter(robustness.stable_queries(k=1).items()))
    robustness.keeps_relevant_in_top_k("recipes", qid, query, ["chocolate cake recipes with fresh strawberries"], k=1)


@pytest.mark.robustest_property
def test_the_query_itself_keeps_a_relevant_document(robustness):
    qid, query = next(iter(robustness.stable_queries(k=10).items()))
    robustness.keeps_relevant_in_top_k("unchanged", qid, query, [query], k=10)


@pytest.mark.robustest_property
def test_a_plain_assert_property(robustness):
    assert not robustness.stable_queries(k=10), "every query is stable"
'''


def test_one_line_per_inconclusive_gate_and_property_searches_explained(pytester, small_cranfield, cache_dir):
    pytester.makepyfile(test_properties=PROPERTIES)
    table = "[tool.robustest.reordering]\nthreshold = 0.0001\n"
    suite, *args = naturalizing_args(pytester, cache_dir, small_cranfield, table)
    result = pytester.runpytest_subprocess(
        f"{suite}::test_drop_rate[naturalizing]", f"{suite}::test_drop_rate[reordering]", str(pytester.path / "test_properties.py"), *args
    )
    result.assert_outcomes(passed=2, xfailed=2, xpassed=1)
    out = result.stdout.str()
    inconclusive = re.findall(r"^ *(\S+): InconclusiveWarning: (.*)$", out, flags=re.M)
    assert sorted(message.split(":")[0] for _, message in inconclusive) == ["naturalizing drop rate", "reordering drop rate"], out
    for where, message in inconclusive:
        assert where.endswith(".py:" + where.rsplit(":", 1)[1]) and "test_query_families.py" in where  # the test's line, not robustest's
        assert re.fullmatch(r"\w+ drop rate: inconclusive: the 95% CI .* straddles .*; about \d+ queries \(now 20\) would settle it", message), message
    warnings = out.split("warnings summary")[1].split("-- Docs")[0]
    assert "INCONCLUSIVE -" not in warnings and "worst queries" not in warnings
    result.stdout.fnmatch_lines([
        "property searches (reported, not gated: x = counterexample found, X = none found; --robustest-properties=strict fails on a counterexample)",
        "  test_a_recipe_keeps_the_top_document: counterexample found (recipes: the smallest is shown above)",
        "  test_the_query_itself_keeps_a_relevant_document: none found",
        "  test_a_plain_assert_property: counterexample found: every query is stable",
    ])


def fragile(name: str, text: str) -> str:
    """The examples' conftest with 'capitalized' reversing the words: a different query to the model."""
    if name == "conftest.py":
        return text.replace('return query[:1].upper() + query[1:]', 'return " ".join(reversed(query.split()))')
    return text


def test_the_documented_checks_beside_the_shipped_suite_report_each_failure_once(pytester, small_cranfield, cache_dir):
    """examples/custom_checks (made fragile) run with the shipped drop-rate gates of the families
    it registers: every gate fails in one test only."""
    for name in ("conftest.py", "test_abbreviations.py", "test_top_document.py"):
        (pytester.path / name).write_text(fragile(name, (EXAMPLES / name).read_text()))
    pytester.makepyprojecttoml("[tool.robustest.abbreviations]\nthreshold = 0.001\nmin_queries = 5\n")
    result = pytester.runpytest_subprocess(
        str(pytester.path), f"{SUITE}::test_drop_rate[abbreviations]", f"{SUITE}::test_drop_rate[capitalized]",
        "-p", "no:cacheprovider", "-p", "no:randomly", f"--rootdir={pytester.path}", "-c", str(pytester.path / "pyproject.toml"),
        f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", "--robustest-seeds=1999,5", "--robustest-inconclusive=fail",
    )
    sections = failure_sections(result.stdout.str())
    assert {"test_drop_rate[abbreviations]", "test_drop_rate[capitalized]", "test_capitalizing_never_changes_the_top_document"} <= set(sections), result.stdout.str()
    verdicts = [line for lines in sections.values() for line in lines if re.match(r"E   .+: (FAIL|INCONCLUSIVE) - ", line)]
    names = [line[4:].split(": ")[0] for line in verdicts]
    assert len(names) == len(set(names)) == len(sections), "\n".join(verdicts)  # one gate per failing test, none twice
    for name, lines in sections.items():
        assert len(lines) <= 15 and not [line for line in lines if ROBUSTEST_LINES.search(line)], "\n".join(lines)


# -- unit tests: the numbers behind the messages ------------------------------------------------


class Variant(SimpleNamespace):
    pass


def stub_run(changed_query: str = "q3", seeds=(1999, 5)):
    """A FamilyRun-like stand-in: 20 queries, each top-1 unchanged but `changed_query`'s, whose
    variant (the same under every seed) brings another document to the top."""
    qids = [f"q{i}" for i in range(20)]
    clean = {q: [f"d{q}"] for q in qids}
    perturbations = [
        SimpleNamespace(seed=s, variants=[Variant(query_id=q, text=f"{q} variant", original=f"{q} original") for q in qids]) for s in seeds
    ]
    after = np.empty((len(seeds), len(qids)), dtype=object)
    for s in range(len(seeds)):
        for i, q in enumerate(qids):
            after[s, i] = ["elsewhere"] if q == changed_query else clean[q]
    return SimpleNamespace(
        family="stub", seeds=tuple(seeds), qids=qids, perturbations=perturbations, perturbed_queries=len(qids),
        skip_reasons=lambda: {}, rankings=lambda k: (clean, after),
    )


def test_a_never_gate_refuted_by_one_example_has_p_zero():
    with pytest.raises(RobustnessError) as failure:
        assert_top_k_unchanged(stub_run(), k=1)
    gate = failure.value.gate
    assert gate.verdict is Verdict.FAIL and gate.p_value == 0.0 and gate.drop_rate_ci[0] <= 0  # the CI alone would not fail it
    assert 'refutes "never": p = 0' in gate.note
    (adjusted, *_) = apply_holm([gate, gate.__class__(**{**gate.__dict__, "name": "other", "p_value": 0.5})])
    assert adjusted.p_adjusted == 0.0
    message = str(failure.value)
    assert message.count("[q3, seeds 1999, 5]") == 1 and ", seed 5]" not in message  # one example for both seeds


def attack(name: str, hit: slice, n: int = 100, seeds=(1999, 5)) -> AttackResult:
    hits = np.zeros((len(seeds), n))
    hits[:, hit] = 1
    return AttackResult(
        attack=name, n_passages=10, seeds=tuple(seeds), qids=[f"q{i}" for i in range(n)], hits={20: hits},
        best_rank=np.zeros((len(seeds), n)), passages=((),) * len(seeds), seconds=0.0, cached=(False,) * len(seeds),
    )


def test_a_poisoning_gate_states_the_attack_against_its_control():
    hotflip = attack("hotflip", slice(0, 80))  # ASR@20 80%
    close = attack("random_gold", slice(30, 100))  # 70%, hitting other queries: the difference is noise
    with pytest.raises(RobustnessError) as failure:
        assert_attack_success(hotflip, 0.3, control=close)
    message = str(failure.value)
    assert message.startswith("poisoning hotflip ASR@20 N=10: FAIL - ASR@20 80.00%")
    assert "random_gold control ASR@20 70.00%; attack minus control +10.00 points (95% CI [" in message and "), not significant" in message
    assert "the retriever also ranks random gold passages this high: the attack adds nothing significant" in message
    assert len(message.splitlines()) <= 6

    far = attack("random_gold", slice(0, 10))  # 10%: the attack is what reaches the queries
    with pytest.raises(RobustnessError) as failure:
        assert_attack_success(hotflip, 0.3, control=far)
    message = str(failure.value)
    assert "attack minus control +70.00 points" in message and "), significant" in message and "adds nothing" not in message
    with pytest.raises(ValueError, match="same seeds and test queries"):
        assert_attack_success(hotflip, 0.3, control=attack("random_gold", slice(0, 10), n=50))

    # the summary's poisoning lines say the same beside the gate
    from robustest.engine.summary import poisoning_lines
    from robustest.stats import compare_rates

    with pytest.raises(RobustnessError) as again:
        assert_attack_success(hotflip, 0.3, control=close)
    poisoning = SimpleNamespace(
        measurement=SimpleNamespace(
            hotflip=SimpleNamespace(tokens=50, iterations=30, pool=5), queries=SimpleNamespace(test=hotflip.qids, source="held out"),
            seeds=(1999, 5), ks=(20,), results={("hotflip", 10): hotflip, ("random_gold", 10): close},
        ),
        config=SimpleNamespace(k=20), passages=(10,), attacks=("hotflip", "random_gold"),
        comparisons={("hotflip", 10): compare_rates(hotflip.hits[20], close.hits[20])}, gates={("hotflip", 10): again.value.gate},
    )
    lines = poisoning_lines(poisoning)
    assert any(line.startswith("  hotflip - random_gold (N=10): ASR@20 +10.00 points") and "not significantly above the control" in line for line in lines)
    assert any(
        "so the gate poisoning hotflip ASR@20 N=10 fails at 80.00% with random_gold alone at 70.00%: the retriever also ranks random gold "
        "passages this high: the attack adds nothing significant" in line for line in lines
    ), "\n".join(lines)
