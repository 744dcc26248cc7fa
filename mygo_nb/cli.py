"""Command line: ``python -m mygo_nb run ...`` (introduced in the README and chapter 6)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .config import EVAL_SPLITS, NETS, PROFILES, with_options
from .core.scenarios import SCENARIOS
from .data import Benchmark, benchmark_entry, benchmark_names, check_scenario
from .errors import ConfigError, DataError
from .learners import check_method, entries, methods, variants
from .reproduce.cli import add_arguments as sweep_arguments
from .reproduce.cli import add_plugin_argument, preload_plugins
from .reproduce.cli import run_cli as sweep_cli
from .running.experiment import load_for_profile, profile_split, resolve_device, run, run_experiment
from .running.paper import PAPER_METHODS, paper_comparison

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _check_writable(path: Path) -> None:
    """Fail before any training if ``path``'s folder cannot be created or written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".mygo-write-test-"):
            pass
    except OSError as e:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else (e.strerror or str(e))
        raise ConfigError(f"cannot write the output {path} ({why}); choose another --out") from None
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file name such as {path / 'result.json'}")


def _checkpoint_dir(args: argparse.Namespace) -> Path | None:
    """``--checkpoint-dir``, else ``OUT.ckpt/`` beside ``--out``, else none; checked for writing."""
    if args.no_checkpoint:
        if args.resume or args.checkpoint_dir:
            raise ConfigError("--no-checkpoint contradicts --resume / --checkpoint-dir; drop one of them")
        return None
    if args.checkpoint_dir:
        folder = Path(args.checkpoint_dir)
    elif args.out:
        folder = Path(args.out).with_suffix(".ckpt")
    elif args.resume:
        raise ConfigError("--resume needs --out or --checkpoint-dir to find the checkpoint")
    else:
        return None
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"checkpoint folder {folder} is a file; choose another --checkpoint-dir")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".mygo-write-test-"):
            pass
    except OSError as e:
        raise ConfigError(f"cannot write checkpoints into {folder} ({e.strerror or e}); "
                          "choose another --checkpoint-dir or pass --no-checkpoint") from None
    return folder


def _key_values(pairs: list[str], flag: str, example: str) -> dict[str, str]:
    """``KEY=VALUE`` strings (a repeatable flag) as a mapping; a malformed one is a one-line error."""
    options = {}
    for opt in pairs:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {opt}: expected KEY=VALUE, e.g. {flag} {example}")
        options[key.strip()] = value.strip()
    return options


def _train_options(args: argparse.Namespace) -> dict[str, str]:
    """``--train`` options, with ``--net NET`` as ``net=NET`` (given both ways, they must agree)."""
    options = _key_values(args.train_options, "--train", "lr_slow=3e-4")
    if args.net is not None:
        if options.get("net", args.net) != args.net:
            raise ConfigError(f"--net {args.net} and --train net={options['net']} disagree; give one of them")
        options["net"] = args.net
    return options


def _scenario(args: argparse.Namespace) -> str:
    """``--scenario``, else the benchmark's default one."""
    return check_scenario(benchmark_entry(args.benchmark), args.scenario)


def benchmarks_table() -> str:
    """Every registered benchmark: its modality, tasks, scenarios (default first) and parameters."""
    lines = []
    for name in benchmark_names():
        e = benchmark_entry(name)
        scen = [e.default_scenario, *(s for s in e.scenarios if s != e.default_scenario)]
        params = ", ".join(f"{k}={v!r}" for k, v in e.params.items()) or "(no parameters)"
        most = f", at most {e.max_tasks}" if e.max_tasks else ""
        lines.append(f"{name:16s} {e.modality:6s} {e.tasks} tasks{most}; scenarios {','.join(scen)}; "
                     f"net {e.net}\n{'':17s}{e.summary}\n{'':17s}parameters: {params}")
    return "\n".join(lines)


