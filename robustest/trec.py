"""Runs in TREC format (`qid Q0 docid rank score tag`), the file every IR tool reads.

One file holds one ranking per query id, so perturbed runs (the same query id once per seed)
go one file per family and seed: `family_run_path` names them beside the clean run, e.g.
`runs/ckpt.trec` -> `runs/ckpt.misspelling.seed1999.trec`.

Scores are written with `repr`, so reading a file back gives the very floats that robustest
scored, and a tool that re-sorts by score (trec_eval, ir_measures) ranks as robustest did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Union

from .errors import RobustestError
from .files import atomic_write

Ranking = Mapping[str, float]  # doc id -> score, best first
Runs = Union[Mapping[str, Ranking], Iterable[tuple[str, Ranking]]]

DEFAULT_TAG = "robustest"


def _checked(kind: str, value: str, path: Path) -> str:
    value = str(value)
    if not value or any(c.isspace() for c in value):
        raise RobustestError(f"cannot write {path} in TREC format: {kind} {value!r} is empty or contains whitespace")
    return value


def write_trec_run(path: str | Path, runs: Runs, tag: str = DEFAULT_TAG) -> Path:
    """Write `runs` ({query id: {doc id: score}} or (query id, ranking) pairs) as a TREC run.

    Within a query, documents are ranked by score, best first, ranks from 1; equal scores keep
    their order in the ranking (a stable sort). A query id may appear only once: write a
    perturbed run one file per seed (`write_family_runs`). Whitespace in `tag` becomes "_";
    in an id it is an error. The write is atomic."""
    path = Path(path)
    if not path.parent.is_dir():
        raise RobustestError(f"cannot write the TREC run {path}: folder {path.parent} does not exist; create it first")
    tag = "_".join(str(tag).split()) or DEFAULT_TAG  # a retriever label may hold spaces; the tag is only a label
    pairs = list(runs.items()) if isinstance(runs, Mapping) else list(runs)
    lines, seen = [], set()
    for qid, ranking in pairs:
        qid = _checked("query id", qid, path)
        if qid in seen:
            raise RobustestError(
                f"cannot write {path}: query id {qid} appears twice; a TREC file holds one ranking per query "
                "(write perturbed runs one file per seed)"
            )
        seen.add(qid)
        ranked = sorted(ranking.items(), key=lambda item: -item[1])
        for rank, (doc_id, score) in enumerate(ranked, start=1):
            lines.append(f"{qid} Q0 {_checked('document id', doc_id, path)} {rank} {float(score)!r} {tag}\n")
    data = "".join(lines).encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
    return path


def read_trec_run(path: str | Path) -> dict[str, dict[str, float]]:
    """{query id: {doc id: score}} in rank order, from a 6-column TREC run file."""
    path = Path(path)
    runs: dict[str, list[tuple[int, str, float]]] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                fields = line.split()
                try:
                    qid, _, doc_id, rank, score, _tag = fields
                    runs.setdefault(qid, []).append((int(rank), doc_id, float(score)))
                except ValueError:
                    raise RobustestError(f"{path}, line {n}: not a TREC run line (qid Q0 docid rank score tag): {line.strip()[:80]!r}") from None
    except OSError as exc:
        raise RobustestError(f"cannot read the TREC run {path} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise RobustestError(f"the TREC run {path} is not utf-8 ({exc.reason} at byte {exc.start}); save it as utf-8") from None
    return {qid: {d: s for _, d, s in sorted(rows, key=lambda r: r[0])} for qid, rows in runs.items()}


def family_run_path(path: str | Path, family: str, seed: int) -> Path:
    """Where the perturbed run of `family` under `seed` goes, beside the clean run `path`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{family}.seed{seed}{path.suffix}")


def clean_runs(index, depth: int | None = None) -> dict[str, dict[str, float]]:
    """The clean run of every dataset query, `depth` documents deep (default: the index's k,
    1000 unless set otherwise; evaluation runs stop at the measures' cutoff)."""
    return dict(zip(index.dataset.queries, index.retrieve(list(index.dataset.queries.items()), depth)))


def perturbed_runs(index, variants: Mapping[str, Mapping[str, object]], depth: int | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """{seed: {query id: ranking}} for a family's variant texts as a run file stores them:
    `variants[seed][qid]` is {"text": ...} (robustest.runs.family_record) or the text itself."""
    out = {}
    for seed, by_query in variants.items():
        pairs = [(qid, v["text"] if isinstance(v, Mapping) else str(v)) for qid, v in by_query.items()]
        out[str(seed)] = dict(zip((q for q, _ in pairs), index.retrieve(pairs, depth)))
    return out


def write_family_runs(
    path: str | Path, index, family: str, variants: Mapping[str, Mapping[str, object]], depth: int | None = None, tag: str = DEFAULT_TAG
) -> list[Path]:
    """Retrieve a family's variants and write one TREC file per seed beside `path`; the paths."""
    return [
        write_trec_run(family_run_path(path, family, seed), runs, tag)
        for seed, runs in perturbed_runs(index, variants, depth).items()
    ]
