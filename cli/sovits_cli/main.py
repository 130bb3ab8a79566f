"""The ``sovits`` command: one entry point for every component.

Each subcommand imports its component lazily, so ``sovits crd`` does not pay for FastAPI and
the operator image never needs the step extras.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sovits_core import __version__

# What the `service` extra installs: the step image has none of it (upstream's pins forbid it).
_SERVICE_MODULES = frozenset({"aiohttp", "fastapi", "kopf", "kubernetes", "multipart", "prometheus_client", "uvicorn"})


def _crd(args: argparse.Namespace) -> int:
    from sovits_operator.crd import render

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


def _local(args: argparse.Namespace) -> int:
    import logging

    from sovits_core.settings import load
    from sovits_local.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(load(), host=args.host, port=args.port, data_dir=Path(args.data_dir), max_parallel=args.max_parallel)


def _task(args: argparse.Namespace) -> int:
    from sovits_api.client_cli import run as task_run

    return task_run(args.rest)


def _models(args: argparse.Namespace) -> int:
    from sovits_steps.models_cli import run as models_run

    return models_run(args.rest)


def _step(args: argparse.Namespace) -> int:
    import logging
    import os

    from sovits_steps.runner import main as step_main

    code = step_main([args.name, "--task", args.task])
    # The outcome is written (log, progress, termination message); a step stopped by SIGTERM
    # leaves transfers in flight, and a normal exit would join their threads past the grace period.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _api(args: argparse.Namespace) -> int:
    import logging

    from sovits_api.server import serve
    from sovits_core.settings import load

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(load(), host=args.host, port=args.port, kubeconfig=args.kubeconfig)


def _operator(args: argparse.Namespace) -> int:
    import logging

    from sovits_core.settings import load
    from sovits_operator.handlers import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load()
    namespace: str | None = None if args.all_namespaces else (args.namespace or settings.operator.namespace)
    run(settings, namespaces=[namespace] if namespace else [], clusterwide=namespace is None)
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
    local.set_defaults(run=_local)

    api = sub.add_parser("api", help="run the REST facade against a cluster")
    api.add_argument("--host", default=None, help="default: settings server.host")
    api.add_argument("--port", type=int, default=None, help="default: settings server.port")
    api.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG, ~/.kube/config or in-cluster")
    api.set_defaults(run=_api)

    operator = sub.add_parser("operator", help="run the kopf operator")
    scope = operator.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", default=None, help="watch one namespace (default: settings)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    operator.set_defaults(run=_operator)

    models = sub.add_parser("models", help="put pretrained models into the model store: upload DIR | check")
    models.add_argument("rest", nargs=argparse.REMAINDER)
    models.set_defaults(run=_models)

    task = sub.add_parser("task", help="client commands against a running service (sovits task -h)", add_help=False)
    task.add_argument("rest", nargs=argparse.REMAINDER)
    task.set_defaults(run=_task)

    step = sub.add_parser("step", help="run one pipeline step (the step images' entrypoint)")
    step.add_argument("name")
    step.add_argument("--task", required=True)
    step.set_defaults(run=_step)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["task"]:  # its own parser, so `sovits task -h` shows the client's help
        from sovits_api.client_cli import run as task_run

        return task_run(argv[1:])
    if argv[:1] == ["models"]:
        from sovits_steps.models_cli import run as models_run

        return models_run(argv[1:])
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ModuleNotFoundError as missing:
        if (missing.name or "").partition(".")[0] not in _SERVICE_MODULES:
            raise
        print(
            f"sovits {args.command} needs the `service` extra ({missing.name} is not installed): "
            "pip install 'sovits-operator[service]'",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
