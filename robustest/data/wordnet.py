"""Princeton WordNet 3.0 through NLTK, without `nltk.download`.

NLTK's WordNet reader needs the WordNet database files under
`<nltk_data>/corpora/wordnet/`. Offline machines can get those files from Debian's
`wordnet-base` and `wordnet-sense-index` packages; we copy them into robustest's own NLTK
folder and add the `lexnames` file that Debian leaves out. Users who ran
`nltk.download('wordnet')` need none of this: `load_wordnet` finds their copy too.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import warnings
from pathlib import Path

from ..errors import RobustestError
from ..paths import cache_root, writable_dir

NLTK_DATA_ENV = "ROBUSTEST_NLTK_DATA"

# Where distributions put the WordNet 3.0 database; Debian and Ubuntu use the first.
DEBIAN_WORDNET_DIRS = (
    Path("/usr/share/wordnet"),
    Path("/usr/local/share/wordnet"),
    Path("/usr/share/wordnet-3.0/dict"),
)

# What NLTK's reader opens. The first four lines come from wordnet-base, index.sense
# from wordnet-sense-index.
WORDNET_FILES = (
    "data.noun", "data.verb", "data.adj", "data.adv",
    "index.noun", "index.verb", "index.adj", "index.adv",
    "noun.exc", "verb.exc", "adj.exc", "adv.exc",
    "index.sense",
)
# Copied when present: NLTK reads it only for Lemma.count().
OPTIONAL_FILES = ("cntlist.rev",)

# The WordNet 3.0 lexicographer files, numbered 00..44 in this order (lexnames(5WN)).
# NLTK maps each synset's lexicographer number to a name through this list.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon",
    "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body",
    "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
)
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

INSTALL_HINT = (
    "install it with `apt-get install -y --no-install-recommends wordnet-base "
    "wordnet-sense-index` and then run `robustest setup wordnet`, "
    "or, when online, run `python -m nltk.downloader wordnet`"
)

# Readers already built, by corpus folder: parsing the index files takes seconds.
_READERS: dict[str, object] = {}


def nltk_data_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """robustest's own NLTK data folder.

    `ROBUSTEST_NLTK_DATA` wins over the cache root: it names exactly this folder, so it is
    the more specific setting (e.g. a shared, read-only WordNet copy on CI).
    """
    if os.environ.get(NLTK_DATA_ENV):
        return Path(os.environ[NLTK_DATA_ENV]).expanduser()
    return cache_root(cache_dir) / "nltk_data"


def lexnames_text() -> str:
    """The `lexnames` file: `NN<TAB>name<TAB>category`, one line per lexicographer file."""
    return "".join(
        f"{i:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
        for i, name in enumerate(LEXNAMES)
    )


def find_debian_wordnet(debian_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder holding the Debian WordNet files, or None when no candidate has them all."""
    candidates = [Path(debian_dir)] if debian_dir is not None else list(DEBIAN_WORDNET_DIRS)
    for folder in candidates:
        if all((folder / name).is_file() for name in WORDNET_FILES):
            return folder
    return None


