"""What reconcile launches: deterministic Job names that stay DNS labels."""

from __future__ import annotations

import re

from sovits_core.launch import JOB_NAME_MAX, job_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_job_names_are_task_step_attempt_as_a_dns_label() -> None:
    assert job_name("voice1", "extract_text_features", 2) == "voice1-extract-text-features-2"


def test_the_same_attempt_always_gets_the_same_name() -> None:
    assert job_name("voice1", "train_gpt", 3) == job_name("voice1", "train_gpt", 3)


def test_long_task_names_are_cut_with_a_hash_that_keeps_them_apart() -> None:
    one = job_name("a" * 80 + ".one", "extract_semantic_features", 12)
    two = job_name("a" * 80 + ".two", "extract_semantic_features", 12)

    assert one != two
    assert len(one) <= JOB_NAME_MAX and DNS_LABEL.match(one)
    assert one.endswith("-extract-semantic-features-12")
