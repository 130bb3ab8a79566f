"""The operator's Kubernetes adapter: the status merge patch it sends."""

from __future__ import annotations

from sovits_operator.kube import status_patch


def test_a_status_patch_replaces_lists_and_nulls_fields_that_went_away() -> None:
    old = {"phase": "failed", "errorMessage": "boom", "steps": [{"name": "convert_audio"}]}
    new = {"phase": "running", "steps": [{"name": "convert_audio"}, {"name": "slice_audio"}]}

    patch = status_patch(old, new)

    assert patch == {"status": {"errorMessage": None, "phase": "running", "steps": new["steps"]}}
