"""Calibration: how human are the misspellings each family makes?

On a public set of real (correct, misspelt) word pairs that the human model was not built from
(codespell's dictionary of common misspellings, read from the installed codespell package, CC
BY-SA 3.0 data), each generator misspells the correct word `--draws` times (a one-word query,
its own seeded rng per draw) and we count:

- hit rate: the share of pairs whose exact human misspelling is among the draws, overall and
  split by whether the human model's list (nlpaug's) has the word (then it draws from the list)
  or not (then its kinds of error make it);
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

from robustest.perturb.human_typos import REAL_WORD_ZIPF, misspelling_list, sample_human_typos, zipf
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


def edit_type(correct: str, wrong: str) -> str:
    if zipf(wrong) >= REAL_WORD_ZIPF:
        return "real-word"
    if len(wrong) == len(correct) + 1 and any(wrong[:i] + wrong[i + 1:] == correct for i in range(len(wrong))):
        return "insertion"
    if len(wrong) + 1 == len(correct) and any(correct[:i] + correct[i + 1:] == wrong for i in range(len(correct))):
        return "deletion"
    if len(wrong) == len(correct):
        diff = [i for i, (a, b) in enumerate(zip(correct, wrong)) if a != b]
        if len(diff) == 1:
            return "substitution"
        if len(diff) == 2 and diff[1] == diff[0] + 1 and correct[diff[0]] == wrong[diff[1]] and correct[diff[1]] == wrong[diff[0]]:
            return "transposition"
    return "several"


def mix(counts: Counter) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {t: round(counts[t] / total, 4) for t in TYPES}


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
        hits = {"listed": [0, 0], "not listed": [0, 0]}
        drawn = Counter()
        for correct, wrong in pairs:
            outputs = set()
            for d in range(args.draws):
                plan = sampler(correct, random.Random(f"{name}:{correct}:{d}"))
                typo = plan.apply(correct)
                outputs.add(typo)
                drawn[edit_type(correct, typo)] += 1
            group = hits["listed" if correct in listed else "not listed"]
            group[0] += wrong in outputs
            group[1] += 1
        total_hits, total = sum(h[0] for h in hits.values()), sum(h[1] for h in hits.values())
        generated = mix(drawn)
        result["generators"][name] = {
            "hit_rate": round(total_hits / total, 4),
            "hit_rate_by_list": {k: round(h[0] / h[1], 4) if h[1] else None for k, h in hits.items()},
            "mix": generated,
            "total_variation_to_human": round(0.5 * sum(abs(generated[t] - result["human_mix"][t]) for t in TYPES), 4),
        }
    mine, paper = result["generators"]["human_misspelling"], result["generators"]["misspelling"]
    result["hit_rate_ratio"] = round(mine["hit_rate"] / paper["hit_rate"], 2) if paper["hit_rate"] else None
    result["machine"] = machine_info()
    path = next_results_path("human_misspellings")
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
