"""The documents group: OCR noise, human typos, truncation and boilerplate on the judged documents.

The perturbations on real cranfield text, the measurement checked against an independent one
(a BEIR folder with the changed documents, encoded from scratch by all-MiniLM-L6-v2), the shipped
suite on cranfield, and a baseline replay."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import robustest
from robustest.document_noise import BOILERPLATE, OCR, boilerplate, doc_typos, ocr_noise, sample_rows, truncation
from robustest.families import FAMILIES
from robustest.perturb import NoLegalEdit

from conftest import validate_run_file, write_beir

KINDS = ["ocr_noise", "doc_typos", "truncation", "boilerplate"]
SUITE = Path(robustest.__file__).parent / "suites" / "test_query_families.py"


@pytest.fixture(scope="module")
def cranfield(cranfield_dir):
    from robustest.data import load_beir

    return load_beir(cranfield_dir)


def test_the_group_has_four_families():
    assert [n for n, f in FAMILIES.items() if f.group == "documents"] == KINDS
    assert all(FAMILIES[k].gated and not FAMILIES[k].perturbs_queries for k in KINDS)


def confusions(original: str, noisy: str) -> int | None:
    """The fewest OCR-table replacements that turn `original` into `noisy`, None if none do
    (a walk over `original`: each step copies a character or replaces a table entry)."""
    reach: list[dict[int, int]] = [dict() for _ in range(len(original) + 1)]
    reach[0][0] = 0
    for i in range(len(original)):
        for j, cost in reach[i].items():
            steps = [(1, 1, 0)] if j < len(noisy) and original[i] == noisy[j] else []
            steps += [(len(a), len(b), 1) for a, bs in OCR.items() if original.startswith(a, i) for b in bs if noisy.startswith(b, j)]
            for di, dj, extra in steps:
                here = reach[i + di]
                here[j + dj] = min(here.get(j + dj, cost + extra), cost + extra)
    return reach[len(original)].get(len(noisy))


def test_ocr_noise_confuses_only_what_ocr_confuses(cranfield):
    for row in range(30):
        text = cranfield.documents[row]
        noisy = ocr_noise(text, random.Random(row))
        assert noisy != text
        made = confusions(text, noisy)  # every change is a confusion of the table, about 3% of the letters
        assert made is not None and 1 <= made <= round(0.03 * sum(c.isalnum() for c in text)) + 1
    outputs = {ocr_noise("the rn and the l", random.Random(s)) for s in range(200)}
    assert {"the m and the l", "the rn and the 1", "thc rn and the l"} <= outputs
    with pytest.raises(NoLegalEdit):
        ocr_noise("   ", random.Random(0))


def test_ocr_table_goes_both_ways_where_the_literature_says():
    assert "m" in OCR["rn"] and "rn" in OCR["m"] and "1" in OCR["l"] and "c" in OCR["e"]


def test_truncation_boilerplate_and_typos(cranfield):
    class Cfg:
        extra = {"tokens": 20}

    long = next(t for t in cranfield.documents if len(t.split()) > 40)
    assert truncation(long, random.Random(0), Cfg()).split() == long.split()[:20]
    with pytest.raises(NoLegalEdit):
        truncation("a short one", random.Random(0), Cfg())
    framed = boilerplate(long, random.Random(3))
    head, _, rest = framed.partition("\n")
    assert head in BOILERPLATE and rest == long
    typo = doc_typos(long, random.Random(1))
    changed = [a != b for a, b in zip(long.split(), typo.split())]
    assert 1 <= sum(changed) <= max(int(0.1 * len(long.split())), 1) + 1


def test_the_sample_is_the_judged_documents_then_others(cranfield):
    qids = sorted(cranfield.queries, key=int)[:10]
    judged = {cranfield.doc_ids.index(d) for q in qids for d, g in cranfield.qrels[q].items() if g > 0}
    assert set(sample_rows(cranfield, qids, 0, 1999)) == judged
    more = sample_rows(cranfield, qids, 40, 1999)
    assert judged < set(more) and len(more) == len(judged) + 40 and more == sample_rows(cranfield, qids, 40, 1999)


@pytest.mark.parametrize("family", ["truncation", "ocr_noise"])
def test_the_scores_equal_an_index_built_from_the_changed_documents(family, minilm_dir, small_cranfield, cache_dir, tmp_path):
    """Rank against the corpus with the judged documents changed == encode a BEIR folder holding
    exactly those changed documents from scratch and rank against it."""
    from robustest.data import load_beir
    from robustest.perturb.base import rng_for

    report = robustest.check(str(minilm_dir), str(small_cranfield), families=[family], seeds=[1999, 5], family_set=f"{family}.tokens=40" if family == "truncation" else None,
                             cache_dir=str(cache_dir), verbose=False)
    record = report.run["families"][family]
    assert record["acts_on"] == "documents"
    dataset = load_beir(small_cranfield)
    rows = set(sample_rows(dataset, sorted(dataset.queries), 0, 1999))

    class Cfg:
        extra = {"tokens": 40}

    for seed in (1999, 5):
        docs = {}
        for i, (doc_id, title, text) in enumerate(zip(dataset.doc_ids, dataset.titles, dataset.texts)):
            if i in rows:
                try:
                    changed = (truncation if family == "truncation" else ocr_noise)(dataset.documents[i], rng_for(seed, family, doc_id), Cfg())
                    docs[doc_id] = ("", changed)
                    continue
                except NoLegalEdit:
                    pass
            docs[doc_id] = (title, text)
        folder = write_beir(tmp_path / f"{family}-{seed}", docs, dict(dataset.queries), {q: dataset.qrels[q] for q in dataset.queries})
        fresh = robustest.check(str(minilm_dir), str(folder), families=[], cache_dir=str(cache_dir), verbose=False)
        assert record["perturbed"][str(seed)] == pytest.approx(fresh.run["per_query"]["nDCG@10"], abs=2e-5)
    assert record["clean"] == pytest.approx(report.run["per_query"]["nDCG@10"], abs=2e-5)
    assert report.run[f"{family}_documents"]["corpus"] == len(dataset.doc_ids)


@pytest.fixture(scope="module")
def documents_run(cranfield_dir, cache_dir, tmp_path_factory):
    """The issue's run: -m documents on 30 cranfield queries with the default model."""
    folder = tmp_path_factory.mktemp("documents")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "-m", "documents", f"--robustest-dataset={cranfield_dir}",
         "--robustest-max-queries=30", f"--robustest-cache-dir={cache_dir}", f"--robustest-save={folder / 'run.json'}",
         f"--robustest-html={folder / 'report.html'}"],
        cwd=folder, capture_output=True, text=True,
    )
    return done, folder


