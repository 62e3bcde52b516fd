"""The ``efficientzero`` command: train | eval | config | bench | report.

Command-level flags are parsed here; everything else on a ``train`` or ``config`` line is a
Config field override parsed by tyro (``--num-simulations 25``, ``--use-consistency False``),
applied on top of the chosen preset, then validated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from efficientzero.config import PRESETS, Config, ConfigError, make_preset

COMMANDS = ("train", "eval", "config", "bench", "report")


def _tyro_markers() -> tuple:
    import tyro

    # Booleans take explicit values (--use-consistency False), like every other field.
    return (tyro.conf.FlagConversionOff,)


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def _preset_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description, allow_abbrev=False, add_help=False
    )
    parser.add_argument(
        "--preset",
        default="cartpole",
        help=f"one of {', '.join(sorted(PRESETS))} (default: cartpole)",
    )
    parser.add_argument(
        "--env", default=None, help="environment id or Atari game name (default: the preset's)"
    )
    parser.add_argument(
        "--env-steps", type=int, default=None, help="total_env_steps (agent steps of experience)"
    )
    parser.add_argument(
        "-h", "--help", action="store_true", help="show this help and every config field"
    )
    return parser


def resolve_config(args: argparse.Namespace, overrides: list[str], prog: str) -> Config:
    """The preset for ``--preset/--env`` with ``overrides`` applied, validated."""
    import tyro

    base = make_preset(args.preset, args.env)
    if getattr(args, "env_steps", None) is not None:
        base = base.replace(total_env_steps=args.env_steps)
    if args.help:
        overrides = ["--help"]
    config = tyro.cli(
        Config,
        default=base,
        args=overrides,
        prog=prog,
        description="Config field overrides",
        config=_tyro_markers(),
    )
    return config.validate()


# ---------------------------------------------------------------------------------- commands


def cmd_train(argv: list[str]) -> int:
    from efficientzero.run.common import RunDirectory, default_run_dir

    parser = _preset_parser("efficientzero train", "Train EfficientZero (CartPole-v1 by default).")
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
    args, rest = parser.parse_known_args(argv)
    if args.help:
        parser.print_help()
        print()
    if args.resume:
        if args.run_dir is None:
            raise UsageError("--resume needs --run-dir DIR (the run to continue)")
        return _resume(args, rest)
    config = resolve_config(args, rest, "efficientzero train")
    from efficientzero.envs import env_spec

    env_spec(config)  # unknown or unsuitable environments fail before anything is written
    run_dir = RunDirectory(args.run_dir or default_run_dir(config))
    run_dir.create(config)
    return _train(config, run_dir, resume=False, progress=not args.no_progress)


def _resume(args: argparse.Namespace, rest: list[str]) -> int:
    import tyro

    from efficientzero.checkpoint import check_compatible
    from efficientzero.run.common import RunDirectory, RunDirectoryError

    run_dir = RunDirectory(args.run_dir)
    saved = run_dir.saved_config()
    if not run_dir.latest.is_file():
        raise RunDirectoryError(
            f"{run_dir.path} has no checkpoint to resume from ({run_dir.latest} is missing)"
        )
    requested = tyro.cli(
        Config,
        default=saved,
        args=rest,
        prog="efficientzero train --resume",
        config=_tyro_markers(),
    )
    if args.env_steps is not None:
        requested = requested.replace(total_env_steps=args.env_steps)
    check_compatible(saved, requested.validate(), f"run {run_dir.path}")
    if requested != saved:
        run_dir.config_path.write_text(requested.to_json() + "\n")
    return _train(requested, run_dir, resume=True, progress=not args.no_progress)


def _train(config: Config, run_dir, *, resume: bool, progress: bool) -> int:
    if config.runtime == "ray":
        from efficientzero.run.ray import train_ray

        record = train_ray(config, run_dir, resume=resume, progress=progress)
    else:
        from efficientzero.run.local import train_local

        record = train_local(config, run_dir, resume=resume, progress=progress)
    print(json.dumps({"run_dir": str(run_dir.path), **record}))
    return 0


def cmd_config(argv: list[str]) -> int:
    parser = _preset_parser("efficientzero config", "Print the resolved config as JSON.")
    args, rest = parser.parse_known_args(argv)
    if args.help:
        parser.print_help()
        print()
    print(resolve_config(args, rest, "efficientzero config").to_json())
    return 0


def cmd_eval(argv: list[str]) -> int:
    from efficientzero.run.evaluation import eval_command

    parser = argparse.ArgumentParser(
        prog="efficientzero eval",
        description="Evaluate a run's final weights (or any checkpoint).",
        allow_abbrev=False,
    )
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
    args = parser.parse_args(argv)
    return eval_command(
        args.run_dir,
        args.checkpoint,
        episodes=args.episodes,
        seed=args.seed,
        video=args.video,
        out=args.out,
        device=args.device,
    )


def cmd_bench(argv: list[str]) -> int:
    from efficientzero.bench import bench_search

    parser = argparse.ArgumentParser(
        prog="efficientzero bench", description="Benchmarks (JSON on stdout).", allow_abbrev=False
    )
    parser.add_argument(
        "what", choices=["search"], help="search: batched MCTS with a constant-cost fake model"
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256, 1536])
    parser.add_argument("--actions", type=int, nargs="+", default=[4, 18])
    parser.add_argument("--simulations", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    result = bench_search(
        batches=tuple(args.batches),
        actions=tuple(args.actions),
        simulations=args.simulations,
        device=args.device,
    )
    print(json.dumps(result, indent=2))
    return 0


def cmd_report(argv: list[str]) -> int:
    from efficientzero.report import report_command

    parser = argparse.ArgumentParser(
        prog="efficientzero report",
        description="Score report over finished runs.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "run_dirs", type=Path, nargs="+", help="run directories (or folders holding them)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("report"), help="output directory (default: report)"
    )
    parser.add_argument("--format", choices=["md", "html", "both"], default="both")
    parser.add_argument("--bootstrap-reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return report_command(args.run_dirs, args.out, args.format, args.bootstrap_reps, args.seed)


HANDLERS = {
    "train": cmd_train,
    "eval": cmd_eval,
    "config": cmd_config,
    "bench": cmd_bench,
    "report": cmd_report,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: efficientzero {train,eval,config,bench,report} ...\n\n"
            "  train   train an agent (CartPole-v1 by default; --preset atari100k --env Breakout)\n"
            "  eval    evaluate a run's final weights or a checkpoint\n"
            "  config  print the resolved config as JSON\n"
            "  bench   benchmarks (bench search)\n"
            "  report  score tables, aggregates and plots over finished runs\n\n"
            "Run `efficientzero <command> --help` for details."
        )
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in HANDLERS:
        print(
            f"efficientzero: error: unknown command {command!r} (choose from {', '.join(COMMANDS)})",
            file=sys.stderr,
        )
        return 2
    from efficientzero.checkpoint import CheckpointError
    from efficientzero.run.common import RunDirectoryError

    try:
        return HANDLERS[command](rest)
    except (ConfigError, CheckpointError, RunDirectoryError, UsageError) as error:
        print(f"efficientzero {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"efficientzero {command}: interrupted (the last checkpoint was saved)", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
