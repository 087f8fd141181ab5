"""Calibration: how human are the misspellings each family makes?

On a public set of real (correct, misspelt) word pairs that the human model was not built from
(codespell's dictionary of common misspellings, read from the installed codespell package, CC
BY-SA 3.0 data), each generator misspells the correct word `--draws` times (a one-word query,
its own seeded rng per draw) and we count:

- exact rate (the headline): the share of draws that are the exact human misspelling, overall
  and split by whether the human model's list (nlpaug's) has the word (then it draws from the
  list) or not (then its kinds of error make it);
- hit rate: the share of pairs whose exact human misspelling is among the `--draws` draws (a
  coarser view: with many draws a uniform generator covers most of a short word's one-edit
  neighbourhood, so this saturates where the exact rate does not);
- the edit-type mix of the draws beside the human pairs' own: one insertion, deletion,
  substitution or transposition, several edits, or a real word (wordfreq Zipf >= 3, first), and
  its total variation distance to the human mix.

`misspelling` is the paper's family (TextAttack's six character operators), left as it is.
Results to benchmarks/results/NNNN_human_misspellings.json.

    python benchmarks/bench_human_misspellings.py [--pairs 2000] [--draws 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
from collections import Counter
from pathlib import Path

from common import machine_info, next_results_path

from robustest.perturb.human_typos import REAL_WORD_ZIPF, misspelling_list, sample_human_typos, single_edit, zipf
from robustest.perturb.typos import sample_typos
from robustest.stopwords import english_stopwords

TYPES = ("real-word", "insertion", "deletion", "substitution", "transposition", "several")
GENERATORS = {"misspelling": sample_typos, "human_misspelling": sample_human_typos}


def codespell_pairs() -> list[tuple[str, str]]:
    """(correct, misspelt) from codespell's dictionary.txt: lowercase letters only, one
    correction, a correct word of at least 3 letters that is no stopword."""
    spec = importlib.util.find_spec("codespell_lib")
    if spec is None:
        raise SystemExit("the calibration set is codespell's dictionary: pip install codespell (in the dev extra)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "dictionary.txt"
    stop = english_stopwords()
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        wrong, _, right = line.partition("->")
        right = right.strip()
        if "," in right or not (wrong.isalpha() and right.isalpha() and wrong.islower() and right.islower()):
            continue
        if len(right) >= 3 and right not in stop and wrong != right:
            pairs.append((right, wrong))
    return pairs


EDIT_TYPES = {"ins": "insertion", "del": "deletion", "sub": "substitution", "trans": "transposition"}


def edit_type(correct: str, wrong: str) -> str:
    if zipf(wrong) >= REAL_WORD_ZIPF:
        return "real-word"
    edit = single_edit(correct, wrong)
    return EDIT_TYPES[edit[0]] if edit else "several"


def mix(counts: Counter) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {t: round(counts[t] / total, 4) for t in TYPES}


def share(counts) -> float | None:
    """sum of hits / sum of tries over [hits, tries] pairs."""
    counts = list(counts)
    tries = sum(c[1] for c in counts)
    return round(sum(c[0] for c in counts) / tries, 4) if tries else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="pairs sampled from the set (seeded)")
    parser.add_argument("--draws", type=int, default=20, help="misspellings drawn per pair and generator")
    args = parser.parse_args()
    everything = codespell_pairs()
    pairs = random.Random(1999).sample(everything, min(args.pairs, len(everything)))
    listed = misspelling_list()
    human = Counter(edit_type(c, w) for c, w in pairs)
    result = {
        "set": f"codespell dictionary.txt: {len(everything)} usable pairs, {len(pairs)} sampled (seed 1999)",
        "draws_per_pair": args.draws,
        "pairs_whose_word_the_list_has": sum(c in listed for c, _ in pairs),
        "human_mix": mix(human),
        "generators": {},
    }
    for name, sampler in GENERATORS.items():
        hits = {"listed": [0, 0], "not listed": [0, 0]}  # pairs hit within the draws, pairs
        exact = {"listed": [0, 0], "not listed": [0, 0]}  # draws equal to the human misspelling, draws
        drawn = Counter()
        for correct, wrong in pairs:
            outputs = [sampler(correct, random.Random(f"{name}:{correct}:{d}")).apply(correct) for d in range(args.draws)]
            drawn.update(edit_type(correct, typo) for typo in outputs)
            group = "listed" if correct in listed else "not listed"
            hits[group][0] += wrong in outputs
            hits[group][1] += 1
            exact[group][0] += outputs.count(wrong)
            exact[group][1] += len(outputs)
        generated = mix(drawn)
        result["generators"][name] = {
            "exact_rate": share(exact.values()),
            "exact_rate_by_list": {k: share([v]) for k, v in exact.items()},
            "hit_rate": share(hits.values()),
            "hit_rate_by_list": {k: share([v]) for k, v in hits.items()},
            "mix": generated,
            "total_variation_to_human": round(0.5 * sum(abs(generated[t] - result["human_mix"][t]) for t in TYPES), 4),
        }
    mine, paper = result["generators"]["human_misspelling"], result["generators"]["misspelling"]
    result["exact_rate_ratio"] = round(mine["exact_rate"] / paper["exact_rate"], 2) if paper["exact_rate"] else None
    result["hit_rate_ratio"] = round(mine["hit_rate"] / paper["hit_rate"], 2) if paper["hit_rate"] else None
    result["machine"] = machine_info()
    path = next_results_path("human_misspellings")
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
