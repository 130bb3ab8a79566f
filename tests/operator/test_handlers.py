"""kopf's settings: Events come from sovits-operator, and kopf's own chatter stays out of the log."""

from __future__ import annotations

import logging

import pytest

from sovits_core.settings import Settings
from sovits_operator.handlers import kopf_settings, quiet_kopf


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
