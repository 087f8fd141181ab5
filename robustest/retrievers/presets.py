"""The paper's ten retrievers (arXiv 2604.16576), as data.

Each preset fixes what its model card prescribes: pooling, the query and passage prompts
(prefixed verbatim; `{task}` is replaced by the dataset's task instruction), padding side,
normalisation and similarity. Max length is 512 tokens for all: enough for BEIR queries and
passages and it keeps 7-8B models inside one GPU; `--max-length` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .hf import EncoderConfig

# Task instructions per dataset (E5-Mistral / Qwen3-Embedding evaluation strings).
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
}
DEFAULT_TASK = TASKS["msmarco"]


def task_for(dataset_name: str) -> str:
    name = dataset_name.lower()
    for key in sorted(TASKS, key=len, reverse=True):  # "cqadupstack-android" -> "cqadupstack"
        if name == key or name.startswith(key + "-") or name.startswith(key + "/"):
            return TASKS[key]
    return DEFAULT_TASK


@dataclass(frozen=True)
class Preset:
    name: str
    hf_id: str
    config: EncoderConfig
    fixed_task: str | None = None  # a model trained with one instruction for every dataset

    def encoder_config(self, dataset_name: str) -> EncoderConfig:
        task = self.fixed_task or task_for(dataset_name)
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
