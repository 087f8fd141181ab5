"""Corpus poisoning: adversarial passages injected into the corpus, and how often they win.

    targets.py     training vs test queries (never mixed), k-means clusters of training queries
    hotflip.py     supervised HotFlip (Zhong et al. 2023) through any Hugging Face retriever
    injection.py   black-box passages (query copy, keyword stuffing) and the random-gold control
    poisoning.py   the passages in the clean index: ASR@k per seed
    store.py       generated passages cached on disk

Plain modules: no pytest, no Hypothesis.
"""

from .hotflip import HotFlipConfig, hotflip_passages
from .injection import keyword_stuffing_passages, query_copy_passages, random_gold_passages
from .passages import AdversarialPassage
from .poisoning import ATTACKS, CONTROL, KS, AttackResult, Poisoning
from .store import PassageCache
from .targets import AttackQueries, Cluster, attack_queries, cluster_queries, split_for_attack

__all__ = [
    "ATTACKS",
    "CONTROL",
    "KS",
    "AdversarialPassage",
    "AttackQueries",
    "AttackResult",
    "Cluster",
    "HotFlipConfig",
    "PassageCache",
    "Poisoning",
    "attack_queries",
    "cluster_queries",
    "hotflip_passages",
    "keyword_stuffing_passages",
    "query_copy_passages",
    "random_gold_passages",
    "split_for_attack",
]
