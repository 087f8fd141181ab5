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
        # values that used to disable a gate without a word
        ("thresholds", "misspelling=20", "looks like a percentage: write 0.20"),
        ("thresholds", "misspelling=-0.1", "must be a share in (0, 1]"),
        ("thresholds", "misspelling=true", "not a number"),
        ("poison_threshold", "30", "looks like a percentage: write 0.30"),
        ("regression_tolerance", "5", "looks like a percentage: write 0.05 or 5%"),
        ("effectiveness_floor", "nDCG@10:30", "looks like a percentage"),
        ("seeds", "1999,5,1999", "seed 1999 given twice"),
        ("poison_seeds", "5,5", "seed 5 given twice"),
        ("geometry_max_average_cosine", "2", "not a cosine in [-1, 1]"),
        ("geometry_min_isoscore", "-0.5", "not an IsoScore in [0, 1]"),
        ("index", "annoy", "not an index kind; use flat (exact, the default), ivf or hnsw"),
        ("index", "hnsw:efSearch=0", "efSearch must be at least 1"),
        ("index_shards", "0", "must be at least 1"),
        ("faiss_gpu", "maybe", "not true/false"),
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
    assert parser("index")("IVF:nprobe=32") == "ivf:nprobe=32"
    assert parser("faiss_gpu")("auto") is None and parser("faiss_gpu")("no") is False


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


def test_pyproject_values_are_type_checked():
    from robustest.families import family_configs

    cases = [
        ({"seeds": "1999"}, "'1999' is not a list; write seeds = [1999, 5, 27]"),  # was read as seeds 1, 9, 9, 9
        ({"seeds": [1999, 1999]}, "given twice"),
        ({"threshold": True}, "True is not a number"),  # was read as 1.0
        ({"misspelling": {"threshold": 20}}, "20 looks like a percentage: write 0.20"),  # was 2000%
        ({"misspelling": {"threshold": -1}}, "must be a share in (0, 1]"),
        ({"reordering": {"k": 2.5}}, "not a whole number"),
        ({"min_queries": 0}, "must be at least 1"),
        ({"confidence": 95}, "must be between 0 and 1"),
        ({"case": {"measure": 10}}, "not a measure name"),
    ]
    for table, message in cases:
        with pytest.raises(RobustestError) as info:
            family_configs(table)
        assert message in str(info.value), str(info.value)


def test_a_family_measure_or_k_deeper_than_top_k_is_refused():
    with pytest.raises(RobustestError, match="top-k=5 retrieves fewer documents than nDCG@10, R@100, RR@10 scores; raise it to --robustest-top-k=100"):
        Settings.from_sources({"top_k": 5}, {})  # nDCG@10 would be scored on 5 documents
    from robustest.engine.session import RobustestSession

    with pytest.raises(RobustestError, match="misspelling needs the top 50 documents .* raise --robustest-top-k to 50"):
        RobustestSession(Settings(top_k=20, measures=("nDCG@10",)), {"misspelling": {"k": 50}})


def test_output_paths_are_checked_and_their_folders_made_before_any_work(tmp_path):
    from robustest.settings import check_output_paths

    nested = tmp_path / "runs" / "2026" / "run.json"
    check_output_paths(Settings(save=str(nested), html=str(tmp_path / "reports" / "r.html")))
    assert nested.parent.is_dir() and (tmp_path / "reports").is_dir() and not nested.exists()
    with pytest.raises(RobustestError, match="is a folder; name a file in it"):
        check_output_paths(Settings(html=str(tmp_path)))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RobustestError, match="cannot create its folder"):
        check_output_paths(Settings(trec_run=str(blocker / "run.trec")))


@pytest.mark.parametrize("option,message", [
    ("--robustest-faiss-gpu", "--robustest-faiss-gpu needs a FAISS GPU build and a GPU"),
    ("--robustest-device=cuda", "asked for CUDA, but torch sees no GPU"),
])
def test_hardware_is_checked_before_anything_is_encoded(pytester, small_cranfield, tmp_path, option, message):
    import torch

    if option.endswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --robustest-device=cuda is valid here")
    pytester.makepyfile("def test_x(corpus_index):\n    corpus_index.searcher\n")
    result = pytester.runpytest_subprocess(
        option, f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={tmp_path / 'cache'}", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *{message}*"])
    output = result.stdout.str() + result.stderr.str()
    assert "encoding" not in output and "Traceback" not in output
    assert not (tmp_path / "cache" / "embeddings").exists() or not any((tmp_path / "cache" / "embeddings").iterdir())


def test_the_ci_preset_makes_undecided_gates_fail_and_refuses_a_contrary_setting():
    ci = Settings.from_sources({"ci": True}, {})
    assert (ci.inconclusive, ci.not_judged) == ("fail", "fail")
    assert (Settings().inconclusive, Settings().not_judged) == ("pass", "skip")
    assert Settings.from_sources({"ci": True, "inconclusive": "fail"}, {}).inconclusive == "fail"
    with pytest.raises(RobustestError, match="--robustest-ci makes --robustest-inconclusive=fail; drop --robustest-inconclusive=pass"):
        Settings.from_sources({"ci": True, "inconclusive": "pass"}, {})
    with pytest.raises(RobustestError, match="--robustest-not-judged=skip"):
        Settings.from_sources({"not_judged": "skip"}, {"ci": "true"})  # the preset from an ini file, the option on the command line
