"""Retrievers: the models robustest tests, and how a `--retriever` value becomes one.

    base.py       the Retriever protocol: what robustest needs from any model
    resolve.py    a --retriever string -> a retriever (preset, folder, .gguf, hub id, module:factory)
    adapt.py      any model object (sentence-transformers, a function, ...) as a Retriever
    presets.py    the paper's ten retrievers, as data
    tasks.py      the task instruction of each known dataset (what `{task}` becomes)
    prompts.py    queries encoded under another query prompt (the instruction families)
    local.py      a model folder: its weight files and how it says to pool
    hf.py         dense retrievers from Hugging Face models, encoders and decoder LLMs alike
    pooling.py    one vector per text from a model's token states
    bm25.py       BM25, the lexical baseline
    glove.py      the mean of GloVe word vectors (a weak retriever, an independent guard)
    vectors.py    the checks on the vectors a retriever returns
    diagnose.py   why a model folder does not load, in one line

Nothing is imported here: `import robustest.retrievers.resolve` loads what it needs, and
torch and transformers load only with a model.
"""
