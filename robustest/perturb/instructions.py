"""Perturbations of the query prompt, not the query: the instruction families.

Instruction-tuned retrievers encode each query after a prompt, e.g. Qwen3-Embedding's
`Instruct: {task}\\nQuery:` with the dataset's task instruction in `{task}`. Users vary it
without meaning to: they leave it out, paste the generic web-search instruction, reuse another
task's, reword it, mistype it, or lose the labels in a hand-written template. Each kind is a
sampler `(QueryPrompt, rng) -> InstructionEdit` (or NoLegalEdit), drawn once per query per
seed like a query family; the query text stays as it is and the document side is untouched.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from ..retrievers.tasks import DEFAULT_TASK, TASKS
from .base import NoLegalEdit, rng_for
from .protocol import Perturbed, Variant

# "Instruct: <task>\nQuery: " (E5-Mistral, Qwen3, gte-Qwen2, Linq), also written on one line.
LABELLED = re.compile(r"(\s*Instruct:\s*)(.*?)(\s*Query:\s*)", re.S)
# Any other prompt: markup such as <|user|>, the instruction, then what separates it from the
# query (": ", "\n", <|embed|>).
MARKUP = r"(?:\s*<\|[^|]*\|>)*"
PLAIN = re.compile(rf"({MARKUP}\s*)(.*?)({MARKUP}[\s:]*)", re.S)
LABEL = re.compile(r"(?m)(^|(?<=\s))([A-Z][A-Za-z]*):[ \t]?")
RENAMED = {"Instruct": ("Instruction", "Task"), "Query": ("Question", "Search query")}
# "Given a claim, retrieve documents that refute it": the form of every instruction in TASKS.
GIVEN = re.compile(r"Given (an?|the) (.+?), (retrieve|find) (.+?)\.?", re.S | re.I)


@dataclass(frozen=True)
class QueryPrompt:
    """The query prompt a run perturbs: `template` with `{task}` where the task instruction
    goes, and the instruction. `rewrites`: model-written rewordings of the instruction for
    the seed being drawn (the instruction_reworded family adds them when a paraphraser is there)."""

    template: str
    task: str
    rewrites: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return self.with_task(self.task)

    def with_task(self, task: str) -> str:
        return self.template.replace("{task}", task)

    @classmethod
    def parse(cls, prompt: str, template: str | None = None, task: str | None = None) -> "QueryPrompt":
        """From the template and instruction when the model's prompt has a `{task}` slot, else
        from the prompt's text: the instruction between `Instruct:` and `Query:`, or the whole
        prompt without its trailing separator."""
        if template is not None and "{task}" in template and task is not None:
            return cls(template, task)
        for pattern in (LABELLED, PLAIN):
            m = pattern.fullmatch(prompt)
            if m and m.group(2).strip():
                return cls(m.group(1) + "{task}" + m.group(3), m.group(2))
        return cls("{task}", prompt)


@dataclass(frozen=True)
class InstructionEdit:
    """A plan of the instruction families: encode the query after `prompt`."""

    prompt: str
    edit: str

    def apply(self, query: str) -> str:
        return query  # the query text is not what changes

    def describe(self, query: str) -> str:
        return self.edit


InstructionSampler = Callable[[QueryPrompt, random.Random], InstructionEdit]


def remove_instruction(prompt: QueryPrompt, rng: random.Random) -> InstructionEdit:
    return InstructionEdit("", "no prompt: the query alone")


def generic_instruction(prompt: QueryPrompt, rng: random.Random) -> InstructionEdit:
    if prompt.task.strip() == DEFAULT_TASK:
        raise NoLegalEdit("the task instruction already is the generic web-search one")
    return InstructionEdit(prompt.with_task(DEFAULT_TASK), f"instruction -> the generic {DEFAULT_TASK!r}")


def other_tasks(task: str) -> list[str]:
    """Every other known task's instruction (BEIR, BRIGHT), the generic one left to its own family."""
    return sorted(set(TASKS.values()) - {task.strip(), DEFAULT_TASK})


def other_task_instruction(prompt: QueryPrompt, rng: random.Random) -> InstructionEdit:
    other = rng.choice(other_tasks(prompt.task))
    return InstructionEdit(prompt.with_task(other), f"instruction -> another task's {other!r}")


