"""Query perturbations as data: an edit plan (a frozen, hashable value) plus a pure `apply`.

No pytest or Hypothesis here: strategies.py draws plans for property tests, protocol.py
samples them with the paper's seeds.
"""

from .base import NoLegalEdit, rng_for
from .protocol import PAPER_SEEDS, Perturbed, Variant, apply, perturb_queries
from .typos import OPS, Typo, TypoPlan, apply_typos, sample_typos
from .wordops import CasePlan, NaturalizePlan, PunctuationPlan, SwapPlan, WhitespacePlan
from .words import english_stopwords, split_words

__all__ = [
    "NoLegalEdit", "rng_for", "PAPER_SEEDS", "Perturbed", "Variant", "apply",
    "perturb_queries", "OPS", "Typo", "TypoPlan", "apply_typos", "sample_typos", "CasePlan",
    "NaturalizePlan", "PunctuationPlan", "SwapPlan", "WhitespacePlan", "english_stopwords",
    "split_words",
]
