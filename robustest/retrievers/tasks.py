"""Task instructions per dataset: what `{task}` in an instruction-tuned retriever's query
prompt becomes (`task_instruction`), and which collection a dataset name stands for. Data and
string matching only (no torch): the instruction families read the table too.
"""

from __future__ import annotations

from pathlib import Path

# Task instructions per dataset: the E5-Mistral / Qwen3-Embedding evaluation strings for the
# 15 public BEIR collections (MS MARCO's serves TREC DL 2019/2020 too), BRIGHT's own per task
# (its configs for instruction-tuned models, with its display names: "Earth Science", "Stack
# Overflow"; verbatim, "a Earth Science" included), BrowseComp-Plus's (the Qwen3 web-search
# instruction its baselines use), and ours for the embedded default collection.
TASKS = {
    "arguana": "Given a claim, find documents that refute the claim",
    "climate-fever": "Given a claim about climate change, retrieve documents that support or refute the claim",
    "cqadupstack": "Given a question, retrieve detailed question descriptions from Stackexchange that are duplicates to the given question",
    "dbpedia-entity": "Given a query, retrieve relevant entity descriptions from DBPedia",
    "fever": "Given a claim, retrieve documents that support or refute the claim",
    "fiqa": "Given a financial question, retrieve user replies that best answer the question",
    "hotpotqa": "Given a multi-hop question, retrieve documents that can help answer the question",
    "msmarco": "Given a web search query, retrieve relevant passages that answer the query",
    "nfcorpus": "Given a question, retrieve relevant documents that best answer the question",
    "nq": "Given a question, retrieve Wikipedia passages that answer the question",
    "quora": "Given a question, retrieve questions that are semantically equivalent to the given question",
    "scidocs": "Given a scientific paper title, retrieve paper abstracts that are cited by the given paper",
    "scifact": "Given a scientific claim, retrieve documents that support or refute the claim",
    "trec-covid": "Given a query on COVID-19, retrieve documents that answer the query",
    "webis-touche2020": "Given a question, retrieve detailed and persuasive arguments that answer the question",
    "wordnet-senses": "Given a sentence that uses a word, retrieve the dictionary definition of the sense it uses",
    **{
        f"bright-{task}": f"Given a {name} post, retrieve relevant passages that help answer the post"
        for task, name in (
            ("biology", "Biology"),
            ("earth-science", "Earth Science"),
            ("economics", "Economics"),
            ("psychology", "Psychology"),
            ("robotics", "Robotics"),
            ("stackoverflow", "Stack Overflow"),
            ("sustainable-living", "Sustainable Living"),
        )
    },
    "bright-leetcode": "Given a coding problem, retrieve relevant examples that help answer the problem",
    "bright-pony": "Given a Pony question, retrieve relevant passages that help answer the question",
    "bright-aops": "Given a Math problem, retrieve relevant examples that help answer the problem",
    "bright-theoremqa-questions": "Given a Math problem, retrieve relevant examples that help answer the problem",
    "bright-theoremqa-theorems": "Given a Math problem, retrieve relevant theorems that help answer the problem",
    "browsecomp-plus": "Given a web search query, retrieve relevant passages that answer the query",
}
DEFAULT_TASK = TASKS["msmarco"]
DEFAULT_COLLECTION = "wordnet-senses"  # data.default_collection.DEFAULT_DATASET_NAME

# Other spellings of BEIR names, as folders and ir_datasets ids write them.
ALIASES = {
    "dbpedia": "dbpedia-entity",
    "fiqa2018": "fiqa",
    "fiqa-2018": "fiqa",
    "msmarco-passage": "msmarco",
    "msmarco-passage-v2": "msmarco",
    "natural-questions": "nq",
    "touche2020": "webis-touche2020",
    "touche-2020": "webis-touche2020",
    "treccovid": "trec-covid",
}
CQADUPSTACK_FORUMS = frozenset(
    "android english gaming gis mathematica physics programmers stats tex unix webmasters wordpress".split()
)
SPLIT_SUFFIXES = ("-test", "-dev", "-train", "-validation")