def test_every_document_family_is_gated_with_far_fewer_documents_than_the_corpus(documents_run):
    done, folder = documents_run
    assert done.returncode in (0, 1), done.stdout[-3000:]
    run = validate_run_file(folder / "run.json")
    gates = {g["family"]: g for g in run["gates"]}
    for kind in KINDS:
        assert gates[kind]["verdict"] in ("pass", "fail", "inconclusive"), kind
        assert run["families"][kind]["acts_on"] == "documents" and len(run["families"][kind]["seeds"]) == 5
        counts = run[f"{kind}_documents"]
        assert counts["corpus"] == 1400 and 0 < max(counts["changed"].values()) < 0.2 * 1400
        assert sum(counts["encoded"].values()) <= sum(counts["changed"].values())
        assert f"{kind} drop rate" in done.stdout and f"{kind}: documents changed per seed" in done.stdout
    assert run["truncation_documents"]["encoded"]["5"] == 0  # deterministic: the first seed's texts are reused
    assert "Worst queries" in (folder / "report.html").read_text()


def test_a_baseline_measures_the_same_documents_again(small_cranfield, cache_dir, tmp_path):
    common = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "-m", "boilerplate", f"--robustest-dataset={small_cranfield}",
              f"--robustest-cache-dir={cache_dir}", "--robustest-seeds=1999,5"]
    first = subprocess.run([*common, f"--robustest-save={tmp_path / 'a.json'}"], cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout[-3000:]
    again = subprocess.run([*common, f"--robustest-baseline={tmp_path / 'a.json'}", f"--robustest-save={tmp_path / 'b.json'}"], cwd=tmp_path, capture_output=True, text=True)
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    for seed in ("1999", "5"):
        assert b["families"]["boilerplate"]["perturbed"][seed] == pytest.approx(a["families"]["boilerplate"]["perturbed"][seed], abs=1e-6)
    compared = [r for r in b["comparison"]["regressions"] if r["family"] == "boilerplate"]
    assert compared and compared[0]["difference"] == pytest.approx(0, abs=1e-9), again.stdout[-3000:]


def test_the_group_runs_only_when_selected(tmp_path):
    """It encodes documents: a full run leaves it out (quietly deselected); -m with the group or
    a family's name selects it; check() runs it only when named."""
    from robustest.checking import chosen_families
    from robustest.engine.session import RobustestSession
    from robustest.settings import Settings

    def collected(*args):
        done = subprocess.run([sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "--collect-only", "-q", *args],
                              cwd=tmp_path, capture_output=True, text=True)
        return [line for line in done.stdout.splitlines() if "::" in line]

    everything = collected()
    assert everything and not any(kind in line for line in everything for kind in KINDS)
    selected = collected("-m", "documents")
    assert sorted(line.rsplit("::", 1)[1] for line in selected) == sorted(f"test_drop_rate[{k}]" for k in KINDS)
    assert [line for line in collected("-m", "ocr_noise or reordering") if "ocr_noise" in line]
    session = RobustestSession(Settings())
    assert not set(KINDS) & set(chosen_families(session, None))
    assert chosen_families(session, ["truncation"]) == ["truncation"]
