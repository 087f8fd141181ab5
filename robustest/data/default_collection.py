"""The embedded default test collection: WordNet sense retrieval, built offline.

Each document is one WordNet synset ("lemma1, lemma2: gloss"); each query is one of
WordNet's usage examples, and its one relevant document is the synset the example
illustrates. The corpus holds every other sense of the lemmas a query uses, so finding the
right document means telling word senses apart. Random synsets fill the corpus up as
distractors. Everything is drawn by a fixed-seed `random.Random` over sorted lists, so the
same WordNet always gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from ..cache import Damaged, warn_damaged
from ..paths import cache_root, writable_dir
from .wordnet import load_wordnet

DEFAULT_DATASET_NAME = "wordnet-senses"
# Bump whenever the output changes: it names the cache folder, so old builds are not reused.
BUILDER_VERSION = 1
SEED = 20060101
TEST_QUERIES = 300
TRAIN_QUERIES = 600
CORPUS_SIZE = 5000  # senses of the query lemmas first, then distractors up to this size
MIN_QUERY_WORDS = 4
# Lemmas with more senses than this (take, run, break...) would flood the corpus with
# hard negatives for a handful of queries.
MAX_SENSES = 12

# What the manifest holds a checksum of.
FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "qrels/train.tsv", "README.md")

_WORD = re.compile(r"[a-z0-9]+")

WORDNET_LICENSE = """\
This software and database is being provided to you, the LICENSEE, by
Princeton University under the following license.  By obtaining, using
and/or copying this software and database, you agree that you have
read, understood, and will comply with these terms and conditions.:

Permission to use, copy, modify and distribute this software and
database and its documentation for any purpose and without fee or
royalty is hereby granted, provided that you agree to comply with
the following copyright notice and statements, including the disclaimer,
and that the same appear on ALL copies of the software, database and
documentation, including modifications that you make for internal
use or for distribution.

WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.

THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON
UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR
IMPLIED.  BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON
UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANT-
ABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT
INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR
OTHER RIGHTS.

The name of Princeton University or Princeton may not be used in
advertising or publicity pertaining to distribution of the software
and/or database.  Title to copyright in this software, database and
any associated documentation shall at all times remain with
Princeton University and LICENSEE agrees to preserve same.
"""


def default_collection_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached BEIR folder of the default collection, built on first use and rebuilt
    (with a `CacheDamageWarning`) when its files do not match the manifest's checksums."""
    datasets = cache_root(cache_dir) / "datasets"
    target = datasets / f"{DEFAULT_DATASET_NAME}-v{BUILDER_VERSION}"
    if _problem(target) is None:
        return target
    writable_dir(datasets, "dataset cache")
    # One builder at a time (pytest-xdist workers share the cache); the others wait and reuse.
    with FileLock(str(datasets / f"{target.name}.lock")):
        problem = _problem(target)  # judged again under the lock: a builder may just have swapped it in
        if problem is not None:
            if target.exists():
                warn_damaged("default collection", Damaged(target, problem))
            for leftover in datasets.glob(f".{target.name}-*"):  # a killed build's folder
                shutil.rmtree(leftover, ignore_errors=True)
            build_default_collection(target, wordnet=load_wordnet(cache_dir))
    return target


def _problem(target: Path) -> str | None:
    """Why the collection at `target` cannot be used (None: it can). The manifest is written
    last, so a folder without one is an interrupted build."""
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no manifest.json"
    except (OSError, ValueError) as exc:
        return f"manifest.json unreadable: {exc}"
    hashes = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(hashes, dict) or set(hashes) != set(FILES) or manifest.get("builder_version") != BUILDER_VERSION:
        return "manifest.json is not this builder's"
    for name, digest in hashes.items():
        try:
            data = (target / name).read_bytes()
        except OSError:
            return f"cannot read {name}"
        if hashlib.sha256(data).hexdigest() != digest:
            return f"{name} does not match its checksum"
    return None