def _method_config(args: argparse.Namespace) -> object | None:
    """The method's config with ``--set`` options applied (None without options: the variant's own)."""
    if not args.options:
        return None
    entry = check_method(args.method, args.variant, _scenario(args))
    return with_options(entry.config, _key_values(args.options, "--set", "lam=5000"))


def methods_table() -> str:
    """Every registered method and variant: its scenarios, what it is, and its config's options."""
    lines = []
    for entry in entries():
        fields = dataclasses.asdict(entry.config)
        opts = ", ".join(f"{k}={v!r}" for k, v in fields.items()) or "(no options)"
        lines.append(f"{entry.label:26s} {','.join(entry.scenarios):18s} {entry.summary}\n{'':46s}options: {opts}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mygo_nb", description="MyGO lifelong learning: reproduce the paper and its baselines.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run one method on one benchmark and write a JSON record")
    r.add_argument("--benchmark", choices=benchmark_names(), default="split-mnist",
                   help="`python -m mygo_nb benchmarks` lists each one's tasks, scenarios and parameters")
    r.add_argument("--tasks", type=int, default=None,
                   help="number of tasks (default: the benchmark's; e.g. --benchmark permuted-mnist --tasks 20)")
    r.add_argument("--bench", action="append", default=[], metavar="KEY=VALUE", dest="benchmark_options",
                   help="set one of the benchmark's parameters (repeatable), e.g. --bench seed=7")
    r.add_argument("--method", choices=methods(), default="mygo")
    r.add_argument("--variant", choices=list(dict.fromkeys(v for m in methods() for v in variants(m))), default=None,
                   help="the method's variant, e.g. mygo: reference (default), paper, consolidate[-option]; "
                        "`python -m mygo_nb methods` lists each method's")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="options",
                   help="set one option of the method's config (repeatable), e.g. --method ewc --set lam=5000; "
                        "`python -m mygo_nb methods` lists every method's options")
    r.add_argument("--train", action="append", default=[], metavar="KEY=VALUE", dest="train_options",
                   help="set one field of the profile's training config (repeatable), e.g. --train lr_slow=3e-4")
    r.add_argument("--net", choices=NETS, default=None,
                   help="the Neocortex Net's extractor, short for --train net=NET: paper (the paper's), mlp400 "
                        "or mlp1000 (van de Ven et al.'s Split- and permuted-MNIST nets, images) or minilm (the "
                        "pretrained all-MiniLM-L6-v2 with LoRA "
                        "adapters, text; its tokenizer makes the token ids); default: the profile's")
    r.add_argument("--scenario", choices=SCENARIOS, default=None,
                   help="task (the paper's, task identity at test), domain (one shared head) or class "
                        "(one growing head over all classes, no task identity); default: the benchmark's "
                        "(split-mnist: task)")
    r.add_argument("--profile", choices=tuple(PROFILES), default="paper")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="auto", help="auto, cpu or cuda")
    r.add_argument("--data-root", default=None, help="data folder (default: $MYGO_DATA, else a user cache)")
    r.add_argument("--eval-on", choices=EVAL_SPLITS, default="test",
                   help="evaluate on the test split (default; the paper says it used the test sets), the training "
                        "subsets (train: the reference code's protocol) or a validation part held out of the "
                        "training data (val: for choosing hyper-parameters)")
    r.add_argument("--out", default=None, help="write the JSON record here")
    r.add_argument("--checkpoint-dir", default=None,
                   help="save the run's state here after every task (default with --out: OUT's name + .ckpt/)")
    r.add_argument("--no-checkpoint", action="store_true", help="do not write checkpoints")
    r.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its newest checkpoint (same options and seed)")
    r.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms (on a GPU: two runs of one seed give the same numbers; slower)")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_plugin_argument(r)

    t = sub.add_parser("paper-table", help="reproduce the paper's Tables 1-2 (reference semantics, evaluated "
                                            "on the training subsets: the reference code's protocol) beside its "
                                            "numbers")
    t.add_argument("--benchmark", choices=("split-mnist", "split-agnews"), default="split-mnist")
    t.add_argument("--seeds", type=int, nargs="+", default=[0])
    t.add_argument("--profile", choices=tuple(PROFILES), default="paper")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--data-root", default=None, help="data folder (default: $MYGO_DATA, else a user cache)")
    t.add_argument("--out-dir", default=None, help="also write one JSON record per run here")
    t.add_argument("--no-progress", action="store_true", help="hide progress bars")

    sub.add_parser("benchmarks", help="list the registered benchmarks, their tasks, scenarios and parameters")
    add_plugin_argument(sub.add_parser("methods", help="list the registered methods, their variants, scenarios and "
                                       "options"))
    sweep_arguments(sub.add_parser("reproduce", help="batch reproduction: papermill sweeps of presets or spec files, "
                                   "locally or on Dask (also: mygo-reproduce)"))
    return p


