"""What the `datasets`-backed formats share: importing the optional package, choosing a split,
and a loaded `datasets` table as a fields.Table."""

from __future__ import annotations

from typing import Iterator

from ..errors import RobustestError
from .fields import Table

INSTALL = "pip install 'robustest[hf]'"
BATCH = 1000  # rows per Arrow batch: python objects for one batch at a time, not the whole corpus


def require_datasets(what: str):
    """The `datasets` module, or one clear error: it is an optional dependency."""
    try:
        import datasets  # lazy: heavy, and optional
    except ImportError:
        raise RobustestError(f"{what} is read with the datasets package, which is not installed; run {INSTALL}") from None
    return datasets


def pick_split(splits: list[str], split: str, where: str, *, required: bool) -> str:
    """The split to read: `split` itself; for the corpus and queries (`required` False) also the
    one split there is (MTEB names it 'corpus' or 'queries')."""
    if split in splits:
        return split
    if not required and len(splits) == 1:
        return splits[0]
    raise RobustestError(f"{where} has no split {split!r}; pass one of the splits it has: {', '.join(splits) or 'none'} (--robustest-split)")


def hf_table(ds, path: str, name: str) -> Table:
    """A datasets Dataset or IterableDataset as a Table, rows numbered from 1."""

    def rows() -> Iterator[tuple[int, dict]]:
        n = 0
        for batch in ds.iter(batch_size=BATCH):
            columns = list(batch)
            for values in zip(*(batch[c] for c in columns)):
                n += 1
                yield n, dict(zip(columns, values))

    return Table(path, name, tuple(ds.column_names or ()), rows, unit="row")
