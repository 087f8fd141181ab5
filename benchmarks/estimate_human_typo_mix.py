"""Estimate the human_misspelling family's mixture of error kinds from real misspellings.

Every (correct word, misspelling) pair of the English list nlpaug ships (Belinkov & Bisk's
natural noise, from Wikipedia edit histories) is classified by the kind of error that makes it
(robustest.perturb.human_typos.classify: a real word one edit away, a suffix confusion, a
silent letter dropped, a consonant doubled or undoubled, a vowel confusion, a keyboard slip,
else "other": several edits at once). The weights are the kinds' shares among the classified
pairs ("other" is left out: the family draws a listed word's misspellings from the list itself).
Where in a word people err is estimated too: the share of pairs whose first difference falls in
each tenth of the word, relative to a uniform tenth (`position_weights`).
The confusion table counts every one-letter edit among the pairs (which letter left out after
which, put in after which, typed for which, which pair swapped) and, per context, how often the
list's correct words give the chance to make it (Kernighan, Church & Gale 1990).
Writes robustest/resources/human_typo_mix.json, which the family reads.

    python benchmarks/estimate_human_typo_mix.py
"""

from __future__ import annotations

import json
from collections import Counter

from common import REPO

from robustest.perturb.human_typos import (
    KINDS, LIST_FILE, LIST_PACKAGE, POSITION_BINS, classify, edit_context, misspelling_list, position_bin, single_edit,
)

TARGET = REPO / "robustest" / "resources" / "human_typo_mix.json"


def confusion_table(pairs: list[tuple[str, str]]) -> dict:
    edits = Counter(" ".join(e) for word, wrong in pairs if (e := single_edit(word, wrong)))
    letters = Counter()
    for word in misspelling_list():
        letters.update(word)
        letters.update(a + b for a, b in zip("^" + word, word))
    letters["^"] = len(misspelling_list())
    needed = {edit_context(tuple(key.split(" "))) for key in edits}
    single = [c for c in letters if len(c) == 1 and c != "^"]
    return {
        "edits": dict(sorted(edits.items())),
        "letters": {c: letters[c] for c in sorted(needed | set(single) | {"^"})},
        "several": round(1.5 / (sum(letters[c] for c in single) / len(single) + 1), 8),
    }


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
        "channel": confusion_table(pairs),
        "made_by": "benchmarks/estimate_human_typo_mix.py",
    }


if __name__ == "__main__":
    result = estimate()
    TARGET.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
