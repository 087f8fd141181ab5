"""WordNet's synonym candidates for the words runs have asked about, kept in the cache, so a
warm run draws its synonyms without parsing WordNet's index files (two to three seconds).

One record per (WordNet copy, part-of-speech mode): `<cache root>/synonyms/<key>.json`, the key
the digest of the WordNet files' bytes and the mode, so another WordNet gets another table.
A run adds the words it met (merged under the entry's lock, written atomically). The table only
answers what WordNet would: `synonyms.synonym_candidates` consults it before WordNet, and a
draw is the same with or without it (tests/test_synonym_cache.py). A damaged record warns and
is rebuilt.
"""

from __future__ import annotations

from pathlib import Path

from ..cache import ContentStore, Damaged, warn_damaged
from ..progress import file_lock
from . import synonyms

FORMAT = 1


class SynonymCache:
    """`root=None` is a disabled cache; so is one where no WordNet is installed yet (its
    digest is taken on `load`, which `synonyms.attach` defers to the first lookup)."""

    def __init__(self, root: Path | None):
        self.root = root
        self.store: ContentStore | None = None  # opened on first use: finding WordNet imports NLTK
        self.wordnet: str | None = None

    def open(self) -> bool:
        """Whether the cache is usable: a folder, and a WordNet to key it by."""
        from ..data.wordnet import wordnet_digest

        if self.wordnet is None and self.root is not None:  # again at save: WordNet may have been installed meanwhile
            self.wordnet = wordnet_digest(memo_dir=Path(self.root) / "file-digests")
            self.store = ContentStore(self.root if self.wordnet else None, "synonyms", "synonym cache", FORMAT)
        return self.wordnet is not None

    def parts(self, pos: str) -> dict:
        return {"wordnet": self.wordnet, "pos": pos}

    def read(self, pos: str) -> dict[str, list[str]]:
        key = self.store.key(self.parts(pos))
        try:
            record = self.store.read_record(key, "json")
        except Damaged as damage:
            warn_damaged("synonym cache entry", damage)
            return {}
        words = (record or {}).get("words")
        return words if isinstance(words, dict) else {}

    def load(self) -> int:
        """Hand every stored table to `synonyms`; the number of words it now knows."""
        if not self.open():
            return 0
        known = 0
        for pos in synonyms.POS_MODES:
            table = self.read(pos)
            synonyms.remember(pos, table)
            known += len(table)
        return known

    def save(self) -> int:
        """Add the words this process looked up in WordNet; the number added."""
        learned = {pos: words for pos, words in synonyms.learned().items() if words}
        if not learned or not self.open():
            return 0
        added = 0
        for pos, words_learned in learned.items():
            parts = self.parts(pos)
            key = self.store.key(parts)
            with file_lock(self.store.file(key, "lock"), "waiting for another process to finish writing the synonym cache"):
                words = self.read(pos)
                new = {w: list(c) for w, c in words_learned.items() if w not in words}
                if new:
                    self.store.write_record(key, "json", parts, {"words": {**words, **new}})
                    added += len(new)
        synonyms.forget_learned()
        return added
