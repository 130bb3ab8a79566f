"""kopf's settings: Events come from sovits-operator, kopf's own chatter stays out of the log, and its
diff base is the one kopf would build."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import kopf
import pytest

from sovits_core.settings import Settings
from sovits_operator.handlers import Poster, TaskDiffBase, kopf_settings, quiet_kopf


def test_events_name_the_operator_as_their_source_not_kopf() -> None:
    posting = kopf_settings(Settings()).posting

    assert posting.reporting_component == "sovits-operator"
    assert posting.event_name_prefix == "sovits-"


@pytest.mark.parametrize(("level", "handler_lines_shown"), [("WARNING", False), ("INFO", True)])
def test_kopfs_per_handler_lines_are_off_unless_asked_for(level: str, handler_lines_shown: bool) -> None:
    settings = Settings.model_validate({"operator": {"kopf_log_level": level}})
    kopf_objects = logging.getLogger("kopf.objects")
    before = logging.getLogger("kopf").level
    try:
        quiet_kopf(settings)

        assert kopf_objects.isEnabledFor(logging.INFO) is handler_lines_shown
        assert kopf_objects.isEnabledFor(logging.WARNING)
    finally:
        logging.getLogger("kopf").setLevel(before)


TASK = {"apiVersion": "sovits.io/v1alpha1", "kind": "TrainingTask",
        "metadata": {"name": "voice1", "namespace": "ns", "uid": "uid-voice1"}}  # fmt: skip


def test_a_pass_outside_kopfs_workers_posts_its_events_into_the_queue_a_kopf_handler_lent() -> None:
    from kopf._core.engines import posting  # kopf's own queue: where its poster task takes Events from

    poster = Poster()

    async def scenario() -> list[str]:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def a_kopf_worker() -> None:  # as kopf sets up each per-object worker before its handlers
            posting.settings_var.set(kopf_settings(Settings()))
            posting.event_queue_var.set(queue)
            posting.event_queue_loop_var.set(asyncio.get_running_loop())
            poster.borrow()

        contextvars.Context().run(a_kopf_worker)
        # A pass started by news from a Job watch: a context kopf never set up.
        contextvars.Context().run(poster, TASK, "Normal", "StepStarted", "convert_audio started")
        return [queue.get_nowait().reason for _ in range(queue.qsize())]

    assert asyncio.run(scenario()) == ["StepStarted"]


def test_an_event_with_no_kopf_worker_yet_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    contextvars.Context().run(Poster(), TASK, "Normal", "StepStarted", "convert_audio started")

    assert "Event StepStarted not posted" in caplog.text


def a_task_as_the_api_server_sends_it() -> dict[str, Any]:
    return {
        "apiVersion": "sovits.io/v1alpha1",
        "kind": "TrainingTask",
        "metadata": {
            "name": "voice1", "namespace": "ns", "uid": "u1", "generation": 3, "resourceVersion": "812",
            "labels": {"team": "a"},
            "annotations": {
                "note": "keep me",
                "sovits.io/last-handled-configuration": '{"spec":{"expName":"spk"}}\n',
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
            },
            "finalizers": ["sovits.io/cleanup"],
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"expName": "spk", "pipeline": "full", "gpu": {"count": 1}, "steps": [{"name": "convert_audio"}]},
        "status": {"phase": "completed", "steps": [{"name": "convert_audio", "phase": "completed"}]},
    }  # fmt: skip


def test_the_diff_base_is_kopfs_own_essence_of_the_task() -> None:
    body = kopf.Body(a_task_as_the_api_server_sends_it())
    ours = TaskDiffBase(prefix="sovits.io", key="last-handled-configuration")
    kopfs = kopf.AnnotationsDiffBaseStorage(prefix="sovits.io", key="last-handled-configuration")

    essence = ours.build(body=body)

    assert essence == kopfs.build(body=body)
    assert essence == {"spec": a_task_as_the_api_server_sends_it()["spec"],
                       "metadata": {"labels": {"team": "a"}, "annotations": {"note": "keep me"}}}  # fmt: skip
    assert ours.build(body=body, extra_fields=["status.phase"]) == kopfs.build(body=body, extra_fields=["status.phase"])
