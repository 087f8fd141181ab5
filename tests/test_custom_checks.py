"""Custom robustness checks are first-class: the public family API, the `robustness` fixture's
gates, readable failures, and the examples in examples/custom_checks run as users run them."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import strategies as st

from conftest import failure_sections
from robustest import Family, NoLegalEdit, RobustestError, register_family, unregister_family
from robustest import families as F
from robustest import strategies as rst
from robustest.settings import parse_thresholds

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "custom_checks"
# The shipped gate of the family the examples register: the examples run beside it, as documented.
ABBREVIATIONS_GATE = f"{Path(__file__).resolve().parents[1] / 'robustest' / 'suites' / 'test_query_families.py'}::test_drop_rate[abbreviations]"


@pytest.fixture
def registry():
    """Families registered by a test are gone after it."""
    saved, origins = dict(F.FAMILIES), dict(F._REGISTERED_BY)
    yield F.FAMILIES
    F.FAMILIES.clear()
    F.FAMILIES.update(saved)
    F._REGISTERED_BY.clear()
    F._REGISTERED_BY.update(origins)


# -- the family API -------------------------------------------------------------------------

def test_substitution_family_replaces_whole_words_and_skips_queries_without_them():
    family = Family.substitutions({"temperature": "temp", "and": "&"}, name="abbreviations", threshold=0.1)
    plan = family.sampler("Temperature and pressure of the standard atmosphere", random.Random(1))
    assert plan.apply("Temperature and pressure of the standard atmosphere") == "temp & pressure of the standard atmosphere"
    assert plan.describe("") == "'temperature' -> 'temp'; 'and' -> '&'"
    with pytest.raises(NoLegalEdit, match="occurs in"):
        family.sampler("temperatures of bands", random.Random(1))  # whole words only: no 'and' in 'bands'
    regex = Family.substitutions({r"(\d+) degrees": r"\1°"}, name="units", regex=True)
    assert regex.sampler("heat at 300 degrees", random.Random(0)).apply("heat at 300 degrees") == "heat at 300°"


def test_function_family_takes_query_or_query_and_rng():
    def shout(query):
        """the query in capitals"""
        return query.upper()

    family = Family.from_function(shout)
    assert (family.name, family.description) == ("shout", "the query in capitals")
    assert family.sampler("a b", random.Random(0)).apply("a b") == "A B"
    with pytest.raises(NoLegalEdit, match="unchanged"):
        family.sampler("A B", random.Random(0))

    def drop_one(query, rng):
        words = query.split()
        words.pop(rng.randrange(len(words)))
        return " ".join(words)

    seeded = Family.from_function(drop_one, name="dropped_word")
    draws = {seeded.sampler("one two three four", random.Random(s)).apply("one two three four") for s in range(20)}
    assert len(draws) > 1 and all(len(d.split()) == 3 for d in draws)
    with pytest.raises(RobustestError, match="must return the perturbed query as a str"):
        Family.from_function(lambda q: None, name="broken").sampler("q", random.Random(0))


def test_register_family_checks_the_definition(registry):
    family = register_family(Family.substitutions({"with": "w/"}, name="abbreviations"))
    assert F.FAMILIES["abbreviations"] is family
    assert F.family_configs({"abbreviations": {"threshold": 0.3, "seeds": [1, 2]}})["abbreviations"].threshold == 0.3
    assert register_family(Family.substitutions({"and": "&"}, name="abbreviations"))  # same module again: replaced
    cases = [
        (Family("misspelling", lambda q, r: q), "built-in family"),
        (Family("two words", lambda q, r: q), "letters, digits and underscores"),
        (Family("noise", lambda q, r: q), "taken by robustest"),
        (Family("seeds", lambda q, r: q), "taken by robustest"),
        (Family("nothing"), "needs a sampler"),
        (Family("pct", lambda q, r: q, threshold=15), "looks like a percentage: write 0.15"),
        ("abbreviations", "takes a robustest.Family"),
    ]
    for family, message in cases:
        with pytest.raises(RobustestError, match=message):
            register_family(family)
    unregister_family("abbreviations")
    assert "abbreviations" not in F.FAMILIES
    with pytest.raises(RobustestError, match="built-in"):
        unregister_family("misspelling")


def test_thresholds_of_unregistered_families_are_refused_after_registration(registry):
    thresholds = parse_thresholds("abbreviations=0.3")  # read before any conftest registered it
    with pytest.raises(RobustestError, match="'abbreviations' is not a family.*register_family"):
        F.family_configs({}, thresholds=thresholds)
    register_family(Family.substitutions({"with": "w/"}, name="abbreviations"))
    assert F.family_configs({}, thresholds=thresholds)["abbreviations"].threshold == 0.3


def test_draws_print_as_query_and_edit():
    queries = {"q1": "heat transfer in laminar flow", "q2": "the of"}
    strategy = rst.perturbed_queries(queries, rst.from_sampler(F.FAMILIES["reordering"].sampler))
    drawn = strategy.example()
    assert drawn.query_id == "q1"  # q2 allows no swap: never drawn
    assert re.fullmatch(r"query q1 'heat transfer in laminar flow': swap '\w+' and '\w+' -> '.+'", repr(drawn))
    batch = rst.plan_batches(queries, rst.swaps).example()
    assert repr(batch).startswith("query q1 'heat transfer in laminar flow': [swap")
    qid, query, plans = batch  # still unpacks like the tuple it is
    assert qid == "q1" and plans


def test_short_reprs_of_what_fixtures_hand_out(small_cranfield):
    from robustest.data import load_beir

    dataset = load_beir(small_cranfield)
    assert re.fullmatch(r"Dataset\(small-cranfield \[test\]: 150 documents, 20 queries, fingerprint \w{12}\)", repr(dataset))


# -- end to end: the examples, as a user runs them --------------------------------------------

def run_examples(pytester, cranfield_dir, cache_dir, *args, pyproject: str = "", edit=None):
    for path in EXAMPLES.glob("*.py"):
        text = path.read_text()
        (pytester.path / path.name).write_text(edit(path.name, text) if edit else text)
    pytester.makepyprojecttoml(pyproject)
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--rootdir={pytester.path}", "-c", str(pytester.path / "pyproject.toml"),
        f"--robustest-dataset={cranfield_dir}", f"--robustest-cache-dir={cache_dir}", *args,
    )


def test_examples_pass_and_a_registered_family_is_reported_like_a_built_in(pytester, cranfield_dir, cache_dir, tmp_path):
    run, html, junit = tmp_path / "run.json", tmp_path / "report.html", tmp_path / "junit.xml"
    result = run_examples(
        pytester, cranfield_dir, cache_dir, str(pytester.path), ABBREVIATIONS_GATE, f"--robustest-save={run}", f"--robustest-html={html}", f"--junitxml={junit}",
        pyproject="[tool.robustest.abbreviations]\nthreshold = 0.2\n",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*abbreviations drop rate * 20.0% * pass", "*capitalized top-1 unchanged * pass"])
    saved = json.loads(run.read_text())
    gates = {g["name"]: g for g in saved["gates"]}
    assert gates["abbreviations drop rate"]["threshold"] == 0.2 and gates["abbreviations drop rate"]["seeds"] == [1999, 5, 27, 2016, 2026]
    assert gates["capitalized top-1 unchanged"]["drop_rate_mean"] == 0.0  # an uncased model cannot see capitals
    variants = saved["families"]["abbreviations"]["variants"]["1999"]
    assert len(variants) >= 10 and all("&" in v["text"] or "w/" in v["text"] or "no." in v["text"] or v["text"] != saved["queries"][q] for q, v in variants.items())
    assert "abbreviations" in html.read_text() and 'name="robustest.abbreviations_drop_rate.verdict" value="pass"' in junit.read_text()
    from robustest.cli import main

    assert main(["analyze", str(run), "--out", str(tmp_path / "analysis")]) == 0
    assert any("abbreviations" in p.read_text() for p in (tmp_path / "analysis").glob("*.csv"))

    # Gated against that run: its variants are replayed, the family is compared, selected by marker,
    # its threshold set on the command line.
    again = tmp_path / "again.json"
    replay = run_examples(
        pytester, cranfield_dir, cache_dir, str(pytester.path), ABBREVIATIONS_GATE, f"--robustest-baseline={run}", f"--robustest-save={again}",
        "-m", "abbreviations", "--robustest-thresholds=abbreviations=0.3",
    )
    replay.assert_outcomes(passed=2, deselected=2)
    replay.stdout.fnmatch_lines(["*abbreviations drop rate * 30.0% * pass", "*abbreviations drop rate * +0.00 * pass"])
    second = json.loads(again.read_text())
    assert second["families"]["abbreviations"]["variants"] == saved["families"]["abbreviations"]["variants"]


def fragile(name: str, text: str) -> str:
    """Deliberately fragile variants of the examples: each check must fail."""
    if name == "test_neutral_phrase.py":  # a phrase that drowns the query
        drown = " ".join(["recipes for chocolate cake, medieval poetry, football results, stock prices and gardening tips"] * 3)
        return text.replace("PHRASES = (", f"PHRASES = ({drown!r}, ")
    if name == "conftest.py":  # 'capitalized' now reverses the words: a different query to the model
        return text.replace('return query[:1].upper() + query[1:]', 'return " ".join(reversed(query.split()))')
    return text


def test_fragile_examples_fail_with_short_readable_messages(pytester, cranfield_dir, cache_dir):
    result = run_examples(
        pytester, cranfield_dir, cache_dir, str(pytester.path), ABBREVIATIONS_GATE, "--robustest-seeds=1999,5",
        pyproject="[tool.robustest.abbreviations]\nthreshold = 0.001\n", edit=fragile,
    )
    result.assert_outcomes(failed=3, passed=1)  # the example's own abbreviation check (ranks) holds; the shipped gate fails
    sections = failure_sections(result.stdout.str())
    assert set(sections) == {
        "test_drop_rate[abbreviations]", "test_a_neutral_phrase_keeps_a_relevant_document_in_the_top_10", "test_capitalizing_never_changes_the_top_document",
    }
    for name, lines in sections.items():
        assert len(lines) < 40, f"{name} printed {len(lines)} lines:\n" + "\n".join(lines)
        assert not any("robustest/plugin" in line or "robustest/engine" in line or "robustest/assertions" in line for line in lines), "\n".join(lines)
    text = {name: "\n".join(lines) for name, lines in sections.items()}
    assert "abbreviations drop rate: FAIL" in text["test_drop_rate[abbreviations]"] and "threshold 0.1%" in text["test_drop_rate[abbreviations]"]
    phrase = text["test_a_neutral_phrase_keeps_a_relevant_document_in_the_top_10"]
    assert "prefix 'recipes for chocolate cake" in phrase and "moved the best relevant document of query" in phrase
    assert re.search(r"query \d+ '.+': prefix 'recipes", phrase), phrase  # the drawn example reads as query and edit
    top = text["test_capitalizing_never_changes_the_top_document"]
    assert "capitalized top-1 unchanged: FAIL" in top and "changed (seed: original -> variant" in top


def test_a_check_over_no_perturbed_query_is_not_judged_saying_why(pytester, cranfield_dir, cache_dir):
    """Too few perturbed queries decides nothing: a skip with the reason, never a pass; the CI
    preset makes it a failure."""
    pytester.makeconftest(
        "from robustest import Family, register_family\n"
        "register_family(Family.from_function(str.lower, name='lowercased'))\n"
    )
    pytester.makepyfile("def test_lowercase(robustness):\n    robustness.top_k_unchanged('lowercased', k=1)\n")
    pytester.makepyprojecttoml("")
    args = [
        "-p", "no:cacheprovider", f"--rootdir={pytester.path}", "-c", str(pytester.path / "pyproject.toml"), "-rs",
        f"--robustest-dataset={cranfield_dir}", f"--robustest-cache-dir={cache_dir}", "--robustest-seeds=1999",
    ]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        "verdict: NOT SHOWN SAFE - 1 not judged (too few perturbed queries)",
        "not judged: lowercased: not judged*",
        "SKIPPED*lowercased: not judged - 0 of 225 queries were perturbed, fewer than min_queries = 10; 225 had no variant, e.g. *: lowercased leaves * unchanged*",
    ])
    strict = pytester.runpytest_subprocess(*args, "--robustest-ci")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*lowercased: not judged - 0 of 225 queries were perturbed*(--robustest-not-judged=fail)*"])


def test_the_shipped_suites_gate_a_registered_family(pytester, small_cranfield, cache_dir):
    """`robustest init` copies the suites; a conftest beside them adds a family to their gates."""
    from robustest.cli import main

    assert main(["init", str(pytester.path / "suites")]) == 0
    (pytester.path / "suites" / "conftest.py").write_text(
        "from robustest import Family, register_family\n"
        "register_family(Family.from_function(lambda q: q.replace(' of ', ' '), name='no_of', threshold=0.5))\n"
    )
    result = pytester.runpytest_subprocess(
        str(pytester.path / "suites"), "-p", "no:cacheprovider", f"--rootdir={pytester.path}", "-m", "no_of", "-v",
        f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", "--robustest-seeds=1999",
    )
    result.assert_outcomes(passed=2)  # its drop-rate gate and its worst-case search (from its sampler)
    # PASSED shares the test's line, or follows a progress line when the corpus is encoded cold
    assert re.search(r"test_drop_rate\[no_of\][\s\S]*?PASSED", result.stdout.str())
    result.stdout.fnmatch_lines(["  no_of: one edit breaks * queries *", "*no_of drop rate * 50.0% * pass"])


# -- a registered family's [tool.robustest.<name>] table, wherever its conftest sits ---------------

REGISTERS_ABBREVIATIONS = (
    "from robustest import Family, register_family\n"
    "register_family(Family.substitutions({'temperature': 'temp'}, name='abbreviations'))\n"
)
READS_ITS_SETTINGS = (
    "def test_the_settings_reach_the_family(request):\n"
    "    from robustest.plugin.hooks import get_session\n"
    "    config = get_session(request.config).families['abbreviations']\n"
    "    assert (config.threshold, config.k) == (0.3, 20)\n"
)
ABBREVIATIONS_TABLE = "[tool.robustest.abbreviations]\nthreshold = 0.3\n"


def run_here(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--rootdir={pytester.path}", "-c", str(pytester.path / "pyproject.toml"), *args)


def unregistered_error(pytester, named: str) -> str:
    builtins = ", ".join(name for name in F.FAMILIES if name in F.BUILTIN)  # the subprocess registers none of its own
    return (
        f"ERROR: {named} names no registered family ({builtins}): register it with robustest.register_family in a conftest.py that pytest "
        f"loads before collecting the tests that use it (the rootdir's {pytester.path}/conftest.py, or one in a test folder you pass), "
        "or in a plugin (-p module); with --pyargs, put the conftest.py in the installed package's test folder or use -p"
    )


def test_a_family_registered_in_a_test_folder_reads_its_table(pytester):
    """The conftest of tests/sub loads only when pytest collects tests/sub, after configure."""
    pytester.makepyprojecttoml(ABBREVIATIONS_TABLE)
    sub = pytester.mkdir("tests") / "sub"
    sub.mkdir()
    (sub / "conftest.py").write_text(REGISTERS_ABBREVIATIONS)
    (sub / "test_abbreviations.py").write_text(READS_ITS_SETTINGS)
    result = run_here(pytester, "tests", "--robustest-family-set=abbreviations.k=20")
    result.assert_outcomes(passed=1)
    # A value of a registered family that is wrong is still one line, once the conftest loaded.
    bad = run_here(pytester, "tests", "--robustest-family-set=abbreviations.k=0")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: [tool.robustest.abbreviations]: k = '0': '0' must be at least 1" in bad.stderr.lines


def test_an_unregistered_table_is_one_line_and_help_still_works(pytester):
    pytester.makepyprojecttoml(ABBREVIATIONS_TABLE)
    pytester.makepyfile("def test_plain():\n    pass\n")
    helped = run_here(pytester, "--help")
    assert helped.ret == pytest.ExitCode.OK and "--robustest-family-set" in helped.stdout.str()
    result = run_here(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line.strip()] == [unregistered_error(pytester, f"[tool.robustest.abbreviations] in {pytester.path / 'pyproject.toml'}")]
    pytester.makepyprojecttoml("")
    named = run_here(pytester, "--robustest-thresholds=abbreviations=0.2")
    assert named.ret == pytest.ExitCode.USAGE_ERROR
    assert unregistered_error(pytester, "'abbreviations' in --robustest-thresholds (or the ini key robustest_thresholds)") in named.stderr.lines


def test_with_pyargs_the_installed_package_registers_its_family(pytester, tmp_path_factory, monkeypatch):
    """An installed test package, outside the rootdir: its conftest.py registers the family."""
    site = tmp_path_factory.mktemp("site")
    tests = site / "abbreviated" / "tests"
    tests.mkdir(parents=True)
    for path, text in {"abbreviated/__init__.py": "", "abbreviated/tests/__init__.py": "", "abbreviated/tests/conftest.py": REGISTERS_ABBREVIATIONS,
                       "abbreviated/tests/test_abbreviations.py": READS_ITS_SETTINGS}.items():
        (site / path).write_text(text)
    pytester.syspathinsert(site)  # importable here, and in the pytest subprocesses below
    monkeypatch.setenv("PYTHONPATH", str(site))
    pytester.makepyprojecttoml(ABBREVIATIONS_TABLE + "k = 20\n")
    result = run_here(pytester, "--pyargs", "abbreviated.tests")
    result.assert_outcomes(passed=1)
    (tests / "conftest.py").unlink()
    missing = run_here(pytester, "--pyargs", "abbreviated.tests")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    assert unregistered_error(pytester, f"[tool.robustest.abbreviations] in {pytester.path / 'pyproject.toml'}") in missing.stderr.lines
