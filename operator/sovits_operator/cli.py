"""The ``sovits`` command: one entry point for every component.

Each subcommand imports its component lazily, so ``sovits crd`` does not pay for FastAPI and
the operator image never needs the step extras.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__

NOT_YET = {
    "local": "the embedded local runtime (issue: sovits local)",
    "operator": "the kopf operator (issue: operator)",
    "api": "the REST facade (issue: REST facade)",
    "step": "the step runner (issue: step runner and step images)",
    "models": "the model store tools (issue: step runner and step images)",
    "task": "the client CLI (issue: sovits local)",
}


def _not_implemented(name: str) -> Callable[[argparse.Namespace], int]:
    def run(_: argparse.Namespace) -> int:
        print(f"sovits {name}: not implemented yet - {NOT_YET[name]}", file=sys.stderr)
        return 2

    return run


def _crd(args: argparse.Namespace) -> int:
    from .crd import render

    text = render()
    if args.check:
        current = Path(args.output).read_text(encoding="utf-8") if Path(args.output).exists() else ""
        if current != text:
            print(
                f"{args.output} differs from the model; run `sovits crd --output {args.output}`",
                file=sys.stderr,
            )
            return 1
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sovits", description="GPT-SoVITS training service.")
    root.add_argument("--version", action="version", version=f"sovits {__version__}")
    sub = root.add_subparsers(dest="command", required=True)

    crd = sub.add_parser("crd", help="print or write the TrainingTask CRD generated from the model")
    crd.add_argument("--output", "-o", default="-", help="file to write, '-' for stdout")
    crd.add_argument("--check", action="store_true", help="exit 1 if --output differs from the model")
    crd.set_defaults(run=_crd)

    local = sub.add_parser("local", help="the REST API and a local runtime on this machine, no cluster")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=8000)
    local.add_argument("--data-dir", default="./sovits-data")
    local.add_argument("--max-parallel", type=int, default=None)
    local.set_defaults(run=_not_implemented("local"))

    for name, text in (
        ("operator", "run the kopf operator"),
        ("api", "run the REST facade against a cluster"),
        ("models", "put pretrained models into the model store"),
        ("task", "client commands against a running API"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("rest", nargs=argparse.REMAINDER)
        cmd.set_defaults(run=_not_implemented(name))

    step = sub.add_parser("step", help="run one pipeline step (the step images' entrypoint)")
    step.add_argument("name")
    step.add_argument("--task", required=True)
    step.set_defaults(run=_not_implemented("step"))
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
