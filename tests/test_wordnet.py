"""WordNet through NLTK from Debian's files: install, load, and the errors when it is missing."""

import os

import nltk
import pytest

from robustest.data import wordnet
from robustest.data.wordnet import (
    LEXNAMES,
    NLTK_DATA_ENV,
    WORDNET_FILES,
    install_wordnet_from_debian,
    load_wordnet,
    nltk_data_dir,
)
from robustest.errors import RobustestError

needs_debian = pytest.mark.skipif(
    wordnet.find_debian_wordnet() is None,
    reason="apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index",
)


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(NLTK_DATA_ENV, raising=False)


def test_nltk_data_dir(tmp_path, monkeypatch):
    assert nltk_data_dir(tmp_path) == tmp_path / "nltk_data"
    monkeypatch.setenv(NLTK_DATA_ENV, str(tmp_path / "elsewhere"))
    assert nltk_data_dir(tmp_path) == tmp_path / "elsewhere"


def test_lexnames_lines():
    lines = wordnet.lexnames_text().splitlines()
    assert len(lines) == len(LEXNAMES) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2"
    assert lines[2] == "02\tadv.all\t4"
    assert lines[44] == "44\tadj.ppl\t3"


@needs_debian
def test_install_then_load(tmp_path, monkeypatch):
    # Only our folder on NLTK's path, so nothing else can answer.
    monkeypatch.setattr(nltk.data, "path", [])
    # NLTK refuses folders others can write to: a 002 umask must not break our copy.
    old_umask = os.umask(0o002)
    try:
        target = install_wordnet_from_debian(nltk_data_dir(tmp_path))
    finally:
        os.umask(old_umask)

    assert target == tmp_path / "nltk_data" / "corpora" / "wordnet"
    for name in WORDNET_FILES + ("lexnames",):
        assert (target / name).is_file() and not (target / name).is_symlink()
    assert len((target / "lexnames").read_text().splitlines()) == 45
    assert [p.name for p in target.parent.iterdir()] == ["wordnet"]  # no temp folder left

    wn = load_wordnet(tmp_path)
    assert "car.n.01" in [s.name() for s in wn.synsets("car")]
    assert wn.synset("dog.n.01").lexname() == "noun.animal"
    assert wn.get_version() == "3.0"
    assert load_wordnet(tmp_path) is wn  # parsed once

    # Installing again replaces the copy in place.
    assert install_wordnet_from_debian(nltk_data_dir(tmp_path)) == target
    assert [p.name for p in target.parent.iterdir()] == ["wordnet"]


def test_missing_debian_dir(tmp_path):
    with pytest.raises(RobustestError, match="apt-get install") as info:
        install_wordnet_from_debian(tmp_path / "nltk_data", debian_dir=tmp_path / "nowhere")
    assert "robustest setup wordnet" in str(info.value)
    assert not (tmp_path / "nltk_data" / "corpora" / "wordnet").exists()


def test_nothing_anywhere_then_automatic_install(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.setattr(wordnet, "DEBIAN_WORDNET_DIRS", (tmp_path / "nowhere",))
    with pytest.raises(RobustestError, match="apt-get install") as info:
        load_wordnet(tmp_path)
    assert "nltk.downloader wordnet" in str(info.value)

    # The failed lookup must not stick: once Debian's files are there, load_wordnet
    # copies them into our folder by itself and works.
    monkeypatch.undo()
    monkeypatch.setattr(nltk.data, "path", [])
    if wordnet.find_debian_wordnet() is None:
        pytest.skip("Debian WordNet packages are not installed")
    wn = load_wordnet(tmp_path)
    assert (tmp_path / "nltk_data" / "corpora" / "wordnet" / "lexnames").is_file()
    assert wn.synsets("bank")
    assert str(tmp_path / "nltk_data") in nltk.data.path


@needs_debian
def test_refused_folder_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [])
    target = install_wordnet_from_debian(nltk_data_dir(tmp_path))
    target.chmod(0o777)  # NLTK will not read a world-writable folder
    monkeypatch.setattr(wordnet, "DEBIAN_WORDNET_DIRS", (tmp_path / "nowhere",))
    with pytest.raises(RobustestError, match="apt-get install") as info:
        load_wordnet(tmp_path)
    assert str(target) in str(info.value)
