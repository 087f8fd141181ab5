"""The cache of model-written paraphrases: one small JSON record per (model, query, seed,
decoding settings), so a second run, or a run over another subset of the same queries,
generates nothing it generated before.

Entries live in `<cache root>/paraphrases/<key>.json` (a `ContentStore`: the key is the digest
of the parts, each record written to a temporary file and renamed into place, so a killed run
leaves no half-written entry). A record holds the model's raw text, not the cleaned
paraphrase: changing how outputs are cleaned needs no new generation. A damaged record is
never used: it warns (`CacheDamageWarning`) and is generated again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from ..cache import ContentStore, Damaged, warn_damaged

FORMAT = 1  # bump to give every entry a new key


@dataclass(frozen=True)
class RawOutput:
    """What the model wrote after the prompt (special tokens dropped), and whether it ended
    by itself (an end-of-turn token, or a finished first line) rather than at the token limit."""

    text: str
    finished: bool


class ParaphraseCache:
    """`root=None` is a disabled cache: nothing is read or written."""

    def __init__(self, root: Path | None):
        self.store = ContentStore(root, "paraphrases", "paraphrase cache", FORMAT)

    @property
    def enabled(self) -> bool:
        return self.store.root is not None

    def get(self, parts: dict) -> RawOutput | None:
        if not self.enabled:
            return None
        key = self.store.key(parts)
        try:
            record = self.store.read_record(key, "json")
            if record is None:
                return None
            text, finished = record.get("output"), record.get("finished")
            if not isinstance(text, str) or not isinstance(finished, bool):
                raise Damaged(self.store.file(key, "json"), "no output text or finished flag")
        except Damaged as damage:
            warn_damaged("paraphrase cache entry", damage)
            return None
        return RawOutput(text, finished)

    def put(self, parts: dict, output: RawOutput) -> None:
        if self.enabled:
            key = self.store.key(parts)
            self.store.write_record(key, "json", parts, {"output": output.text, "finished": output.finished})