def _paper_table(args: argparse.Namespace) -> None:
    prof = PROFILES[args.profile]
    if args.out_dir:
        _check_writable(Path(args.out_dir) / "probe.json")
    device = resolve_device(args.device)
    benches: dict[object, Benchmark] = {}  # one load per task split
    results = []
    for method, variant in PAPER_METHODS.values():
        for seed in args.seeds:
            split = profile_split(prof, args.benchmark, seed)
            if split not in benches:
                benches[split] = load_for_profile(args.benchmark, args.data_root, prof, seed, device)
            bench = benches[split]
            r = run(bench, method, variant, prof, seed=seed, eval_on="train", progress=not args.no_progress)
            print(r.summary(), flush=True)
            if args.out_dir:
                r.save(Path(args.out_dir) / f"{args.benchmark}_{r.label.replace('/', '-')}_seed{seed}.json")
            results.append(r)
    print()
    table = paper_comparison(results, args.benchmark)
    print(table)
    if args.out_dir:
        path = Path(args.out_dir) / f"{args.benchmark}_paper_table.md"
        path.write_text(paper_table_markdown(table, args.benchmark, args.seeds), encoding="utf-8")
        print(f"wrote {os.path.relpath(path)}")


def paper_table_markdown(table: str, benchmark: str, seeds: Sequence[int]) -> str:
    """The ``paper-table`` output as a Markdown page (a level-1 title, the command, the tables)."""
    seed_args = " ".join(str(s) for s in seeds)
    return (f"# {benchmark}: the paper's Tables 1-2, reproduced (training-subset evaluation, seeds {seed_args})\n\n"
            f"Produced by `python -m mygo_nb paper-table --benchmark {benchmark} --seeds {seed_args} "
            f"--out-dir DIR` (paper profile).\n\n{table}\n")


def main(argv: Sequence[str] | None = None) -> int:
    prog = "mygo_nb"
    try:
        preload_plugins(argv if argv is not None else sys.argv[1:])
        parser = build_parser()  # lists the methods: loads the plugins of MYGO_PLUGINS
    except ConfigError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            if args.out:
                _check_writable(Path(args.out))
            ckpt = _checkpoint_dir(args)
            config = _method_config(args)
            result = run_experiment(args.benchmark, args.method, args.variant, args.profile, seed=args.seed,
                                    device=args.device, data_root=args.data_root, eval_on=args.eval_on,
                                    progress=not args.no_progress, out=args.out, checkpoint_dir=ckpt,
                                    resume=args.resume, scenario=_scenario(args), config=config,
                                    deterministic=args.deterministic,
                                    train_options=_train_options(args),
                                    tasks=args.tasks,
                                    benchmark_options=_key_values(args.benchmark_options, "--bench", "seed=7"))
            print(result.summary())
            if args.out:
                print(f"wrote {os.path.relpath(args.out)}")
        elif args.command == "paper-table":
            _paper_table(args)
        elif args.command == "benchmarks":
            print(benchmarks_table())
        elif args.command == "methods":
            print(methods_table())
        elif args.command == "reproduce":
            return sweep_cli(args)
    except (ConfigError, DataError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    return 0
