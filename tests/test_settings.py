"""Settings: parsed at the door, command line over ini over default."""

import pytest

from robustest.errors import RobustestError
from robustest.settings import BY_NAME, SETTINGS, resolve_settings


def test_command_line_beats_ini_beats_default():
    values = resolve_settings({"batch_size": 8}, {"batch_size": "16", "max_queries": "5", "no_cache": "true"})
    assert values["batch_size"] == 8 and values["max_queries"] == 5 and values["no_cache"] is True
    assert values["retriever"] == "default" and values["top_k"] == 1000


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
        resolve_settings({}, {name: raw})
    assert BY_NAME[name].ini_key in str(info.value) and message in str(info.value)


def test_parsers_accept_what_the_help_promises():
    assert BY_NAME["measures"].parse("nDCG@10, R@100") == ("nDCG@10", "R@100")
    assert BY_NAME["effectiveness_floor"].parse("0.3") == ("", 0.3)
    assert BY_NAME["effectiveness_floor"].parse("nDCG@10:0.3") == ("nDCG@10", 0.3)
    assert BY_NAME["exclude_self_matches"].parse("auto") is None
    assert BY_NAME["exclude_self_matches"].parse("no") is False
    assert BY_NAME["device"].parse("cuda:1") == "cuda:1"


def test_option_and_ini_names():
    assert {s.option for s in SETTINGS} >= {"--retriever", "--dataset", "--split", "--device", "--batch-size", "--cache-dir", "--max-queries", "--no-cache", "--robustest-save"}
    assert BY_NAME["robustest_save"].ini_key == "robustest_save"
    assert BY_NAME["batch_size"].ini_key == "robustest_batch_size"