def install_wordnet_from_debian(
    target_dir: str | os.PathLike | None = None,
    debian_dir: str | os.PathLike | None = None,
) -> Path:
    """Copy Debian's WordNet 3.0 files into `<target_dir>/corpora/wordnet/` and return that folder.

    `target_dir` is an NLTK data folder (default: `nltk_data_dir()`). An existing copy is
    replaced. Files are copied, not linked: NLTK refuses symlinks.
    """
    source = find_debian_wordnet(debian_dir)
    if source is None:
        where = debian_dir if debian_dir is not None else ", ".join(map(str, DEBIAN_WORDNET_DIRS))
        raise RobustestError(
            f"WordNet's database files ({', '.join(WORDNET_FILES)}) were not found in {where}; "
            + INSTALL_HINT
        )
    root = Path(target_dir) if target_dir is not None else nltk_data_dir()
    corpora = writable_dir(root / "corpora", "NLTK data folder")
    # NLTK refuses data folders that other accounts can write to, whatever the umask made.
    for folder in (root, corpora):
        _make_private(folder)
    target = corpora / "wordnet"

    # Build beside the target and rename, so nobody ever sees a half-copied folder.
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=corpora))
    try:
        for name in WORDNET_FILES + OPTIONAL_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, tmp / name)  # follows links: copies content
        (tmp / "lexnames").write_text(lexnames_text(), encoding="ascii")
        for path in tmp.iterdir():
            path.chmod(0o644)
        tmp.chmod(0o755)
        _swap_in(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _READERS.pop(str(target), None)
    return target


def load_wordnet(cache_dir: str | os.PathLike | None = None):
    """NLTK's WordNet corpus reader, from the first place that has WordNet.

    Looks in robustest's NLTK folder, then on NLTK's own search path (where
    `nltk.download('wordnet')` puts it), then installs the Debian files into robustest's
    folder if they are there. Raises RobustestError saying how to install WordNet otherwise.
    """
    ours = _put_on_nltk_path(cache_dir)
    problems = []
    for paths in ([str(ours)], None):  # ours first, then NLTK's whole search path
        reader = _reader_from(paths, problems)
        if reader is not None:
            return reader

    if find_debian_wordnet() is not None:
        install_wordnet_from_debian(ours)
        reader = _reader_from([str(ours)], problems)
        if reader is not None:
            return reader

    detail = f" ({'; '.join(problems)})" if problems else ""
    raise RobustestError(f"WordNet is not available to NLTK{detail}; " + INSTALL_HINT)


def wordnet_digest(cache_dir: str | os.PathLike | None = None, memo_dir: str | os.PathLike | None = None) -> str | None:
    """The digest of the files of the WordNet `load_wordnet` reads, found the same way but not
    parsed (a table of its answers is keyed by it: perturb/synonym_cache.py); None when there is
    no WordNet where NLTK looks yet."""
    from ..fingerprints import digest_json, file_digest

    ours = _put_on_nltk_path(cache_dir)
    for paths in ([str(ours)], None):
        for location in _locations(paths, []):
            zipped = getattr(location, "zipfile", None)
            files = [Path(zipped.filename)] if zipped is not None else sorted(p for p in Path(location.path).iterdir() if p.is_file())
            return digest_json([[f.name, file_digest(f, memo_dir)] for f in files])
    return None


def _put_on_nltk_path(cache_dir) -> Path:
    """robustest's NLTK folder, first on NLTK's search path: NLTK only opens files under folders
    on nltk.data.path, and code using `nltk.corpus.wordnet` directly (e.g. textattack) finds our copy."""
    import nltk

    ours = nltk_data_dir(cache_dir)
    if str(ours) not in nltk.data.path:
        nltk.data.path.insert(0, str(ours))
    return ours


def _locations(paths, problems):
    """Where NLTK finds WordNet under `paths` (None: its whole search path): the same two names
    its lazy loader tries, a downloaded zip, then a folder. NLTK only warns about folders it
    refuses (e.g. group-writable ones): their reasons go to `problems`, for an error message."""
    import nltk

    for resource in ("corpora/wordnet.zip/wordnet/", "corpora/wordnet"):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                location = nltk.data.find(resource, paths=paths)
        except LookupError:
            continue
        finally:
            for w in caught:
                if issubclass(w.category, RuntimeWarning) and str(w.message) not in problems:
                    problems.append(str(w.message))
        yield location


def _reader_from(paths, problems):
    """A fresh WordNetCorpusReader for the first WordNet under `paths`, or None.

    We build the reader ourselves instead of using the lazy `nltk.corpus.wordnet`, so an
    earlier failed lookup there cannot affect us and each folder is parsed only once.
    """
    for location in _locations(paths, problems):
        key = str(location)
        if key not in _READERS:
            try:
                with warnings.catch_warnings():
                    # "multilingual functions are not available": we pass no OMW reader.
                    warnings.simplefilter("ignore")
                    _READERS[key] = english_wordnet_reader(location)
            except (OSError, ValueError, LookupError, AssertionError) as exc:
                problems.append(f"{key} is unusable: {exc}")
                continue
        return _READERS[key]
    return None


def english_wordnet_reader(location):
    """NLTK's WordNet reader without the multilingual (OMW) mapping we never use: its
    constructor maps every sense of WordNet 3.0 onto itself (index.sense read twice, more than
    half of its load time) because it compares the version "3.0" with the name "wordnet"."""
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class EnglishWordNet(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            return None

    return EnglishWordNet(location, None)


def _swap_in(new: Path, target: Path) -> None:
    """Rename `new` to `target`, replacing an existing folder."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        # Another process installed it in the meantime; theirs is as good as ours.
        if not (target / "lexnames").is_file():
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _make_private(folder: Path) -> None:
    mode = folder.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        try:
            folder.chmod(mode & ~(stat.S_IWGRP | stat.S_IWOTH))
        except OSError:
            pass  # not ours to change; NLTK will say why if it refuses the folder
