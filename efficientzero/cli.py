"""The ``efficientzero`` command: one table of subcommands (``COMMANDS``), each a parser and a
handler over the Python API (``efficientzero.api``).

Command-level flags are parsed here; everything else on a ``train`` or ``config`` line is a
Config field override parsed by tyro (``--num-simulations 25``, ``--use-consistency False``),
applied on top of the chosen preset, then validated.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from efficientzero.config import Config, ConfigError
from efficientzero.presets import PRESETS, make_preset


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def _tyro_markers() -> tuple:
    import tyro

    # Booleans take explicit values (--use-consistency False), like every other field.
    return (tyro.conf.FlagConversionOff,)


def _parse_overrides(base: Config, overrides: list[str], prog: str) -> Config:
    import tyro

    return tyro.cli(
        Config,
        default=base,
        args=overrides,
        prog=prog,
        description="Config field overrides",
        config=_tyro_markers(),
    )


def _preset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default=None,
        help=f"one of {', '.join(sorted(PRESETS))} (default: picked by --env: atari100k for "
        "Atari games, minatar for MinAtar games and other image observations, cartpole for "
        "vector observations and when no --env is given)",
    )
    parser.add_argument(
        "--env",
        default=None,
        help="environment id, or an Atari or MinAtar game name (default: the preset's)",
    )
    parser.add_argument(
        "--env-steps",
        type=int,
        default=None,
        help="total_env_steps (agent steps of experience); total_updates scales with it "
        "unless --total-updates is given",
    )
    parser.add_argument(
        "-h", "--help", action="store_true", help="show this help and every config field"
    )


def _with_env_steps(config: Config, env_steps: int | None, overrides: list[str]) -> Config:
    """``--env-steps N``: total_env_steps N, and total_updates in proportion unless given."""
    if env_steps is None:
        return config
    given = any(a.split("=")[0] in ("--total-updates", "--total_updates") for a in overrides)
    return config.with_env_steps(env_steps, config.total_updates if given else None)


def resolve_config(args: argparse.Namespace, overrides: list[str], prog: str) -> Config:
    """The preset for ``--preset/--env`` with ``--env-steps`` and ``overrides``, validated."""
    base = make_preset(args.preset, args.env)
    if args.help:
        overrides = ["--help"]
    config = _parse_overrides(base, overrides, prog)
    return _with_env_steps(config, args.env_steps, overrides).validate()


# ---------------------------------------------------------------------------------- commands


def _train_parser(parser: argparse.ArgumentParser) -> None:
    _preset_arguments(parser)
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="run directory (default: runs/<preset>-<env>-s<seed>-<time>)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run-dir from its last checkpoint",
    )
    parser.add_argument("--no-progress", action="store_true", help="no live progress line")


def cmd_train(args: argparse.Namespace, rest: list[str]) -> int:
    from efficientzero.api import train
    from efficientzero.run.directory import RunDirectory

    if args.help:
        args.parser.print_help()
        print()
    if args.resume:
        if args.run_dir is None:
            raise UsageError("--resume needs --run-dir DIR (the run to continue)")
        saved = RunDirectory(args.run_dir).saved_config()
        requested = _parse_overrides(saved, rest, "efficientzero train --resume")
        config = _with_env_steps(requested, args.env_steps, rest)
    else:
        config = resolve_config(args, rest, "efficientzero train")
    result = train(config, args.run_dir, resume=args.resume, progress=not args.no_progress)
    print(json.dumps({"run_dir": str(result.run_dir), **result.record}))
    return 0


def _config_parser(parser: argparse.ArgumentParser) -> None:
    _preset_arguments(parser)


def cmd_config(args: argparse.Namespace, rest: list[str]) -> int:
    if args.help:
        args.parser.print_help()
        print()
    print(resolve_config(args, rest, "efficientzero config").to_json())
    return 0


def _eval_parser(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--run-dir", type=Path, help="a finished run directory (uses checkpoints/final.pt)"
    )
    source.add_argument("--checkpoint", type=Path, help="a checkpoint file")
    parser.add_argument(
        "--episodes", type=int, default=None, help="episodes (default: the config's eval_episodes)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="environment seeds are seed .. seed+episodes-1 (default 0)",
    )
    parser.add_argument(
        "--video", type=Path, default=None, help="record the first episode to this .mp4 file"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="summary JSON path (default: <run-dir>/eval.json or next to the checkpoint)",
    )
    parser.add_argument("--device", default="auto", help="torch device (default: auto)")
    parser.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: the run's num_threads; 0: torch's default)",
    )
    parser.add_argument(
        "--num-simulations",
        type=int,
        default=None,
        help="simulations per search (default: the run's eval_num_simulations, else its "
        "num_simulations)",
    )
    parser.add_argument(
        "--pb-c-init",
        type=float,
        default=None,
        help="pUCT exploration constant of the searches (default: the run's eval_pb_c_init, "
        "else its pb_c_init)",
    )


def cmd_eval(args: argparse.Namespace, rest: list[str]) -> int:
    from efficientzero.api import evaluate

    summary = evaluate(
        args.run_dir if args.run_dir is not None else args.checkpoint,
        episodes=args.episodes,
        seed=args.seed,
        video=args.video,
        out=args.out,
        device=args.device,
        num_threads=args.num_threads,
        num_simulations=args.num_simulations,
        pb_c_init=args.pb_c_init,
    )
    print(json.dumps(summary))
    return 0


def _bench_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what", choices=["search"], help="search: batched MCTS with a constant-cost fake model"
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256, 1536])
    parser.add_argument("--actions", type=int, nargs="+", default=[4, 18])
    parser.add_argument("--simulations", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--search-threads", type=int, default=1, help="numba threads of the tree kernels"
    )
    parser.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="device searches: each simulation as one captured CUDA graph (search/graph.py)",
    )
    parser.add_argument(
        "--states",
        nargs="+",
        default=["none", "small", "atari"],
        choices=["none", "small", "atari"],
        help="embedding sizes: none (no latent or LSTM state: the tree's own cost), small "
        "(64-float latent and LSTM) and atari (64x6x6 latent, 2x512 LSTM: the EfficientZero "
        "network's)",
    )


def cmd_bench(args: argparse.Namespace, rest: list[str]) -> int:
    from efficientzero.bench import bench_search

    result = bench_search(
        batches=tuple(args.batches),
        actions=tuple(args.actions),
        simulations=args.simulations,
        repeats=args.repeats,
        device=args.device,
        states=tuple(args.states),
        threads=args.search_threads,
        graphs=args.cuda_graphs,
    )
    print(json.dumps(result, indent=2))
    return 0


def _report_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs", type=Path, nargs="+", help="run directories (or folders holding them)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("report"), help="output directory (default: report)"
    )
    parser.add_argument("--format", choices=["md", "html", "both"], default="both")
    parser.add_argument("--bootstrap-reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")


def cmd_report(args: argparse.Namespace, rest: list[str]) -> int:
    from efficientzero.report import report_command

    return report_command(args.run_dirs, args.out, args.format, args.bootstrap_reps, args.seed)


@dataclass(frozen=True)
class Command:
    summary: str
    """One line for ``efficientzero --help``."""
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace, list[str]], int]
    config_overrides: bool = False
    """Unknown arguments are Config field overrides (train, config); else they are errors."""


COMMANDS: dict[str, Command] = {
    "train": Command(
        "train an agent (CartPole-v1 by default; --preset atari100k --env Breakout)",
        _train_parser,
        cmd_train,
        config_overrides=True,
    ),
    "eval": Command("evaluate a run's final weights or a checkpoint", _eval_parser, cmd_eval),
    "config": Command(
        "print the resolved config as JSON", _config_parser, cmd_config, config_overrides=True
    ),
    "bench": Command("benchmarks, JSON on stdout (bench search)", _bench_parser, cmd_bench),
    "report": Command(
        "score tables, aggregates and plots over finished runs", _report_parser, cmd_report
    ),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    return (
        f"usage: efficientzero {{{','.join(COMMANDS)}}} ...\n\n"
        + "\n".join(lines)
        + "\n\nRun `efficientzero <command> --help` for details."
    )


def _parser(name: str, command: Command) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"efficientzero {name}",
        description=command.summary[0].upper() + command.summary[1:] + ".",
        allow_abbrev=False,
        add_help=not command.config_overrides,  # their --help also lists the config fields
    )
    command.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"efficientzero: error: unknown command {name!r} (choose from {', '.join(COMMANDS)})",
            file=sys.stderr,
        )
        return 2
    from efficientzero.checkpoint import CheckpointError
    from efficientzero.run.directory import RunDirectoryError

    command = COMMANDS[name]
    parser = _parser(name, command)
    try:
        if command.config_overrides:
            args, extra = parser.parse_known_args(rest)
        else:
            args, extra = parser.parse_args(rest), []
        args.parser = parser
        return command.handler(args, extra)
    except (ConfigError, CheckpointError, RunDirectoryError, UsageError) as error:
        print(f"efficientzero {name}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"efficientzero {name}: interrupted (the last checkpoint was saved)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
