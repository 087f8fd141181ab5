"""The documentation: it builds warning-free, its links and examples work, its reference is complete, run files match the schema."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, validate_run_file

DOCS = REPO / "docs"
README = REPO / "README.md"


def markdown_pages() -> list[Path]:
    """README.md and every Markdown page of the docs (not the build output)."""
    pages = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)
    return [README, *pages]


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


# -- Markdown, read the way the tests need it ---------------------------------------------------
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")


def closes(fence: str, line: str) -> bool:
    """`line` ends the block opened by `fence` (the same character, at least as many)."""
    return re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", line) is not None


def fenced_blocks(text: str) -> list[tuple[str, int, str]]:
    """(info string, line of the opening fence, code) of every fenced code block, in order."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not closes(fence, lines[i]):
            line = lines[i]
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())  # dedented as its fence
            i += 1
        blocks.append((opening["info"].lower(), start, "\n".join(body)))
        i += 1
    return blocks


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks (pycon, text, console and the rest are not run)."""
    return [(line, code) for info, line, code in fenced_blocks(text) if info == "python"]


def prose(text: str) -> str:
    """The page without its fenced blocks: where links and headings are."""
    kept, inside = [], None
    for line in text.splitlines():
        opening = FENCE.match(line)
        if inside is None and opening:
            inside = opening["fence"]
        elif inside is not None and closes(inside, line):
            inside = None
        elif inside is None:
            kept.append(line)
    return "\n".join(kept)


def without_code(text: str) -> str:
    return re.sub(r"`[^`]*`", "", text)


LINK = re.compile(r"!?\[[^\]]*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$", re.MULTILINE)
LABEL = re.compile(r"^\((?P<label>[^)\s]+)\)=\s*$", re.MULTILINE)


def slug(title: str) -> str:
    """A heading's anchor as GitHub and MyST make it: lower case, punctuation dropped, spaces
    to hyphens."""
    title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = prose(page.read_text(encoding="utf-8"))
    found, seen = set(), {}
    for heading in HEADING.finditer(text):
        base = slug(heading["title"])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found | {m["label"] for m in LABEL.finditer(text)}


def broken_links(page: Path, check_anchors: bool = True) -> list[str]:
    """Relative links of `page` to a file that does not exist, or to a heading that does not."""
    problems = []
    for match in LINK.finditer(without_code(prose(page.read_text(encoding="utf-8")))):
        target = match["target"].strip("<>")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            problems.append(f"{target}: no file {linked}")
        elif check_anchors and anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{target}: no heading with anchor #{anchor} in {linked}")
    return problems


def test_the_markdown_readers_find_what_a_page_holds():
    page = "\n".join([
        "# Top `code` heading", "(my-label)=", "## Top code heading", "see [here](#top-code-heading-1) and `[not](a-link.md)`",
        "```python", "def f():", "    return 1", "```", "```pycon", ">>> y = 2", "```", "- item", "  ```python", "  print(x)", "  ```",
        "````text", "```python", "not = run", "```", "````", "```console", "$ robustest presets", "```",
    ])
    assert python_blocks(page) == [(5, "def f():\n    return 1"), (13, "print(x)")]
    assert [m["target"] for m in LINK.finditer(without_code(prose(page)))] == ["#top-code-heading-1"]
    assert slug("Gate `check` in CI: what 95% means?") == "gate-check-in-ci-what-95-means"


# -- the site ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The docs built once for this module, as `make docs` builds them (warnings as errors)."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E", "-b", "html", "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True, text=True, timeout=900,
    )
    return done, out / "html"


def built(site, name: str) -> tuple[str, set[str]]:
    """A built page's text (tags stripped) and the ids of its elements (its anchors)."""
    html = (site[1] / name).read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)), set(re.findall(r'\sid="([^"]+)"', html))


def test_the_site_builds_without_a_warning(site):
    done, html = site
    assert done.returncode == 0, f"sphinx-build -W failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    for page in ("index", "reference/options", "reference/cli", "reference/python-api", "reference/run-file", "changelog"):
        assert (html / f"{page}.html").is_file(), page


@pytest.mark.parametrize("page", markdown_pages(), ids=page_id)
def test_relative_links_resolve(page):
    """Files for every page; anchors for README.md (as GitHub shows it). The site build checks
    the anchors of the docs pages, including those the reference pages generate."""
    assert broken_links(page, check_anchors=page == README) == []


def test_the_readme_is_a_front_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250, "README.md is a front page: the details belong in docs/"
    assert "results/00" not in text


