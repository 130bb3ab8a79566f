"""GET task's encoded answers, kept by the version of the task they show."""

from __future__ import annotations

import json

from sovits_api.store import Held
from sovits_api.view import task_view
from sovits_api.view_cache import ViewCache
from sovits_core.model import TrainingTask

from .factories import QUALITY, record, request, task


class Parses:
    """Held versions of a task that count how often they are parsed."""

    def __init__(self) -> None:
        self.count = 0

    def held(self, version: str, stored: TrainingTask) -> Held:
        def parse() -> TrainingTask:
            self.count += 1
            return stored

        return Held(version, parse)


def test_a_second_read_of_the_same_version_is_answered_without_parsing_the_task_again() -> None:
    cache, parses = ViewCache(), Parses()
    stored = task()
    first = cache.answer("ns", "t1", parses.held("1", stored))
    second = cache.answer("ns", "t1", parses.held("1", stored))
    assert second == first
    assert parses.count == 1


def test_a_new_version_is_answered_from_the_new_task() -> None:
    cache, parses = ViewCache(), Parses()
    cache.answer("ns", "t1", parses.held("1", task()))
    done = {"phase": "completed", "steps": [record("test_inference", "completed", "r1")], "quality": QUALITY}
    answer = json.loads(
        cache.answer("ns", "t1", parses.held("2", task(steps=[request("test_inference", "r1")], status=done)))
    )
    assert answer["status"] == "completed"
    assert parses.count == 2


def test_the_answer_is_the_view_as_the_response_model_sends_it_with_camel_case_quality() -> None:
    done = {"phase": "completed", "steps": [record("test_inference", "completed", "r1")], "quality": QUALITY}
    stored = task(steps=[request("test_inference", "r1")], status=done)
    answer = json.loads(ViewCache().answer("ns", "t1", Parses().held("1", stored)))
    assert answer == task_view(stored).model_dump(mode="json", by_alias=True)
    assert answer["quality"] == QUALITY


def test_beyond_its_limit_the_least_recently_read_task_is_dropped() -> None:
    cache, parses = ViewCache(limit=2), Parses()
    stored = task()
    cache.answer("ns", "a", parses.held("1", stored))
    cache.answer("ns", "b", parses.held("1", stored))
    cache.answer("ns", "a", parses.held("1", stored))  # a is now the most recent
    cache.answer("ns", "c", parses.held("1", stored))  # drops b
    assert parses.count == 3
    cache.answer("ns", "a", parses.held("1", stored))
    assert parses.count == 3
    cache.answer("ns", "b", parses.held("1", stored))
    assert parses.count == 4


def test_tasks_of_the_same_name_in_two_namespaces_are_kept_apart() -> None:
    cache, parses = ViewCache(), Parses()
    cache.answer("ns-a", "t1", parses.held("1", task()))
    cancelled = json.loads(cache.answer("ns-b", "t1", parses.held("1", task(cancel=True))))
    assert cancelled["status"] == "cancelled"
