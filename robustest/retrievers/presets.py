"""The paper's ten retrievers (arXiv 2604.16576), as data.

Each preset fixes what its model card prescribes: pooling, the query and passage prompts
(prefixed verbatim; `{task}` is replaced by the dataset's task instruction, see
`task_instruction`), padding side, normalisation and similarity. Max length is 512 tokens
for all: enough for BEIR queries and passages and it keeps 7-8B models inside one GPU;
`--robustest-max-length` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .hf import EncoderConfig
from .tasks import DEFAULT_TASK, TASKS, collection_key, irds_key, task_instruction  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Preset:
    name: str
    hf_id: str
    config: EncoderConfig
    fixed_task: str | None = None  # a model trained with one instruction for every dataset

    def instruction(self, dataset_spec: str, override: str | None = None) -> tuple[str, str]:
        """The instruction for `{task}` and its source; --robustest-instruction wins over a fixed one."""
        if override is None and self.fixed_task:
            return self.fixed_task, f"fixed by preset {self.name} (one instruction for all data)"
        return task_instruction(dataset_spec, override)

    def encoder_config(self, dataset_spec: str, override: str | None = None) -> EncoderConfig:
        task = self.instruction(dataset_spec, override)[0]
        return replace(self.config, query_prompt=self.config.query_prompt.replace("{task}", task))


QWEN3_QUERY = "Instruct: {task}\nQuery:"
E5_MISTRAL_QUERY = "Instruct: {task}\nQuery: "


def _last_token(query_prompt: str, doc_prompt: str = "") -> EncoderConfig:
    return EncoderConfig(pooling="last", query_prompt=query_prompt, doc_prompt=doc_prompt, padding_side="left")


PRESETS = (
    Preset(
        "contriever-msmarco",
        "facebook/contriever-msmarco",
        EncoderConfig(pooling="mean", normalize=False, similarity="dot"),
    ),
    Preset("bge-m3", "BAAI/bge-m3", EncoderConfig(pooling="cls")),
    Preset("qwen3-embedding-0.6b", "Qwen/Qwen3-Embedding-0.6B", _last_token(QWEN3_QUERY)),
    Preset("qwen3-embedding-4b", "Qwen/Qwen3-Embedding-4B", _last_token(QWEN3_QUERY)),
    Preset("qwen3-embedding-8b", "Qwen/Qwen3-Embedding-8B", _last_token(QWEN3_QUERY)),
    Preset("linq-embed-mistral", "Linq-AI-Research/Linq-Embed-Mistral", _last_token(E5_MISTRAL_QUERY)),
    Preset("gte-qwen2-7b-instruct", "Alibaba-NLP/gte-Qwen2-7B-instruct", _last_token(E5_MISTRAL_QUERY)),
    Preset(
        "reasonir-8b",
        "reasonir/ReasonIR-8B",
        EncoderConfig(
            pooling="mean_no_prompt",
            query_prompt="<|user|>\n{task}\n<|embed|>\n",
            doc_prompt="<|embed|>\n",
        ),
    ),
    Preset(
        "diver-retriever-4b",
        "AQ-MedAI/Diver-Retriever-4B",
        _last_token(QWEN3_QUERY, doc_prompt="Represent this text:"),
        fixed_task=DEFAULT_TASK,
    ),
    Preset("reason-embed-qwen3-8b", "hanhainebula/reason-embed-qwen3-8b-0928", _last_token(QWEN3_QUERY)),
)


def find_preset(spec: str) -> Preset | None:
    """A preset by short name or HF id, case-insensitively."""
    key = spec.strip().lower()
    for preset in PRESETS:
        if key in (preset.name, preset.hf_id.lower()):
            return preset
    return None