def test_the_link_checker_catches_a_broken_link(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n[ok](other.md#a-section) [gone](missing.md) [bad anchor](other.md#no-such) [self](#page) [web](https://example.org/x)\n")
    assert [p.split(":")[0] for p in broken_links(page)] == ["missing.md", "other.md#no-such"]


# -- the examples run ----------------------------------------------------------------------------
PAGES_WITH_PYTHON = [page for page in markdown_pages() if python_blocks(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES_WITH_PYTHON, ids=page_id)
def test_the_python_examples_run(page, tmp_path, shared_data_dir, cache_dir):
    """Each page's ```python blocks, in order, in one fresh interpreter in an empty folder."""
    script = "\n\n".join(f"# {page_id(page)}, line {line}\n{code}" for line, code in python_blocks(page.read_text(encoding="utf-8")))
    (tmp_path / "examples.py").write_text(script, encoding="utf-8")
    env = {**os.environ, "ROBUSTEST_DATA_DIR": str(shared_data_dir), "ROBUSTEST_CACHE_DIR": str(cache_dir), "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "examples.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{page_id(page)}: its Python examples failed\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"


# -- the generated reference ---------------------------------------------------------------------
def test_the_options_page_lists_every_option_pytest_help_shows(site, tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # Options and ini keys start their line two spaces in; wrapped help lines are indented further.
    shown = set(re.findall(r"^  (--robustest-[a-z0-9-]+|--retriever)[=\s]", done.stdout, re.MULTILINE))
    ini_keys = set(re.findall(r"^  (robustest_[a-z0-9_]+) \(", done.stdout, re.MULTILINE))
    assert "--retriever" in shown and "--robustest-save" in shown and "robustest_save" in ini_keys  # the parse works
    page, ids = built(site, "reference/options.html")
    missing = [o for o in sorted(shown) if o[2:] not in ids or o not in page]
    assert missing == [], f"options in pytest --help but not on the options page: {missing}"
    assert [k for k in sorted(ini_keys) if k not in page] == []


def test_the_cli_page_lists_every_subcommand_and_argument(site):
    from robustest.cli import build_parser

    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from robustest_reference import setting_action, subcommands
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    page, ids = built(site, "reference/cli.html")
    found = subcommands(build_parser())
    assert {"setup", "evaluate", "report", "analyze", "init"} <= {name for name, _, _ in found}
    for name, _, parser in found:
        assert f"cli-{name}" in ids and f"robustest {name}" in page, name
        for action in parser._actions:
            if not setting_action(action):
                assert all(option in page for option in action.option_strings), (name, action.option_strings)


def test_the_api_page_documents_every_public_name(site):
    import robustest
    from robustest import assertions, strategies

    _, ids = built(site, "reference/python-api.html")
    public = [name for name in robustest.__all__ if not name.startswith("__")]
    assert [n for n in public if f"robustest.{n}" not in ids] == []
    for module in (strategies, assertions):
        undocumented = [n for n in module.__all__ if n not in public and f"{module.__name__}.{n}" not in ids]
        assert undocumented == [], module.__name__


def test_the_run_file_page_shows_every_key_of_the_schema(site):
    schema = json.loads((REPO / "robustest" / "resources" / "run.schema.json").read_text())
    _, ids = built(site, "reference/run-file.html")
    assert [key for key in schema["properties"] if f"key-{key.replace('_', '-')}" not in ids] == []


# -- run files against the published schema ------------------------------------------------------
def test_the_schema_is_valid_and_requires_what_readers_require():
    import jsonschema

    from robustest.runs import REQUIRED, RUN_SCHEMA

    schema = json.loads((REPO / "robustest" / "resources" / "run.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["required"]) == set(REQUIRED)
    assert schema["properties"]["schema"] == {**schema["properties"]["schema"], "const": RUN_SCHEMA}


@pytest.fixture(scope="module")
def real_runs(small_cranfield, cache_dir, tmp_path_factory) -> tuple[Path, Path]:
    """Two real runs of the shipped misspelling suite on a small cranfield cut: the first saved
    plainly, the second gated against it (a comparison and a lineage)."""
    folder = tmp_path_factory.mktemp("runs")
    first, second = folder / "first.json", folder / "second.json"
    common = [
        sys.executable, "-m", "pytest", str(REPO / "robustest" / "suites" / "test_query_families.py"), "-p", "no:cacheprovider", "-q",
        f"--rootdir={folder}", "-m", "misspelling and not robustest_property", f"--robustest-dataset={small_cranfield}",
        f"--robustest-cache-dir={cache_dir}", "--robustest-max-queries=15",
    ]
    for args in ([f"--robustest-save={first}"], [f"--robustest-save={second}", f"--robustest-baseline={first}"]):
        done = subprocess.run([*common, *args], cwd=folder, capture_output=True, text=True, timeout=600)
        assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]  # 1: a gate may fail; the file is written
    return first, second


def test_real_run_files_match_the_schema(real_runs):
    first, second = (validate_run_file(path) for path in real_runs)
    assert "misspelling" in first["families"] and first["gates"] and first["comparison"] is None
    assert second["comparison"]["regressions"] and second["lineage"]["accepted"]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda run: run.pop("families"), id="a required key removed"),
        pytest.param(lambda run: run.update(schema=1), id="another schema version"),
        pytest.param(lambda run: run["gates"][0].update(verdict="maybe"), id="an unknown verdict"),
        pytest.param(lambda run: run["families"]["misspelling"]["variants"].update({"1999": {"q1": "text, not an object"}}), id="a variant that is not an object"),
        pytest.param(lambda run: run["per_query"].update({"nDCG@10": {"1": "0.5"}}), id="a score that is a string"),
    ],
)
def test_a_damaged_run_file_fails_the_schema(real_runs, damage, tmp_path):
    run = json.loads(real_runs[0].read_text())
    damage(run)
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(run))
    with pytest.raises(AssertionError, match="does not match robustest/resources/run.schema.json"):
        validate_run_file(damaged)
