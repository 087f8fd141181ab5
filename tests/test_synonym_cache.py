"""WordNet's answers kept between runs (perturb/synonym_cache.py): a warm run draws the same
synonyms without parsing WordNet. Real WordNet (Debian's files), real cranfield queries, and
the shipped suite with real MiniLM."""

from __future__ import annotations

import json
import random
import warnings

import pytest

from robustest.cache import CacheDamageWarning
from robustest.perturb import synonyms as S
from robustest.perturb.base import NoLegalEdit
from robustest.perturb.synonym_cache import SynonymCache
from conftest import query_suite_args
from test_synonyms import EXTRA, real_queries, wordnet  # noqa: F401  (fixtures)

# A plugin of the child run (-p nowordnet): parsing WordNet fails the run.
NO_WORDNET_PLUGIN = '''
from robustest.perturb import synonyms

def _wordnet():
    raise RuntimeError("WordNet was parsed")

synonyms._wordnet = _wordnet
'''


@pytest.fixture
def fresh_process(monkeypatch):
    """As in a new process: nothing asked of WordNet yet, no table attached."""
    for name in ("_STORED", "_LEARNED"):
        monkeypatch.setattr(S, name, {})
    monkeypatch.setattr(S, "_ATTACHED", [])
    S.synonym_candidates.cache_clear()
    yield
    S.synonym_candidates.cache_clear()


def new_process(monkeypatch) -> None:
    S._STORED.clear()
    S._LEARNED.clear()
    S.synonym_candidates.cache_clear()
    monkeypatch.setattr(S, "_wordnet", lambda: pytest.fail("WordNet was parsed although the table had the word"))


def draws(queries):
    out = []
    for q in queries:
        for seed in (1999, 5, 27):
            try:
                out.append(S.sample_synonyms(q, random.Random(seed)).apply(q))
            except NoLegalEdit:
                out.append(None)
    return out, [S.synonym_options(q) for q in queries], [S.synonym_options(q, "any") for q in queries]


def test_a_stored_table_answers_as_wordnet_does_without_parsing_it(real_queries, tmp_path, fresh_process, monkeypatch):
    queries = real_queries[:40] + EXTRA
    S.attach(SynonymCache(tmp_path))
    from_wordnet = draws(queries)
    assert SynonymCache(tmp_path).save() > 0
    records = sorted((tmp_path / "synonyms").glob("*.json"))
    assert len(records) == 2  # one table per part-of-speech mode

    new_process(monkeypatch)
    S.attach(SynonymCache(tmp_path))
    assert draws(queries) == from_wordnet
    assert SynonymCache(tmp_path).save() == 0 and sorted((tmp_path / "synonyms").glob("*.json")) == records  # nothing new


def test_new_words_are_added_to_the_table(real_queries, tmp_path, fresh_process, monkeypatch):
    S.attach(SynonymCache(tmp_path))
    draws(real_queries[:5])
    first = SynonymCache(tmp_path).save()
    S.synonym_candidates.cache_clear()
    draws(real_queries[:10])  # five queries more: only their words are looked up and added
    added = SynonymCache(tmp_path).save()
    assert first > 0 and added > 0
    words = [json.loads(r.read_text())["words"] for r in (tmp_path / "synonyms").glob("*.json")]
    assert sum(map(len, words)) == first + added

    new_process(monkeypatch)
    S.attach(SynonymCache(tmp_path))
    draws(real_queries[:10])


def test_another_wordnet_gets_another_table(real_queries, tmp_path, fresh_process, monkeypatch):
    S.attach(SynonymCache(tmp_path))
    draws(real_queries[:3])
    SynonymCache(tmp_path).save()
    S.synonym_candidates.cache_clear()
    S._STORED.clear()
    monkeypatch.setattr("robustest.data.wordnet.wordnet_digest", lambda **_: "another wordnet")
    cache = SynonymCache(tmp_path)
    assert cache.load() == 0  # the stored table is of the other WordNet


def test_a_damaged_table_warns_and_is_rebuilt(real_queries, tmp_path, fresh_process, monkeypatch):
    S.attach(SynonymCache(tmp_path))
    expected = draws(real_queries[:5])
    SynonymCache(tmp_path).save()
    records = list((tmp_path / "synonyms").glob("*.json"))
    for record in records:
        record.write_text("{not json")

    S._STORED.clear()
    S.synonym_candidates.cache_clear()
    S.attach(SynonymCache(tmp_path))
    with pytest.warns(CacheDamageWarning, match="synonym cache"):
        assert draws(real_queries[:5]) == expected  # from WordNet again
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheDamageWarning)
        assert SynonymCache(tmp_path).save() > 0
    assert all(json.loads(r.read_text())["words"] for r in records)


def test_no_cache_folder_and_no_wordnet_store_nothing(real_queries, tmp_path, fresh_process, monkeypatch):
    S.attach(SynonymCache(None))
    draws(real_queries[:3])
    assert SynonymCache(None).save() == 0
    monkeypatch.setattr("robustest.data.wordnet.wordnet_digest", lambda **_: None)
    assert SynonymCache(tmp_path).load() == 0 and SynonymCache(tmp_path).save() == 0
    assert not (tmp_path / "synonyms").exists()


def test_a_warm_suite_run_draws_the_same_synonyms_without_wordnet(pytester, cache_dir, small_cranfield, tmp_path, wordnet):
    suite = query_suite_args(pytester, cache_dir, small_cranfield, "min_queries = 5\nworst_case_queries = 10\nworst_case_neighbours = 8\n")
    pytester.makepyfile(nowordnet=NO_WORDNET_PLUGIN)
    runs = []
    for name, extra in (("cold", ()), ("warm", ("-p", "nowordnet"))):
        out = tmp_path / f"{name}.json"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PYTHONPATH", str(pytester.path))
            result = pytester.runpytest_subprocess(*suite, *extra, "--robustest-seeds=1999,5", f"--robustest-save={out}", "-k", "synonymizing")
        assert result.ret == 0, "\n".join(result.errlines[-60:])
        runs.append(json.loads(out.read_text()))
    assert list((cache_dir / "synonyms").glob("*.json"))
    cold, warm = (r["families"]["synonymizing"] for r in runs)
    assert warm["variants"] == cold["variants"] and warm["drop_rates"] == cold["drop_rates"]
    assert runs[1]["worst_case"]["synonymizing"] == runs[0]["worst_case"]["synonymizing"]
