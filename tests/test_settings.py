"""Settings: one frozen object, parsed at the door, command line over ini over default."""

from dataclasses import fields

import pytest

from robustest.errors import RobustestError
from robustest.settings import Settings, escaped_help, ini_key, option_name, options


def test_command_line_beats_ini_beats_default():
    s = Settings.from_sources({"batch_size": 8}, {"batch_size": "16", "max_queries": "5", "no_cache": "true"})
    assert s.batch_size == 8 and s.max_queries == 5 and s.no_cache is True
    assert s.retriever == "default" and s.top_k == 1000
    with pytest.raises(AttributeError):
        s.batch_size = 4  # frozen: a run's settings never change under it


def parser(name):
    return next(option.parse for n, _, option in options() if n == name)


@pytest.mark.parametrize(
    "name,raw,message",
    [
        ("batch_size", "0", "must be at least 1"),
        ("batch_size", "many", "not a whole number"),
        ("device", "gpu", "not a device"),
        ("dtype", "int8", "not one of"),
        ("no_cache", "maybe", "not true/false"),
        ("measures", "nDCG@ten", "not an ir-measures measure"),
        ("effectiveness_floor", "high", "MEASURE:NUMBER"),
    ],
)
def test_bad_ini_values_name_the_key(name, raw, message):
    with pytest.raises(RobustestError) as info:
        Settings.from_sources({}, {name: raw})
    assert ini_key(name) in str(info.value) and message in str(info.value)


def test_parsers_accept_what_the_help_promises():
    assert parser("measures")("nDCG@10, R@100") == ("nDCG@10", "R@100")
    assert parser("effectiveness_floor")("0.3") == ("", 0.3)
    assert parser("effectiveness_floor")("nDCG@10:0.3") == ("nDCG@10", 0.3)
    assert parser("exclude_self_matches")("auto") is None
    assert parser("exclude_self_matches")("no") is False
    assert parser("device")("cuda:1") == "cuda:1"


def test_every_option_is_prefixed_but_retriever():
    names = {option_name(f.name) for f in fields(Settings)}
    assert "--retriever" in names
    assert all(n.startswith("--robustest-") for n in names - {"--retriever"}), sorted(names)
    assert {"--robustest-dataset", "--robustest-device", "--robustest-seeds", "--robustest-baseline", "--robustest-save", "--robustest-html"} <= names
    assert ini_key("save") == "robustest_save" and ini_key("batch_size") == "robustest_batch_size"


def test_help_texts_survive_argparse_formatting():
    """A bare % in a help text made `pytest --help` crash in every project."""
    assert escaped_help("2% or 0.02") == "2%% or 0.02"
    assert any("%" in option.help for _, _, option in options())  # the case that crashed


def test_combinations_are_checked():
    with pytest.raises(RobustestError, match="add it to --robustest-measures"):
        Settings.from_sources({"effectiveness_floor": ("nDCG@100", 0.3)}, {})
    with pytest.raises(RobustestError, match="--robustest-baseline and --robustest-compare-to"):
        Settings.from_sources({"baseline": "a.json", "compare_to": "bm25"}, {})
