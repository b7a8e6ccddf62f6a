"""Command line: ``python -m latentkit.experiments list | show NAME | train NAME | run NAME``.

Examples::

    python -m latentkit.experiments list
    python -m latentkit.experiments show getting-started
    python -m latentkit.experiments run getting-started -p steps 400 --out runs
    torchrun --nproc_per_node=2 -m latentkit.experiments train getting-started --out runs

Exit status: 0 done; 2 a user error (unknown preset or parameter, bad value, unusable ``--out``, missing
data, a run folder made with other parameters or in use, a checkpoint that cannot be resumed), told in
one line on stderr; 1 a training failure (a non-finite loss or gradient); 143 stopped by SIGTERM after
writing a checkpoint (run the same command again to resume).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from latentkit.experiments.registry import UnknownPresetError, all_presets

_EPILOG = (
    "Settings are resolved as: the chapter's defaults, then the preset's values, then -p overrides. "
    "OUT/NAME/config.json records them; a later train or run with other values is refused "
    "(use a fresh --out, or --restart)."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and status 2, like every other user error
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m latentkit.experiments", description=__doc__.split("\n")[0], epilog=_EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the presets")
    show = sub.add_parser("show", help="a preset's chapter and every setting with its value and source")
    show.add_argument("name")
    for verb, text in (("train", "run the preset's training (torchrun-safe)"), ("run", "execute the preset's chapter")):
        p = sub.add_parser(verb, help=text, epilog=_EPILOG)
        p.add_argument("name")
        p.add_argument(
            "-p",
            "--parameter",
            nargs=2,
            action="append",
            default=[],
            metavar=("KEY", "VALUE"),
            help="override a chapter parameter (repeatable)",
        )
        p.add_argument("--out", default="runs", help="output root; results go to OUT/NAME (default: runs)")
        p.add_argument(
            "--restart",
            action="store_true",
            help="delete what OUT/NAME holds (checkpoints, figures) and start this run over",
        )
    return parser


def _show(name: str) -> None:
    from latentkit.experiments.runner import resolve

    resolved = resolve(name)
    preset = resolved.preset
    print(f"name:        {preset.name}\ndescription: {preset.description}")
    print(f"reproduces:  {preset.paper or '-'}\nchapter:     book/{preset.chapter}")
    print(f"train:       {preset.train or '- (the chapter trains)'}")
    print("settings (* set by the preset; each with its source):")
    for key, spec in resolved.chapter.parameters.items():
        mark = "*" if key in preset.parameters else " "
        print(f"  {mark} {key} = {resolved.values[key]!r}  ({spec.type_name}; {spec.help})")
        print(f"        source: {resolved.sources[key]}")


def _user_errors() -> tuple[type[BaseException], ...]:
    from latentkit.data import DatasetNotFoundError
    from latentkit.engine import CheckpointError, RunLockedError
    from latentkit.experiments.runner import ConfigMismatchError, ParameterError, RunFolderError

    return (
        UnknownPresetError,
        ParameterError,
        ConfigMismatchError,
        RunFolderError,
        DatasetNotFoundError,
        RunLockedError,
        CheckpointError,
    )


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    from latentkit.engine import CheckpointError

    if isinstance(err, CheckpointError):
        text += (
            "; remove that file (the run restarts from its previous checkpoint, if any) or use --restart / a "
            "fresh --out"
        )
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            presets = all_presets()
            width = max(map(len, presets), default=0)
            for name, preset in presets.items():
                mark = "train+run" if preset.train else "run"
                print(f"{name:<{width}}  [{mark:9}] {preset.description}")
            return 0
        if args.command == "show":
            _show(args.name)
            return 0
        from latentkit.engine import NonFiniteLossError, TrainingInterrupted
        from latentkit.experiments.runner import is_main_rank, run_preset, train_preset

        overrides = dict(args.parameter)
        try:
            if args.command == "train":
                path = train_preset(args.name, overrides, args.out, restart=args.restart)
            else:
                if not _has_papermill():
                    print(f"error: {_NEEDS_BOOK_EXTRA}", file=sys.stderr)
                    return 2
                path = run_preset(args.name, overrides, args.out, restart=args.restart)
                metrics = path / "metrics.json"
                if metrics.exists() and is_main_rank():
                    print(json.dumps(json.loads(metrics.read_text()), indent=2))
        except NonFiniteLossError as err:
            print(f"error: {_one_line(err)}", file=sys.stderr)
            return 1
        except _chapter_failed() as err:  # a cell of the chapter raised: the executed notebook has the traceback
            cell = getattr(err, "exec_count", None)
            where = Path(args.out).expanduser().resolve() / args.name
            print(
                f"error: the chapter failed in cell [{cell}] ({getattr(err, 'ename', '')}: "
                f"{' '.join(str(getattr(err, 'evalue', '')).split())[:300]}); the executed notebook in {where} "
                "shows the traceback",
                file=sys.stderr,
            )
            return 1
        except TrainingInterrupted as err:
            print(f"stopped: {_one_line(err)}", file=sys.stderr)
            return 143
        if is_main_rank():
            print(f"{args.command} {args.name}: done -> {path}")
        return 0
    except _user_errors() as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2


_NEEDS_BOOK_EXTRA = (
    "'run' executes a chapter notebook with papermill, which is not installed: "
    'pip install "latentkit[book]" in a clone of the repository, which holds the chapters '
    "('train' needs neither)"
)


class _NeverRaised(Exception):
    """Stands for papermill's cell error where papermill (the book extra) is not installed."""


def _has_papermill() -> bool:
    try:
        import papermill  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def _chapter_failed() -> type[BaseException]:
    try:
        from papermill.exceptions import PapermillExecutionError
    except ModuleNotFoundError:  # `train` from a wheel without the book extra: its errors must stay one line
        return _NeverRaised
    return PapermillExecutionError


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `show NAME | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
