"""Every failure to load a model is one line naming the folder, the file and the likely fix:
from the library, from `robustest evaluate` and from pytest alike. Broken models are real
copies of the packaged MiniLM and SmolLM2 files, cut or edited."""

import json
import shutil
import subprocess
import sys

import pytest

from robustest.errors import RobustestError
from robustest.retrievers.resolve import LoadOptions, resolve_retriever


def copy_minilm(minilm_dir, target):
    shutil.copytree(minilm_dir, target)
    return target


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


def truncated_safetensors(minilm_dir, gguf, tmp):
    folder = copy_minilm(minilm_dir, tmp / "cut-weights")
    with open(folder / "model.safetensors", "r+b") as f:
        f.truncate(1_000_000)
    return folder, ["model.safetensors is damaged", "truncated or corrupt", "download or copy it again"]


def only_config(minilm_dir, gguf, tmp):
    folder = tmp / "only-config"
    folder.mkdir()
    shutil.copy(minilm_dir / "config.json", folder)
    return folder, ["not a complete model folder", "no weights (model.safetensors", "no tokenizer files", "copy the whole folder"]


def wider_config(minilm_dir, gguf, tmp):
    folder = copy_minilm(minilm_dir, tmp / "wider")
    edit_config(folder, hidden_size=768)  # still a multiple of the 12 heads: the weights do not fit
    return folder, ["cannot load model.safetensors", "with its config.json", "size mismatch", "restore the model's own config.json"]


def deeper_config(minilm_dir, gguf, tmp):
    folder = copy_minilm(minilm_dir, tmp / "deeper")
    edit_config(folder, num_hidden_layers=8)  # transformers alone would add two random layers
    return folder, ["32 tensors of the model are not in model.safetensors", "encoder.layer.6", "would be random", "restore the model's own config.json"]


def no_tokenizer(minilm_dir, gguf, tmp):
    folder = copy_minilm(minilm_dir, tmp / "no-tokenizer")
    for name in ("tokenizer.json", "vocab.txt"):
        (folder / name).unlink()
    return folder, ["not a complete model folder", "no tokenizer files (tokenizer.json, vocab.txt", "copy the whole folder"]


def truncated_gguf(minilm_dir, gguf, tmp):
    path = tmp / "cut.gguf"
    with open(gguf, "rb") as f:
        path.write_bytes(f.read(2_000_000))
    return path, ["is not a complete GGUF file", "2,000,000 bytes", "truncated or corrupt", "download or copy it again"]


CASES = [truncated_safetensors, only_config, wider_config, deeper_config, no_tokenizer, truncated_gguf]


@pytest.fixture(params=CASES, ids=[c.__name__ for c in CASES])
def broken(request, minilm_dir, smollm_gguf, tmp_path):
    """(path to a broken model, fragments its error must contain)."""
    path, fragments = request.param(minilm_dir, smollm_gguf, tmp_path)
    return path, [str(path), *fragments]


def test_the_library_raises_one_line_naming_folder_file_and_fix(broken, tmp_path):
    path, fragments = broken
    opts = LoadOptions(progress=False, cache_dir=tmp_path / "cache")
    with pytest.raises(RobustestError) as info:
        resolve_retriever(str(path), opts).load(opts)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_an_intact_copy_loads(minilm_dir, tmp_path):
    """The checks above do not fire on a good folder (transformers' own report is empty)."""
    folder = copy_minilm(minilm_dir, tmp_path / "intact")
    opts = LoadOptions(progress=False)
    assert resolve_retriever(str(folder), opts).load(opts).encode_queries(["boundary layer"]).shape == (1, 384)


def test_robustest_evaluate_prints_the_one_line(broken, small_cranfield, tmp_path):
    path, fragments = broken
    result = subprocess.run(
        [sys.executable, "-m", "robustest.cli", "evaluate", f"--retriever={path}",
         f"--dataset={small_cranfield}", f"--cache-dir={tmp_path / 'cache'}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("robustest: error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.mark.parametrize("case", [truncated_safetensors, truncated_gguf], ids=lambda c: c.__name__)
def test_pytest_stops_with_a_usage_error(case, pytester, minilm_dir, smollm_gguf, small_cranfield, tmp_path):
    path, fragments = case(minilm_dir, smollm_gguf, tmp_path)
    pytester.makepyfile(test_tiny="def test_tiny(retriever_under_test):\n    assert retriever_under_test.dimension\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--retriever={path}", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={tmp_path / 'cache'}"
    )
    text = result.stdout.str() + "\n" + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, text
    for fragment in [str(path), *fragments]:
        assert fragment in errors[0], errors[0]
