"""The images hack/images.sh builds, once per test run: the operator image and the step image's
audio target (the full step image with torch is built by hand; see the README's figures)."""

from __future__ import annotations

import pytest

from tests.support.containers import Images, build_images

CI_IMAGES = ("operator", "step-audio")


@pytest.fixture(scope="session")
def images() -> Images:
    return build_images(*CI_IMAGES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "images" in getattr(item, "fixturenames", ()) and item.get_closest_marker("images") is None:
            item.add_marker(pytest.mark.images)