def collection_key(name: str) -> str | None:
    """The TASKS key a folder or collection name stands for, or None.

    Conservative: the whole name must be a BEIR name (any case, '_' for '-'), optionally
    with a 'beir-' prefix, a split suffix ('scifact-test', 'nq-train') or, for
    cqadupstack, one of its twelve forums ('cqadupstack-android'). 'my-scifact-v2' or
    'our-beir-set' match nothing.
    """
    n = name.strip().lower().replace("_", "-").replace(" ", "-")
    n = n.removeprefix("beir-")
    for suffix in SPLIT_SUFFIXES:
        if n.endswith(suffix) and n != suffix[1:]:
            n = n[: -len(suffix)]
            break
    n = ALIASES.get(n, n)
    if n in TASKS:
        return n
    head, _, forum = n.partition("-")
    return "cqadupstack" if head == "cqadupstack" and forum in CQADUPSTACK_FORUMS else None


def irds_key(dataset_id: str) -> str | None:
    """'beir/scifact/test' -> scifact, 'beir/cqadupstack/android' -> cqadupstack,
    'msmarco-passage/dev/small' -> msmarco, 'cord19/trec-covid' -> trec-covid,
    'bright/earth-science' -> bright-earth-science: the first two parts of the id together,
    or the first or second part alone, name the collection."""
    parts = [p for p in dataset_id.strip().strip("/").split("/") if p]
    for part in ["-".join(parts[:2])] * (len(parts) > 1) + parts[:2]:
        key = collection_key(part)
        if key:
            return key
    return None


def task_instruction(dataset_spec: str, override: str | None = None) -> tuple[str, str]:
    """The task instruction for a dataset, and where it came from (for the run header).

    `dataset_spec` is the dataset as the user gave it: '' or 'default' (the embedded
    collection), 'irds:<ir_datasets id>', 'mteb:<Task>', 'hf:<org>/<name>', a bare ir_datasets
    id, or a folder. The
    E5/Qwen3 instruction of a known BEIR collection is used; anything else gets the
    generic web-search instruction, and the source says so. `override`
    (--robustest-instruction) wins over everything.
    """
    if override is not None:
        return override, "--robustest-instruction"
    spec = (dataset_spec or "").strip()
    if spec in ("", "default"):
        label, key = spec, DEFAULT_COLLECTION
    elif spec.startswith("irds:"):
        label = spec
        key = irds_key(spec[len("irds:") :])
    elif spec.startswith(("mteb:", "hf:")):  # mteb:SciFact, hf:mteb/scifact@REV#SUBSET: the name
        label = spec
        key = collection_key(spec.partition(":")[2].split("#")[0].split("@")[0].rsplit("/", 1)[-1])
    else:
        path = Path(spec).expanduser()
        label = path.name or spec
        key = collection_key(label)
        if key is None and path.parent.name.lower() == "cqadupstack" and label.lower() in CQADUPSTACK_FORUMS:
            key = "cqadupstack"  # BEIR's download unpacks cqadupstack/<forum>/
        elif key is None and path.parent.name.lower() == "bright":
            key = collection_key(f"bright-{label}")  # bright/<task>/, one folder per task
        elif key is None and "/" in spec and not path.exists():  # a bare ir_datasets id
            key = irds_key(spec)
    if key is None:
        return DEFAULT_TASK, (
            f"no known task for {label!r}: generic web-search instruction; set --robustest-instruction"
        )
    if key == DEFAULT_COLLECTION:
        return TASKS[key], f"robustest's task for the embedded {key} collection"
    if key.startswith("bright-"):
        return TASKS[key], f"BRIGHT's task for {key.removeprefix('bright-')}"
    if key == "browsecomp-plus":
        return TASKS[key], "BrowseComp-Plus's (Qwen3 web-search) task"
    return TASKS[key], f"E5/Qwen3 task for {key}"
