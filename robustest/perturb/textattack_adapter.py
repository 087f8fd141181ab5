"""TextAttack as a perturbation source and as a reference oracle (extra: `robustest[textattack]`).

The paper built its perturbations with TextAttack. This module lets any TextAttack
`Transformation` act as a robustest family, and rebuilds the paper's misspelling pipeline
from TextAttack itself, so tests can check robustest's native ops against it:

    sampler = textattack_sampler(WordSwapQWERTY(), paper_constraints())
    perturb_queries(queries, "textattack:WordSwapQWERTY", seed=1999, sampler=sampler)

TextAttack draws from the global `random` and `numpy.random` generators. The sampler seeds
both from the per-query rng robustest hands it and puts their previous state back
afterwards, so a variant depends only on (seed, family, query) and the caller's own random
streams are untouched. (Global state: do not run samplers from several threads at once.)

Nothing here imports TextAttack at module import; `prepare_textattack()` does, after giving
NLTK the stopword list TextAttack reads while it is being imported.
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..errors import RobustestError
from .base import NoLegalEdit
from .typos import MIN_WORD_LENGTH, WORD_FRACTION
from .words import english_stopwords

INSTALL_HINT = "pip install 'robustest[textattack]'"
# What `textattack_candidates` seeds the global generators with: transformations that draw at random
# (random_one=True, the letter of substitution and insertion) then give the same answer
# on every call, which Hypothesis needs of the elements it samples from.
CANDIDATES_SEED = 0


def _stopwords_text() -> str:
    return resources.files("robustest").joinpath("resources/stopwords_en.txt").read_text(encoding="utf-8")


def install_stopwords(cache_dir: str | os.PathLike | None = None) -> Path:
    """Write robustest's English stopword list as `<nltk_data>/corpora/stopwords/english`
    (unless it is there already), the file `nltk.corpus.stopwords.words('english')` reads,
    and put that NLTK folder first on `nltk.data.path`. Returns the file."""
    import nltk

    from ..data.wordnet import _make_private, nltk_data_dir  # NLTK refuses data others can write
    from ..files import atomic_write
    from ..paths import writable_dir

    root = nltk_data_dir(cache_dir)
    target = root / "corpora" / "stopwords" / "english"
    if not target.is_file():
        writable_dir(target.parent, "NLTK data folder")
        # Written beside the target and renamed: a concurrent reader sees all of it or none.
        atomic_write(target, lambda f: f.write(_stopwords_text().encode("utf-8")))
    for path in (root, root / "corpora", target.parent, target):
        _make_private(path)
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return target


def prepare_textattack(cache_dir: str | os.PathLike | None = None):
    """Make `import textattack` work offline and return the module.

    TextAttack builds a `StopwordModification()` while it is imported, which reads NLTK's
    English stopwords; offline, `nltk.download` cannot fetch them, so robustest's own list
    (NLTK's current English list, shipped as data) is put where NLTK looks first.
    Once TextAttack is imported this does nothing more.
    """
    import sys

    if sys.modules.get("textattack") is not None:
        return sys.modules["textattack"]  # imported already: NLTK has read the stopwords
    install_stopwords(cache_dir)
    try:
        import textattack
    except ImportError as exc:
        raise RobustestError(
            f"TextAttack perturbations need the textattack package ({exc}); {INSTALL_HINT}"
        ) from None
    return textattack


@contextlib.contextmanager
def seeded_globals(seed: int) -> Iterator[None]:
    """Seed `random`, `numpy.random` (and torch's CPU generator when torch is loaded) for the
    duration of the block, then restore the state each had before."""
    import sys

    import numpy as np

    py_state, np_state = random.getstate(), np.random.get_state()
    torch = sys.modules.get("torch")
    torch_state = torch.get_rng_state() if torch is not None else None
    random.seed(seed)
    np.random.seed(seed)
    if torch is not None:
        torch.default_generator.manual_seed(seed)  # CPU only: CUDA generators are left alone
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        if torch is not None:
            torch.set_rng_state(torch_state)


def transformation_name(transformation: Any) -> str:
    return type(transformation).__name__


@dataclass(frozen=True)
class TextAttackPlan:
    """The text one TextAttack transformation made of `query`.

    TextAttack returns texts, not edits, so the plan is the text itself; it is only valid
    for the query it was made for.
    """

    text: str
    transformation_name: str
    query: str

    @property
    def family(self) -> str:
        return f"textattack:{self.transformation_name}"

    def apply(self, query: str) -> str:
        if query != self.query:
            raise ValueError(
                f"this {self.family} variant was made for {self.query!r}, not {query!r}"
            )
        return self.text

    def describe(self, query: str) -> str:
        return f"{self.transformation_name}: {query!r} -> {self.text!r}"


Sampler = Callable[[str, random.Random], TextAttackPlan]


def textattack_sampler(
    transformation: Any,
    constraints: Sequence[Any] = (),
    pct_words_to_swap: float = WORD_FRACTION,
) -> Sampler:
    """A robustest sampler `(query, rng) -> TextAttackPlan` running TextAttack's `Augmenter`
    (one augmentation per query) with the global generators seeded from `rng`.

    A query TextAttack leaves unchanged (nothing its constraints allow it to edit) raises
    NoLegalEdit, as robustest's own samplers do.
    """
    prepare_textattack()
    from textattack.augmentation import Augmenter

    augmenter = Augmenter(
        transformation=transformation,
        constraints=list(constraints),
        pct_words_to_swap=pct_words_to_swap,
        transformations_per_example=1,
    )
    name = transformation_name(transformation)

    def sample(query: str, rng: random.Random) -> TextAttackPlan:
        with seeded_globals(rng.getrandbits(32)):
            texts = augmenter.augment(query)
        text = texts[0] if texts else query
        if text == query:
            raise NoLegalEdit(f"TextAttack's {name} found nothing it may change in {query!r}")
        return TextAttackPlan(text, name, query)

    sample.transformation_name = name  # type: ignore[attr-defined]
    return sample


def textattack_candidates(
    transformation: Any,
    query: str,
    constraints: Sequence[Any] = (),
) -> tuple[str, ...]:
    """Every text `transformation` makes of `query` in one step, after `constraints`
    (sorted, without duplicates and without the query itself): elements for
    `hypothesis.strategies.sampled_from`.

    Runs under a fixed seed, so transformations that draw at random give the same answer
    on every call; build them with `random_one=False` to get every candidate.
    """
    prepare_textattack()
    from textattack.constraints import PreTransformationConstraint
    from textattack.shared import AttackedText

    pre = [c for c in constraints if isinstance(c, PreTransformationConstraint)]
    post = [c for c in constraints if not isinstance(c, PreTransformationConstraint)]
    original = AttackedText(query)
    with seeded_globals(CANDIDATES_SEED):
        texts = transformation(original, pre)
        for constraint in post:
            if not texts:
                break
            texts = constraint.call_many(texts, original)
    return tuple(sorted({t.printable_text() for t in texts} - {query}))


@lru_cache(maxsize=1)
def fixed_qwerty_class() -> type:
    """WordSwapQWERTY where a key without neighbours (a digit, a symbol, a letter off the
    keyboard) gets a random letter instead of no candidate: the paper's "fixed" QWERTY and
    robustest's `fixed_qwerty`. With `random_one=False` such a key yields every letter."""
    prepare_textattack()
    from textattack.transformations import WordSwapQWERTY

    class WordSwapFixedQWERTY(WordSwapQWERTY):
        def _get_adjacent(self, s):
            return super()._get_adjacent(s) or list(self.letters_to_insert)

    return WordSwapFixedQWERTY


def paper_misspelling_transformations(**kwargs) -> tuple[Any, ...]:
    """The paper's six misspelling transformations, in robustest's op order:
    delete, neighbor_swap, substitute, insert, qwerty, fixed_qwerty. `kwargs` go to every
    constructor (e.g. `random_one=False`)."""
    prepare_textattack()
    from textattack.transformations import (
        WordSwapNeighboringCharacterSwap,
        WordSwapQWERTY,
        WordSwapRandomCharacterDeletion,
        WordSwapRandomCharacterInsertion,
        WordSwapRandomCharacterSubstitution,
    )

    classes = (
        WordSwapRandomCharacterDeletion,
        WordSwapNeighboringCharacterSwap,
        WordSwapRandomCharacterSubstitution,
        WordSwapRandomCharacterInsertion,
        WordSwapQWERTY,
        fixed_qwerty_class(),
    )
    return tuple(cls(**kwargs) for cls in classes)


# robustest op -> the TextAttack class that implements it (names; the classes need the import).
TEXTATTACK_OPS = {
    "delete": "WordSwapRandomCharacterDeletion",
    "neighbor_swap": "WordSwapNeighboringCharacterSwap",
    "substitute": "WordSwapRandomCharacterSubstitution",
    "insert": "WordSwapRandomCharacterInsertion",
    "qwerty": "WordSwapQWERTY",
    "fixed_qwerty": "WordSwapFixedQWERTY",
}


def paper_constraints(stopwords: Iterable[str] | None = None) -> list[Any]:
    """The paper's constraints: StopwordModification (robustest's English list unless
    `stopwords` is given) and MinWordLength(3)."""
    prepare_textattack()
    from textattack.constraints.pre_transformation import MinWordLength, StopwordModification

    words = english_stopwords() if stopwords is None else stopwords
    return [StopwordModification(stopwords=set(words)), MinWordLength(MIN_WORD_LENGTH)]


__all__ = [
    "TEXTATTACK_OPS", "TextAttackPlan", "fixed_qwerty_class", "install_stopwords",
    "paper_constraints", "paper_misspelling_transformations", "prepare_textattack",
    "seeded_globals", "textattack_candidates", "textattack_sampler", "transformation_name",
]
