"""Estimate the human_misspelling family's mixture of error kinds from real misspellings.

Every (correct word, misspelling) pair of the English list nlpaug ships (Belinkov & Bisk's
natural noise, from Wikipedia edit histories) is classified by the kind of error that makes it
(robustest.perturb.human_typos.classify: a real word one edit away, a suffix confusion, a
silent letter dropped, a consonant doubled or undoubled, a vowel confusion, a keyboard slip,
else "other": several edits at once). The weights are the kinds' shares among the classified
pairs ("other" is left out: the family draws a listed word's misspellings from the list itself).
Where in a word people err is estimated too: the share of pairs whose first difference falls in
each tenth of the word, relative to a uniform tenth (`position_weights`).
Writes robustest/resources/human_typo_mix.json, which the family reads.

    python benchmarks/estimate_human_typo_mix.py
"""

from __future__ import annotations

import json
from collections import Counter

from common import REPO

from robustest.perturb.human_typos import KINDS, LIST_FILE, LIST_PACKAGE, POSITION_BINS, classify, misspelling_list, position_bin

TARGET = REPO / "robustest" / "resources" / "human_typo_mix.json"


def estimate() -> dict:
    pairs = [(word, wrong) for word, wrongs in misspelling_list().items() for wrong in wrongs]
    counts = Counter(classify(word, wrong) for word, wrong in pairs)
    classified = sum(counts[k] for k in KINDS)
    places = Counter(position_bin(word, wrong) for word, wrong in pairs)
    return {
        "source": f"{LIST_PACKAGE} {LIST_FILE} (Belinkov & Bisk 2018, natural noise from Wikipedia edit histories; MIT-licensed package)",
        "pairs": len(pairs),
        "words": len(misspelling_list()),
        "counts": {k: counts[k] for k in (*KINDS, "other")},
        "weights": {k: round(counts[k] / classified, 4) for k in KINDS},
        "position_weights": [round(POSITION_BINS * places[b] / len(pairs), 4) for b in range(POSITION_BINS)],
        "made_by": "benchmarks/estimate_human_typo_mix.py",
    }


if __name__ == "__main__":
    result = estimate()
    TARGET.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
