"""Paraphrasing through local seq2seq models: tiny random models built from configs, with
tokenizers trained here on query text (no model or tokenizer download is possible offline)."""

from __future__ import annotations

import random

import pytest

from robustest.errors import RobustestError
from robustest.perturb.base import NoLegalEdit
from robustest.perturb.paraphrase import (
    ParaphrasePlan,
    Paraphraser,
    load_back_translator,
    load_paraphraser,
    paraphraser_sampler,
    perturb_with_paraphraser,
    plan_for,
)
from robustest.perturb.protocol import perturb_queries

# Real cranfield queries, inline so these tests need no shared data.
QUERIES = {
    "1": "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft .",
    "2": "what are the structural and aeroelastic problems associated with flight of high speed aircraft .",
    "3": "what problems of heat conduction in composite slabs have been solved so far .",
    "4": "can a criterion be developed to show empirically the validity of flow solutions for chemically reacting gas mixtures .",
    "5": "what chemical kinetic system is applicable to hypersonic aerodynamic problems .",
    "6": "what theoretical and experimental guides do we have as to turbulent couette flow behaviour .",
    "7": "is it possible to relate the available pressure distributions for an ogive forebody at zero angle of attack .",
    "8": "what methods -dash exact or approximate -dash are presently available for predicting body pressures .",
}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models on a busy 2-core machine: two torch threads spin-wait on each other and
    a 32-wide matmul takes 10 ms instead of 10 us. One thread is fast for these sizes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def scramble(model, std=0.5):
    """Wider random weights than the init: at init a tiny T5 only ever writes <pad>."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model


def train_wordlevel(folder, texts):
    """A word-level tokenizer for T5-style models: <pad>=0 (also decoder start), </s>=1, <unk>=2."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    return fast


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny-t5")
    tok = train_wordlevel(folder, list(QUERIES.values()) + ["paraphrase:"])
    config = T5Config(
        vocab_size=len(tok), d_model=32, d_kv=16, num_layers=1, num_heads=2, d_ff=64,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    torch.manual_seed(0)
    scramble(T5ForConditionalGeneration(config)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def t5(t5_dir):
    return load_paraphraser(t5_dir, prefix="paraphrase: ", max_new_tokens=12, device="cpu")


def test_plan_is_the_model_output():
    plan = ParaphrasePlan("which laws hold for aeroelastic models")
    assert plan.family == "paraphrasing"
    assert plan.apply(QUERIES["1"]) == plan.text
    assert "->" in plan.describe(QUERIES["1"])


@pytest.mark.parametrize("output", ["", "   ", QUERIES["3"], "  WHAT problems of heat conduction in composite slabs   have been solved so far .  "])
def test_empty_or_echo_is_no_legal_edit(output):
    with pytest.raises(NoLegalEdit):
        plan_for(QUERIES["3"], output)


def test_batching_gives_the_same_outputs_as_one_by_one(t5):
    texts = list(QUERIES.values())
    batched = t5.paraphrase_many(texts, batch_size=3)
    assert batched == [t5.paraphrase(t) for t in texts]
    assert t5.paraphrase_many(texts, batch_size=8) == batched
    assert any(batched), "the tiny model should write something for some query"


def test_outputs_are_deterministic_across_loads(t5_dir, t5):
    texts = list(QUERIES.values())
    again = load_paraphraser(t5_dir, prefix="paraphrase: ", max_new_tokens=12, device="cpu")
    assert again.paraphrase_many(texts) == t5.paraphrase_many(texts)
    beams = load_paraphraser(t5_dir, prefix="paraphrase: ", max_new_tokens=12, num_beams=3, device="cpu")
    assert beams.paraphrase_many(texts, batch_size=4) == beams.paraphrase_many(texts, batch_size=1)


def test_sampling_is_seeded(t5_dir):
    sampler = load_paraphraser(t5_dir, max_new_tokens=12, do_sample=True, device="cpu")
    texts = list(QUERIES.values())
    assert sampler.paraphrase_many(texts, seed=5) == sampler.paraphrase_many(texts, seed=5)


def test_protocol_with_a_paraphraser(t5):
    batched = perturb_with_paraphraser(QUERIES, t5, seed=1999, batch_size=4)
    assert batched.family == "paraphrasing" and batched.seed == 1999
    assert len(batched.variants) + len(batched.skipped) == len(QUERIES)
    one_by_one = perturb_queries(QUERIES, "paraphrasing", 1999, sampler=paraphraser_sampler(t5))
    assert [(v.query_id, v.text) for v in one_by_one.variants] == [(v.query_id, v.text) for v in batched.variants]
    for v in batched.variants:
        assert v.text == t5.paraphrase(v.original) and v.text.strip()


class Echo(Paraphraser):
    """A 'model' that gives every query back, with other case and spacing."""

    def __init__(self):
        super().__init__(stages=())

    def paraphrase_many(self, texts, batch_size=16, seed=0):
        return [f"  {t.upper()} " for t in texts]


def test_an_echoing_paraphraser_skips_every_query():
    result = perturb_with_paraphraser(QUERIES, Echo(), seed=5)
    assert result.variants == () and set(result.skipped) == set(QUERIES)
    with pytest.raises(NoLegalEdit):
        paraphraser_sampler(Echo())(QUERIES["1"], random.Random(0))


def test_a_missing_path_names_the_option(tmp_path):
    with pytest.raises(RobustestError, match=r"--robustest-paraphraser=.*no such folder"):
        load_paraphraser(tmp_path / "nowhere")


def test_a_folder_without_a_seq2seq_model_names_the_option(tmp_path, minilm_dir):
    with pytest.raises(RobustestError, match=r"--robustest-paraphraser=.* is not a seq2seq model"):
        load_paraphraser(tmp_path)  # empty folder
    with pytest.raises(RobustestError, match=r"--robustest-paraphraser=.* is not a seq2seq model"):
        load_paraphraser(minilm_dir)  # a BERT encoder: no seq2seq head
    (tmp_path / "config.json").write_text('{"model_type": "t5"}')
    with pytest.raises(RobustestError, match=r"--robustest-paraphraser=.* could not be loaded"):
        load_paraphraser(tmp_path)  # a config without weights


# ---- m2m100-style languages ---------------------------------------------------------------


@pytest.fixture(scope="module")
def m2m_dir(tmp_path_factory):
    spm = pytest.importorskip("sentencepiece", reason="an m2m100 tokenizer needs sentencepiece to train offline")
    import json

    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    folder = tmp_path_factory.mktemp("tiny-m2m")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(QUERIES.values()) + "\n")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "spm"), vocab_size=120, model_type="unigram",
        pad_id=-1, bos_id=-1, eos_id=-1, unk_id=0, num_threads=1, minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    pieces = ["<s>", "<pad>", "</s>", "<unk>"] + [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocab = {p: i for i, p in enumerate(dict.fromkeys(pieces))}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tok = M2M100Tokenizer(str(folder / "vocab.json"), str(folder / "spm.model"), src_lang="en", tgt_lang="de")
    tok.save_pretrained(folder)
    config = M2M100Config(
        # len(tok) leaves out the 100 language tokens and 8 "madeup" words that follow the vocabulary.
        vocab_size=tok.encoder_size + len(tok.lang_code_to_id) + 8, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    scramble(M2M100ForConditionalGeneration(config)).save_pretrained(folder)
    return folder


def test_back_translation_sets_languages(m2m_dir):
    bt = load_back_translator(m2m_dir, source="en", pivot="de", max_new_tokens=8, device="cpu")
    forward, backward = bt.stages
    assert backward.model is forward.model  # one many-to-many model, loaded once
    tok = forward.tokenizer
    assert forward.forced_bos_token_id() == tok.get_lang_id("de")
    assert backward.forced_bos_token_id() == tok.get_lang_id("en")
    # The encoder sees the source language token; the decoder starts with the target's.
    assert forward.encode(["heat conduction"])["input_ids"][0, 0] == tok.get_lang_id("en")
    assert backward.encode(["heat conduction"])["input_ids"][0, 0] == tok.get_lang_id("de")
    ids = forward.generate_ids([QUERIES["3"]], max_new_tokens=4)
    assert ids[0, 1] == tok.get_lang_id("de")
    texts = list(QUERIES.values())
    outputs = bt.paraphrase_many(texts, batch_size=3)
    assert outputs == [bt.paraphrase(t) for t in texts] and any(outputs)


def test_an_unknown_language_is_named(m2m_dir):
    bt = load_back_translator(m2m_dir, source="en", pivot="klingon", device="cpu")
    with pytest.raises(RobustestError, match="no language 'klingon'"):
        bt.paraphrase("heat conduction in slabs")
