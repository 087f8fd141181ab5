"""`robustest init [DIR]`: the shipped suites copied into a project, to edit, with a commented
`[tool.robustest]` table of every family's defaults to paste into its pyproject.toml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import RobustestError

TABLE_FILE = "robustest-settings.toml"


def settings_table() -> str:
    """Every family's defaults, commented out: uncomment what you change."""
    from .families import FAMILIES, family_configs

    lines = [
        "# Paste into your pyproject.toml and uncomment what you change (the options reference of robustest's docs explains each key).",
        "# [tool.robustest]",
        "# seeds = [1999, 5, 27, 2016, 2026]   # every family",
    ]
    for name, config in family_configs({}).items():
        lines += ["", f"# [tool.robustest.{name}]   # {FAMILIES[name].description}", f"# threshold = {config.threshold}"]
        lines += [f"# measure = {config.measure!r}".replace("'", '"'), f"# k = {config.k}", f"# confidence = {config.confidence}"]
        if name == "poisoning":
            lines.append(f"# seeds = {list(config.seeds)}")
        elif FAMILIES[name].perturbs_queries and FAMILIES[name].sampler is not None:  # the worst-case one-edit search
            lines += [
                '# worst_case_threshold = "off"   # or a share: one edit may break at most this share of queries',
                f"# worst_case_margin = {config.margin}   # searched: queries with a relevant document at rank <= this",
                f"# worst_case_neighbours = {config.worst_case_neighbours}   # variants tried per query (all of them when there are fewer)",
                f"# worst_case_queries = {config.worst_case_queries}",
            ]
        for key, value in config.extra.items():
            shown = list(value) if isinstance(value, tuple) else value
            lines.append(f"# {key} = {shown!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


def copy_suites(folder: str | Path, *, force: bool = False) -> list[Path]:
    """Copy robustest/suites/test_*.py and the settings table into `folder`; never overwrite
    an edited file unless `force`."""
    target = Path(folder)
    suites = resources.files("robustest.suites")
    files = {entry.name: entry.read_text(encoding="utf-8") for entry in suites.iterdir() if entry.name.startswith("test_") and entry.name.endswith(".py")}
    files[TABLE_FILE] = settings_table()
    existing = sorted(name for name in files if (target / name).exists())
    if existing and not force:
        raise RobustestError(f"{target} already has {', '.join(existing)}; move them away or pass --force to overwrite")
    try:
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in sorted(files.items()):
            (target / name).write_text(text, encoding="utf-8")
            written.append(target / name)
    except OSError as exc:
        raise RobustestError(f"cannot write the suites to {target}: {exc.strerror}; choose another folder") from None
    return written
