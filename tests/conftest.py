"""Session fixtures that start real services: the SeaweedFS S3 store and the kwok control plane."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.seaweed import S3Store, SeaweedFS


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    """A SeaweedFS S3 endpoint on loopback with auth on and the bucket created."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def s3_prefix() -> str:
    """A key prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}/"
