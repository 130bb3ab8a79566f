"""``sovits task ...``: the client as a command line, against ``sovits local`` or ``sovits api``.

The service URL comes from ``--url`` or ``SOVITS_URL`` (default http://127.0.0.1:8000), the
token from ``--token`` or ``SOVITS_TOKEN``. Results print as one JSON document on stdout (progress
goes to stderr); errors print the server's detail and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from sovits_core.catalog import STEP_ORDER

from .client import ApiError, TrainingClient


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sovits task", description="Talk to a running training service.")
    root.add_argument("--url", default=os.environ.get("SOVITS_URL", "http://127.0.0.1:8000"))
    root.add_argument("--token", default=os.environ.get("SOVITS_TOKEN"))
    root.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    sub = root.add_subparsers(dest="command", required=True)

    create = sub.add_parser("create", help="create a task; prints it")
    create.add_argument("--name", required=True, help="task_name")
    create.add_argument("--exp-name", required=True)
    create.add_argument("--language", default="zh")
    create.add_argument("--gpu-id", default=None, help="the seed's gpu_id, e.g. 0 or 0-1")
    create.add_argument("--config", default="{}", help="more config keys as JSON (batch_size, epochs_s2, ...)")

    upload = sub.add_parser("upload", help="upload audio (or a .list transcript)")
    upload.add_argument("task")
    upload.add_argument("files", nargs="+")

    run = sub.add_parser("run", help="run one step and wait for it")
    run.add_argument("task")
    run.add_argument("step", choices=STEP_ORDER)
    run.add_argument("--params", default="{}", help="step params as JSON")
    run.add_argument("--no-wait", action="store_true")

    pipeline = sub.add_parser("pipeline", help="run steps one after another and wait for each")
    pipeline.add_argument("task")
    pipeline.add_argument("--from", dest="first", choices=STEP_ORDER, default=STEP_ORDER[0])
    pipeline.add_argument("--to", dest="last", choices=STEP_ORDER, default=STEP_ORDER[-1])

    status = sub.add_parser("status", help="one task, or every task")
    status.add_argument("task", nargs="?")

    logs = sub.add_parser("logs", help="the steps' logs")
    logs.add_argument("task")
    logs.add_argument("--step", choices=STEP_ORDER)
    logs.add_argument("--tail", type=int)

    dataset = sub.add_parser("dataset", help="the dataset report as a table (after asr_transcribe)")
    dataset.add_argument("task")
    dataset.add_argument("--json", action="store_true", help="the report as JSON instead")

    files = sub.add_parser("files", help="list a task's files")
    files.add_argument("task")

    download = sub.add_parser("download", help="download a task file")
    download.add_argument("task")
    download.add_argument("filename")
    download.add_argument("--output", "-o", default=".")

    for name in ("cancel", "delete"):
        cmd = sub.add_parser(name, help=f"{name} a task")
        cmd.add_argument("task")
    return root


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def _json_arg(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{what}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SystemExit(f"{what}: expected a JSON object")
    return value


# Columns of the dataset table: heading, report key, format.
_COLUMNS = (
    ("seconds", "duration_s", "{:.1f}"),
    ("peak", "peak_dbfs", "{:.1f}"),
    ("rms", "rms_dbfs", "{:.1f}"),
    ("snr", "snr_db", "{:.1f}"),
    ("clip%", "clipping_ratio", "{:.1%}"),
    ("lead", "lead_silence_s", "{:.1f}"),
    ("trail", "trail_silence_s", "{:.1f}"),
    ("chars/s", "chars_per_s", "{:.1f}"),
)


def dataset_table(report: dict[str, Any]) -> str:
    """One row per clip (flags last, an excluded clip marked ``x``), then the summary and advice."""
    head = ["clip", *(c[0] for c in _COLUMNS), "x", "flags"]
    rows = [
        [
            clip["clip"],
            *(fmt.format(clip[key]) for _, key, fmt in _COLUMNS),
            "x" if clip["excluded"] else "",
            ",".join(f["flag"] for f in clip["flags"]),
        ]
        for clip in report["clips"]
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
    s = report["summary"]
    lines += [
        "",
        f"verdict: {s['verdict']} - {s['usable_minutes']:g} of {s['total_minutes']:g} minutes usable, "
        f"{s['flagged_clips']} of {s['clips']} clips flagged",
        *(f"{a['flag']} ({s['flag_counts'][a['flag']]}): {a['text']}" for a in s["advice"]),
        f"excluded ({s['excluded_by']}: {', '.join(s['exclude_flags']) or 'none'}): {len(s['excluded'])} clips",
        # A server from before the choice existed always used the cepstral embedding.
        f"speaker similarity: {s.get('speaker_model', 'cepstral')} embedding",
    ]
    return "\n".join(lines) + "\n"


def _finished(status: dict[str, Any]) -> int:
    _print(status)
    return 0 if status["status"] == "completed" else 1


def dispatch(client: TrainingClient, args: argparse.Namespace) -> int:
    if args.command == "create":
        config = {"exp_name": args.exp_name, "language": args.language, **_json_arg(args.config, "--config")}
        if args.gpu_id is not None:
            config["gpu_id"] = args.gpu_id
        _print(client.create_task(args.name, config))
    elif args.command == "upload":
        _print([client.upload_audio(args.task, path) for path in args.files])
    elif args.command == "run":
        started = client.execute_step(args.task, args.step, _json_arg(args.params, "--params"))
        if args.no_wait:
            _print(started)
        else:
            print(started["message"], file=sys.stderr)
            return _finished(client.wait_for_completion(args.task))
    elif args.command == "pipeline":
        steps = list(STEP_ORDER[STEP_ORDER.index(args.first) : STEP_ORDER.index(args.last) + 1])
        return _finished(client.run_steps(args.task, steps))
    elif args.command == "status":
        _print(client.get_task_status(args.task) if args.task else client.list_tasks())
    elif args.command == "logs":
        sys.stdout.write(client.logs(args.task, args.step, args.tail))
    elif args.command == "dataset":
        report = client.dataset(args.task)
        if args.json:
            _print(report)
        else:
            sys.stdout.write(dataset_table(report))
    elif args.command == "files":
        _print(client.list_files(args.task))
    elif args.command == "download":
        print(client.download(args.task, args.filename, args.output))
    elif args.command == "cancel":
        _print(client.cancel_task(args.task))
    elif args.command == "delete":
        _print(client.delete_task(args.task))
    return 0


def run(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    client = TrainingClient(args.url.rstrip("/") + "/api/v1", token=args.token, progress=not args.quiet)
    try:
        return dispatch(client, args)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