def build_default_collection(target_dir: str | os.PathLike, *, wordnet=None) -> Path:
    """Write the collection as a BEIR folder at `target_dir` (replacing it) and return it."""
    wn = wordnet if wordnet is not None else load_wordnet()
    corpus, test, train, senses = _select(wn)
    target = Path(target_dir)
    target.parent.mkdir(parents=True, exist_ok=True)

    # Build beside the target and rename, so a half-written collection never appears.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _write_jsonl(tmp / "corpus.jsonl", ({"_id": i, "title": "", "text": t} for i, t in corpus))
        _write_jsonl(tmp / "queries.jsonl", ({"_id": q, "text": t} for q, t, _ in test + train))
        (tmp / "qrels").mkdir()
        for split, queries in (("test", test), ("train", train)):
            lines = ["query-id\tcorpus-id\tscore\n"] + [f"{q}\t{d}\t1\n" for q, _, d in queries]
            _write_text(tmp / "qrels" / f"{split}.tsv", "".join(lines))
        counts = {
            "documents": len(corpus),
            "sense_documents": senses,  # query synsets and their hard negatives
            "test_queries": len(test),
            "train_queries": len(train),
        }
        _write_text(tmp / "README.md", _readme(counts))
        manifest = {
            "name": DEFAULT_DATASET_NAME,
            "builder_version": BUILDER_VERSION,
            "seed": SEED,
            "wordnet_version": wn.get_version(),
            "counts": counts,
            "sha256": {f: hashlib.sha256((tmp / f).read_bytes()).hexdigest() for f in FILES},
        }
        _write_text(tmp / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it private to us; the cache may be shared
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _select(wn):
    """corpus [(id, text)], test [(qid, text, synset)], train [...], and how many documents
    are query senses rather than distractors; all deterministic."""
    synsets = sorted(wn.all_synsets(), key=lambda s: s.name())
    seen = {}  # example text (lowercased) -> how many synsets use it
    for s in synsets:
        for example in s.examples():
            key = " ".join(example.split()).lower()
            seen[key] = seen.get(key, 0) + 1

    bases_cache: dict[str, set] = {}
    senses_cache: dict[str, list[str]] = {}

    def bases(token):
        # The token's base forms, so "banked" matches the lemma "bank".
        if token not in bases_cache:
            found = {wn.morphy(token, pos) for pos in "nvar"} | {token}
            bases_cache[token] = found - {None}
        return bases_cache[token]

    def senses(lemma):
        if lemma not in senses_cache:
            senses_cache[lemma] = [x.name() for x in wn.synsets(lemma)]
        return senses_cache[lemma]

    # For each synset, its usable examples with the lemmas they contain.
    candidates: dict[str, list[tuple[str, list[str]]]] = {}
    for s in synsets:
        for example in s.examples():
            text = " ".join(example.split())
            tokens = _WORD.findall(text.lower())
            # Short examples are too little context; shared ones have two right answers.
            if len(text.split()) < MIN_QUERY_WORDS or seen[text.lower()] > 1:
                continue
            lemmas = [l for l in s.lemma_names() if _occurs(l, tokens, bases)]
            counts = [len(senses(l)) for l in lemmas]
            # Keep examples whose words are ambiguous, but not wildly so.
            if counts and max(counts) >= 2 and max(counts) <= MAX_SENSES:
                candidates.setdefault(s.name(), []).append((text, lemmas))

    rng = random.Random(SEED)
    chosen = sorted(candidates)
    rng.shuffle(chosen)
    chosen = chosen[: TEST_QUERIES + TRAIN_QUERIES]  # one query per synset
    queries, docs = [], set()
    for n, name in enumerate(chosen, start=1):
        text, lemmas = rng.choice(candidates[name])
        queries.append((f"q{n:04d}", text, name))
        docs.add(name)
        for lemma in lemmas:
            docs.update(senses(lemma))  # the hard negatives

    senses_in_corpus = len(docs)
    others = sorted(s.name() for s in synsets if s.name() not in docs)
    docs.update(rng.sample(others, max(0, CORPUS_SIZE - len(docs))))
    by_name = {s.name(): s for s in synsets}
    corpus = [(name, _document(by_name[name])) for name in sorted(docs)]
    return corpus, queries[:TEST_QUERIES], queries[TEST_QUERIES:], senses_in_corpus


def _occurs(lemma: str, tokens: list[str], bases) -> bool:
    """Whether the lemma's words appear in order, the last one possibly inflected."""
    words = _WORD.findall(lemma.lower())
    n = len(words)
    if n == 0:
        return False
    for i in range(len(tokens) - n + 1):
        if tokens[i : i + n - 1] == words[:-1] and words[-1] in bases(tokens[i + n - 1]):
            return True
    return False


def _document(synset) -> str:
    lemmas = ", ".join(l.replace("_", " ") for l in synset.lemma_names())
    return f"{lemmas}: {' '.join(synset.definition().split())}"


def _write_jsonl(path: Path, rows) -> None:
    _write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _write_text(path: Path, text: str) -> None:
    # Fixed encoding and newlines, so the bytes are the same on every platform.
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _readme(counts: dict) -> str:
    return f"""\
# {DEFAULT_DATASET_NAME} (builder v{BUILDER_VERSION})

robustest's default test collection, generated from Princeton WordNet 3.0 by
`robustest.data.default_collection` (seed {SEED}). BEIR format.

- Documents ({counts['documents']}): one per synset, `_id` = synset name (e.g. `bank.n.01`),
  text = "lemma1, lemma2: gloss", empty title. {counts['sense_documents']} of them are the
  queries' synsets and every other sense of the lemmas the queries use (hard negatives);
  the rest are random synsets (distractors).
- Queries: {counts['test_queries']} test (`qrels/test.tsv`) and {counts['train_queries']} train
  (`qrels/train.tsv`), each a WordNet usage example that contains a lemma of its synset.
  The single relevant document (score 1) is that synset.

The task is word-sense disambiguation by retrieval: the query's ambiguous word appears in
the relevant document and in its other senses alike.

## WordNet licence

{WORDNET_LICENSE}"""
