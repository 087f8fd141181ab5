"""The `robustest` command: set-up steps and a pytest-free evaluation.

    robustest setup wordnet       copy Debian's WordNet into robustest's NLTK folder
    robustest dataset default     build (once) the embedded default collection, print its folder
    robustest presets             list the paper's retriever presets
    robustest evaluate [options]  clean effectiveness of a retriever on a dataset
    robustest check [options] [--families LIST] [--poisoning]
                                  the shipped suites' gates without pytest (robustest.check):
                                  the same summary a pytest run prints; exit 1 when a gate fails
    robustest encode [options] [--workers N] [--ray-address ADDR]
                                  encode a corpus into the embedding cache the suites read,
                                  in this process or on Ray (N workers, GPU actors when present)
    robustest analyze RUN... [--out DIR] [--factor dataset|COLUMN --factor-file CSV] [--mteb-results DIR]
                                  marginal means, geometry and correlations over saved runs,
                                  CSV tables and a page of figures (DIR/figures.html); MTEB
                                  result files of every run
    robustest report RUN.json [--html OUT.html] [--per-query OUT.parquet] [--baseline BASE.json]
                                  an HTML report (tables, plots) of a saved run, and/or its
                                  per-query table (one row per family, seed and query)
    robustest report RUN... | DIR --html OUT.html
                                  a checkpoint series: several runs of one model as it trained
                                  (e.g. RobustnessEvaluator's), drop rates against the step
    robustest init [DIR]          copy the shipped suites into DIR (default: suites) to edit
    robustest convert SRC DST [--split S] [--fields KEY=COLUMN,...] [--force]
                                  write any dataset robustest reads (MTEB, save_to_disk,
                                  JSONL/CSV tables, mteb:<Task>, ...) as a BEIR folder

`evaluate` and `encode` take the same options as the pytest plugin (one Settings object), by the plugin's
names (`--robustest-dataset`) or without the prefix (`--dataset`): outside pytest nothing clashes.
User mistakes end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager

from .errors import RobustestError
from .settings import Settings, argparse_type, escaped_help, option_name, options, parse_dataset_fields, parse_positive_int, parse_table_path


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    for name, _, option in options():
        names = dict.fromkeys([option_name(name), "--" + name.replace("_", "-")])
        if option.flag:
            parser.add_argument(*names, dest=name, action="store_const", const=True, default=None, help=escaped_help(option.help))
        else:
            parser.add_argument(*names, dest=name, type=argparse_type(option.parse), default=None, metavar=option.metavar, help=escaped_help(option.help))


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (what is wrong, where the options are listed), not
    the whole usage block of the 40-odd evaluate options above it. Subcommands inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="robustest", description="Robustness tests for dense retrievers.")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("setup", help="prepare offline resources")
    setup.add_argument("resource", choices=["wordnet"])
    setup.add_argument("--cache-dir", default=None, help="robustest cache folder (its nltk_data/ receives WordNet)")
    data = commands.add_parser("dataset", help="build the embedded default collection")
    data.add_argument("which", choices=["default"])
    data.add_argument("--cache-dir", default=None)
    commands.add_parser("presets", help="list the retriever presets")
    evaluate = commands.add_parser("evaluate", help="clean effectiveness of a retriever on a dataset")
    add_setting_options(evaluate)
    check = commands.add_parser("check", help="the shipped suites' gates without pytest: clean effectiveness, one drop-rate gate per family, the baseline comparison")
    add_setting_options(check)
    check.add_argument("--families", default=None, metavar="LIST", help="comma-separated query families to gate (default: every one the shipped suites gate; 'none' for clean effectiveness only)")
    check.add_argument("--poisoning", action="store_true", help="also run the corpus-poisoning gates (minutes on a CPU)")
    encode = commands.add_parser("encode", help="encode a corpus into the embedding cache the suites read (in this process, or on Ray)")
    add_setting_options(encode)
    encode.add_argument("--workers", type=argparse_type(parse_positive_int), default=1, metavar="N", help="Ray workers, one model each (one GPU each when the cluster has GPUs); 1 (default) encodes in this process without Ray")
    encode.add_argument("--ray-address", default=None, metavar="ADDR", help="an existing Ray cluster to encode on (auto, or HOST:6379 from a node of the cluster); default: a local Ray started for this call")
    analyze = commands.add_parser("analyze", help="compare saved runs of several models and datasets (mixed models, geometry)")
    analyze.add_argument("runs", nargs="+", metavar="RUN", help="run files saved with --robustest-save")
    analyze.add_argument("--out", default="robustest-analysis", metavar="DIR", help="folder for the CSV tables, PNG plots and figures.html (default: robustest-analysis)")
    analyze.add_argument("--factor", default="dataset", metavar="dataset|COLUMN", help="what the models are compared across: dataset, or a column of --factor-file")
    analyze.add_argument("--factor-file", default=None, metavar="CSV", help="CSV with columns dataset, COLUMN and optionally query (e.g. query or task type)")
    analyze.add_argument("--mteb-results", default=None, metavar="DIR", help="also write each run's MTEB result files into DIR, as --robustest-mteb-results (one model folder per retriever)")
    report = commands.add_parser("report", help="write an HTML report or a per-query table of a run saved with --robustest-save")
    report.add_argument("run", nargs="+", metavar="RUN.json", help="a run saved with --robustest-save; several (or a folder of them): a checkpoint series")
    report.add_argument("--html", default=None, metavar="OUT.html", help="where to write the report")
    report.add_argument("--per-query", type=argparse_type(parse_table_path), default=None, metavar="OUT.parquet",
                        help="where to write one row per family, seed and query (.parquet or .csv), as --robustest-per-query")
    report.add_argument("--baseline", default=None, metavar="BASE.json", help="a saved run to show beside it")
    convert = commands.add_parser("convert", help="write a dataset in any form robustest reads as a BEIR folder")
    convert.add_argument("source", metavar="SRC", help="any --robustest-dataset value: a folder, mteb:<Task>, hf:<org>/<name>, irds:<id>")
    convert.add_argument("destination", metavar="DST", help="the BEIR folder to write (new or empty)")
    convert.add_argument("--split", default="test", metavar="S", help="the qrels split to convert (default: test)")
    convert.add_argument("--fields", type=argparse_type(parse_dataset_fields), default=None, metavar="KEY=COLUMN,...", help="which column holds what, as --robustest-dataset-fields")
    convert.add_argument("--force", action="store_true", help="replace a DST that is not empty")
    init = commands.add_parser("init", help="copy the shipped suites into a folder of your project, to edit")
    init.add_argument("folder", nargs="?", default="suites", metavar="DIR", help="where to copy them (default: suites)")
    init.add_argument("--force", action="store_true", help="overwrite suite files that are already there")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.command == "setup":
        from .data.wordnet import install_wordnet_from_debian, nltk_data_dir

        target = install_wordnet_from_debian(nltk_data_dir(args.cache_dir))
        print(f"WordNet installed in {target}")
    elif args.command == "dataset":
        from .data.default_collection import default_collection_path

        print(default_collection_path(args.cache_dir))
    elif args.command == "presets":
        from .retrievers.presets import PRESETS

        for p in PRESETS:
            c = p.config
            print(f"{p.name:24} {p.hf_id:42} {c.pooling:15} {c.similarity:6} query prompt {c.query_prompt!r}")
    elif args.command == "evaluate":
        return evaluate(settings_from(args))
    elif args.command == "check":
        return check(args)
    elif args.command == "encode":
        return encode(args)
    elif args.command == "convert":
        from .data.convert import convert

        dataset, dest = convert(args.source, args.destination, split=args.split, fields=args.fields, force=args.force)
        print(f"wrote {dest}: {len(dataset.doc_ids)} documents, {len(dataset.queries)} judged queries, qrels/{args.split}.tsv")
    elif args.command == "init":
        from .scaffold import copy_suites

        for path in copy_suites(args.folder, force=args.force):
            print(f"wrote {path}")
    elif args.command == "report":
        from .report import write_html
        from .runs import load_run as read_run
        from .series import run_paths

        if not (args.html or args.per_query):
            raise RobustestError("robustest report writes --html OUT.html, --per-query OUT.parquet or both; name at least one")
        paths = run_paths(args.run)
        if len(paths) > 1:  # a checkpoint series: drop rates against the training step
            from .series import write_series_html

            if args.per_query or args.baseline or not args.html:
                raise RobustestError(f"robustest report got {len(paths)} runs: a checkpoint series is one --html page; --per-query and --baseline take one run")
            print(f"checkpoint series of {len(paths)} runs written to {write_series_html([read_run(p) for p in paths], args.html)}")
            return 0
        run = read_run(paths[0])
        baseline = read_run(args.baseline) if args.baseline else None
        if args.html:
            print(f"HTML report written to {write_html(run, args.html, baseline)}")
        if args.per_query:
            from .per_query import write_per_query

            print(f"per-query table written to {write_per_query(run, args.per_query)}")
    elif args.command == "analyze":
        import warnings

        from .analyze import analyze_runs, write_mteb_results, write_outputs
        from .figures import PAGE
        from .mteb_results import check_results_folder

        if args.mteb_results:
            check_results_folder(args.mteb_results, "--mteb-results")  # before any work
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            analysis = analyze_runs(args.runs, factor=args.factor, factor_file=args.factor_file)
        print(analysis.text)
        written = write_outputs(analysis, args.out)
        print(f"\nwrote {len(written)} files to {args.out}")
        print(f"figures: {next(p for p in written if p.name == PAGE)} (every figure on one page)")
        if args.mteb_results:
            mteb_files = write_mteb_results(analysis, args.mteb_results)
            print(f"wrote {len(mteb_files)} MTEB result files to {args.mteb_results} (mteb.ResultCache({args.mteb_results!r}).load_results())")
        messages = analysis.warnings + [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        for message in dict.fromkeys(messages):
            print(f"robustest: warning: {message}", file=sys.stderr)
    return 0


# Gates that need the suites' perturbed queries: `evaluate` scores the clean queries only, so it
# refuses them rather than ignore them. What it does apply: --robustest-baseline/-compare-to (the
# clean comparison), --robustest-regression-tolerance, --robustest-inconclusive, --robustest-ci,
# --robustest-effectiveness-floor.
SUITE_ONLY = ("thresholds", "worst_case_thresholds", "update_baseline", "not_judged", "properties", "poison_threshold",
              "geometry_max_average_cosine", "geometry_min_isoscore")


def evaluate(settings: Settings) -> int:
    """`robustest evaluate`: clean effectiveness; against a reference also the clean comparison,
    and a floor when given. Exit 1 when a gate it applies fails, 2 on a user mistake."""
    from .engine.finished import FinishedRun
    from .engine.outputs import write_outputs, write_trec_outputs
    from .engine.summary import summary_lines
    from .settings import CI_PRESET, option_name

    from .families import family_configs
    from .family_config import merge_tables

    # A malformed value is the first thing to fix, before whether the option applies here.
    family_configs(merge_tables({}, settings.family_set or {}), seeds=settings.seeds, thresholds=settings.thresholds, worst_case_thresholds=settings.worst_case_thresholds)
    defaults = Settings()
    given = [n for n in SUITE_ONLY if getattr(settings, n) != getattr(defaults, n) and not (settings.ci and CI_PRESET.get(n) == getattr(settings, n))]
    if given:
        names = ", ".join(option_name(n) for n in given)
        raise RobustestError(
            f"robustest evaluate scores the clean queries only, so {names} would gate nothing here; "
            "run the suites for those gates (pytest --pyargs robustest.suites ...), or drop them"
        )
    session = announced_session(settings)
    with warnings_as_lines():
        session.prepare()
        for line in session.power_lines(families=()):
            print(line)
        session.clean_evaluation
        if session.reference is not None:
            session.checks.ensure_clean_regression()
    finished = FinishedRun.of(session)
    floor = settings.effectiveness_floor
    below = None
    if floor is not None:
        measure = floor[0] or session.measures[0]
        value = finished.effectiveness[measure]
        below = f"{measure} = {value:.4f} is below the floor {floor[1]} (--robustest-effectiveness-floor)" if value < floor[1] else None
    failed = finished.failed_outside_tests()
    finished.passed = not failed and below is None
    for line in summary_lines(finished):
        print(line)
    if below:
        print(f"FAILED: {below}")
    outputs = write_outputs(finished, passed=finished.passed) + write_trec_outputs(session)
    for line in outputs:
        print(line, file=sys.stderr if line.startswith("ERROR") else sys.stdout)
    if any(line.startswith("ERROR") for line in outputs):
        return 2
    return 0 if finished.passed else 1


def check(args: argparse.Namespace) -> int:
    """`robustest check`: robustest.check on the command line; exit 1 when the run is not PASSED
    outright under its settings (a failing gate, or with --robustest-ci an undecided one)."""
    from .checking import run_check

    families = None if args.families is None else [f.strip() for f in args.families.split(",") if f.strip() not in ("", "none")]
    with warnings_as_lines():
        report = run_check(settings_from(args), families=families, poisoning=args.poisoning)
    print(report)
    return 0 if report.passed else 1


def encode(args: argparse.Namespace) -> int:
    """`robustest encode`: where the entry is, rows x dimension, whether it was cached, wall time.
    A lexical retriever (bm25) has nothing to encode: it says so and exits 0."""
    from .cache import EmbeddingCache
    from .encode import NothingToEncode, encode_corpus, require_ray

    require_ray(args.workers, args.ray_address)  # before anything loads
    settings = settings_from(args)
    if settings.no_cache:
        raise RobustestError("robustest encode fills the embedding cache, which --robustest-no-cache turns off; drop --no-cache")
    session = announced_session(settings)
    with warnings_as_lines():
        try:
            result = encode_corpus(
                session.dataset, session.resolution, session.load_options, EmbeddingCache(session.cache_dir),
                workers=args.workers, ray_address=args.ray_address, load=lambda: session.retriever,
            )
        except NothingToEncode as exc:
            print(f"robustest: {exc}")
            return 0
    print(f"robustest: entry {result.path}")
    print(f"robustest: {result.rows:,} x {result.dimension} float32 vectors, {encode_summary(result)}")
    return 0


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.from_sources({name: getattr(args, name) for name, _, _ in options()}, {})


def announced_session(settings: Settings):
    """The session of `settings`, its header printed (what it will load)."""
    from .engine.session import RobustestSession
    from .engine.summary import header_lines

    session = RobustestSession(settings)
    for line in header_lines(session, guard=False):
        print(line)
    return session


@contextmanager
def warnings_as_lines():
    """A warning (a damaged cache entry rebuilt, an inconclusive gate) is one line on stderr, as
    in pytest's summary, even when the block fails."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)):
                print(f"robustest: warning: {message}", file=sys.stderr)


def encode_summary(result) -> str:
    from .progress import duration

    if result.cached:
        return f"already cached, nothing encoded ({duration(result.seconds)})"
    if result.ray_start_s is None:
        return f"encoded in {duration(result.seconds)} in this process"
    reused = f", {result.reused_shards} kept from an earlier run" if result.reused_shards else ""
    return f"encoded in {duration(result.seconds)} on {result.workers} Ray workers ({result.shards} shards{reused}; Ray start {duration(result.ray_start_s)})"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except RobustestError as exc:
        print(f"robustest: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
