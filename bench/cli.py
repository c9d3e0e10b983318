"""Command-line entry point: ``python -m bench COMMAND``."""

from __future__ import annotations

import argparse
import sys

_NOT_YET = {
    "run": "sample-complexity sweeps (issue 5)",
    "report": "redraw figures and the table from stored results (issue 5)",
    "speed": "Gram assembly speed benchmark (issue 7)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="hierlearn experiments: sample-complexity sweeps, reports and benchmarks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, what in _NOT_YET.items():
        sub.add_parser(name, help=what)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print(f"python -m bench {args.command}: not yet implemented ({_NOT_YET[args.command]}).",
          file=sys.stderr)
    return 2