def template_rewrites(task: str) -> list[str]:
    """The instruction said in other words, same meaning: clause orders and verbs for the
    'Given a X, retrieve Y' form of the E5/Qwen3/BRIGHT instructions, softer rewrites for others."""
    m = GIVEN.fullmatch(task.strip())
    if m:
        article, given, verb, wanted = m.groups()
        article = article.lower()
        return [
            f"Retrieve {wanted} for the given {given}",
            f"Find {wanted}, given {article} {given}",
            f"For {article} {given}, return {wanted}",
            f"Search for {wanted} given {article} {given}",
            f"{article.capitalize()} {given} is given: {verb.lower()} {wanted}",
        ]
    bare = task.strip().rstrip(".")
    if len(bare.split()) < 3:  # a tag such as 'query: ', not an instruction sentence
        return []
    return [f"Your task: {bare[:1].lower() + bare[1:]}", bare if task.strip().endswith(".") else bare + ".", f"{bare}, please"]


def reworded_instruction(prompt: QueryPrompt, rng: random.Random) -> InstructionEdit:
    candidates = [(r, "reworded") for r in template_rewrites(prompt.task)] + [(r, "reworded by the paraphraser") for r in prompt.rewrites]
    candidates = [(r, how) for r, how in candidates if r.strip() and r.strip() != prompt.task.strip()]
    if not candidates:
        raise NoLegalEdit("no rewording of the instruction differs from it")
    text, how = rng.choice(candidates)
    return InstructionEdit(prompt.with_task(text), f"instruction {how}: {text!r}")


def misspelt_instruction(prompt: QueryPrompt, rng: random.Random) -> InstructionEdit:
    """The misspelling family's operators (the paper's six, ~10% of the words) on the instruction."""
    from .typos import sample_typos

    plan = sample_typos(prompt.task, rng)
    return InstructionEdit(prompt.with_task(plan.apply(prompt.task)), f"misspelt instruction: {plan.describe(prompt.task)}")


def format_drifts(prompt: QueryPrompt) -> list[tuple[str, str]]:
    """(description, prompt) for each way a hand-written template drifts from the model's:
    labels dropped or renamed, newlines as spaces, the space before the query added or lost."""
    text = prompt.text
    drifts = []
    labels = [m.group(2) for m in LABEL.finditer(text)]
    if labels:
        drifts.append((f"labels {', '.join(l + ':' for l in labels)} dropped", LABEL.sub(r"\1", text)))
        for label in labels:
            for new in RENAMED.get(label, (label.lower(),)):
                drifts.append((f"label {label}: -> {new}:", re.sub(rf"(?m)(^|(?<=\s)){label}:", rf"\g<1>{new}:", text, count=1)))
    if "\n" in text:
        drifts.append(("newlines -> spaces", re.sub(r"[ \t]*\n[ \t]*", " ", text)))
    if text and text[-1].isspace():
        drifts.append(("no whitespace before the query", text.rstrip()))
    else:
        drifts.append(("a space before the query", text + " "))
        drifts.append(("a newline before the query", text + "\n"))
    return [(what, new) for what, new in drifts if new != text]


def format_drift(prompt: QueryPrompt, rng: random.Random) -> InstructionEdit:
    drifts = format_drifts(prompt)
    if not drifts:
        raise NoLegalEdit("the prompt has no format to drift")
    what, new = rng.choice(drifts)
    return InstructionEdit(new, f"format: {what}")


class InstructionPerturber:
    """One seed of an instruction family: a prompt per query, drawn with the query's own rng
    (seed, family, query id), the query text unchanged. `rewriter(task, seed)`: model-written
    rewordings of the instruction for that seed (the reworded family, with a paraphraser)."""

    def __init__(self, family: str, sampler: InstructionSampler, prompt: QueryPrompt, rewriter: Callable[[str, int], tuple[str, ...]] | None = None):
        self.family, self.sampler, self.prompt, self.rewriter = family, sampler, prompt, rewriter

    def __call__(self, queries: Mapping[str, str], seed: int) -> Perturbed:
        prompt = replace(self.prompt, rewrites=self.rewriter(self.prompt.task, seed)) if self.rewriter else self.prompt
        variants, skipped = [], {}
        for qid in sorted(queries):
            try:
                edit = self.sampler(prompt, rng_for(seed, self.family, qid))
            except NoLegalEdit as reason:
                skipped[qid] = str(reason)
                continue
            if edit.prompt == prompt.text:
                skipped[qid] = "the edit leaves the prompt as it is"
                continue
            variants.append(Variant(qid, queries[qid], queries[qid], edit, prompt=edit.prompt))
        return Perturbed(self.family, seed, tuple(variants), skipped)
