"""Command line: ``python -m latentkit.experiments list | show NAME | train NAME | run NAME``.

Examples::

    python -m latentkit.experiments list
    python -m latentkit.experiments show getting-started
    python -m latentkit.experiments run getting-started -p steps 400 --out runs
    torchrun --nproc_per_node=2 -m latentkit.experiments train getting-started --out runs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from latentkit.experiments.registry import all_presets, get
from latentkit.experiments.runner import ParameterError, chapter_parameters, chapter_path, run_preset, train_preset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m latentkit.experiments", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the presets")
    show = sub.add_parser("show", help="a preset's chapter, parameters and training function")
    show.add_argument("name")
    for verb, text in (("train", "run the preset's training (torchrun-safe)"), ("run", "execute the preset's chapter")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("name")
        p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                       help="override a chapter parameter (repeatable)")
        p.add_argument("--out", default="runs", help="output root; results go to OUT/NAME (default: runs)")
    return parser


def _is_main_rank() -> bool:
    return os.environ.get("RANK", "0") == "0"


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
            preset = get(args.name)
            print(f"name:        {preset.name}\ndescription: {preset.description}")
            print(f"paper:       {preset.paper or '-'}\nchapter:     book/{preset.chapter}")
            print(f"train:       {preset.train or '- (the chapter trains)'}")
            print("parameters (preset values marked *):")
            for spec in chapter_parameters(chapter_path(preset)).values():
                if spec.name in preset.parameters:
                    print(f"  * {spec.name} = {preset.parameters[spec.name]!r}   ({spec.type_name}; {spec.help})")
                else:
                    print(f"    {spec.describe()}")
            return 0
        overrides = dict(args.parameter)
        if args.command == "train":
            path = train_preset(args.name, overrides, args.out)
        else:
            path = run_preset(args.name, overrides, args.out)
            metrics = path / "metrics.json"
            if metrics.exists() and _is_main_rank():
                print(json.dumps(json.loads(metrics.read_text()), indent=2))
        if _is_main_rank():
            print(f"{args.command} {args.name}: done -> {path}")
        return 0
    except (KeyError, ParameterError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
