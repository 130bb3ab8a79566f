"""The seed's JSON field names are a promise: renaming one breaks existing clients."""

from __future__ import annotations

from sovits_api.schemas import StepAccepted, TaskPublic, Uploaded

# Copied from seed-api.md (the TaskInfo fields its client reads).
SEED_TASK_FIELDS = [
    "task_id",
    "task_name",
    "status",
    "config",
    "created_at",
    "updated_at",
    "progress",
    "current_step",
    "error_message",
]
# Ours, after the seed's: a client that reads only the seed's fields ignores them.
ADDED_TASK_FIELDS = ["quality"]


def test_task_fields_are_exactly_the_seeds_then_ours() -> None:
    assert list(TaskPublic.model_fields) == SEED_TASK_FIELDS + ADDED_TASK_FIELDS


def test_step_answer_carries_the_seeds_message_field() -> None:
    assert "message" in StepAccepted.model_fields


def test_upload_answer_carries_the_seeds_filename_field() -> None:
    assert {"message", "filename"} <= set(Uploaded.model_fields)
