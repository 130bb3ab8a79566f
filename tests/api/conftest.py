"""Fixtures for the REST facade: a task store on each backend, a real object store, the app.

``task_backend`` runs a test on the local SQLite store and, marked ``cluster``, on
TrainingTask objects in the real test control plane. Status writes stand in for the
operator (status is the contract between the two); everything else is the real thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sovits_api.app import create_app
from sovits_api.auth import Tenants
from sovits_api.services import Services
from sovits_api.store import TaskStore
from sovits_core import storage
from sovits_core.model import GROUP, PLURAL, VERSION, TrainingTaskStatus
from sovits_core.settings import Settings
from sovits_local.store import SqliteTaskStore
from tests.support.processes import wait_for
from tests.support.seaweed import S3Store

TOKEN_A = "token-tenant-a"
TOKEN_B = "token-tenant-b"


@dataclass
class Backend:
    name: str
    store: TaskStore
    namespace: str
    other_namespace: str
    write_status: Callable[[str, str, TrainingTaskStatus], None]


def _sqlite_backend(tmp_path: Path) -> Backend:
    store = SqliteTaskStore.open(tmp_path / "tasks.db")

    def write_status(namespace: str, task_id: str, status: TrainingTaskStatus) -> None:
        store.update_status(namespace, task_id, status)

    return Backend("sqlite", store, "tenant-a", "tenant-b", write_status)


def _kube_backend(request: pytest.FixtureRequest) -> Backend:
    from kubernetes import client as k8s

    from sovits_api.kube_store import KubeTaskStore, api_client

    cluster = request.getfixturevalue("cluster")
    api = api_client(str(cluster.kubeconfig))
    objects = k8s.CustomObjectsApi(api)
    first = request.getfixturevalue("namespace")
    second = cluster.create_namespace()
    request.addfinalizer(lambda: cluster.kubectl("delete", "namespace", second, "--wait=false"))

    store = KubeTaskStore(api, ping_namespace=first)
    request.addfinalizer(store.close)

    def write_status(namespace: str, task_id: str, status: TrainingTaskStatus) -> None:
        written: Any = objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, task_id, {"status": status.wire()}
        )
        # The operator's write reaches the API through the API's watch, a moment later.
        version = written["metadata"]["resourceVersion"]
        wait_for(lambda: resource_version(store.get(namespace, task_id)) == version, timeout=10,
                 what=f"status of {task_id} on the API's watch", interval=0.02)  # fmt: skip

    return Backend("kube", store, first, second, write_status)


def resource_version(task: Any) -> object:
    return (task.metadata.model_extra or {}).get("resourceVersion")


@pytest.fixture(params=["sqlite", pytest.param("kube", marks=pytest.mark.cluster)])
def task_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return _sqlite_backend(tmp_path)
    return _kube_backend(request)


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Backend:
    return _sqlite_backend(tmp_path)


def s3_settings(s3_store: S3Store, prefix: str, **api: Any) -> Settings:
    return Settings.model_validate(
        {
            "storage": {
                "backend": "s3",
                "endpoint_url": s3_store.endpoint_url,
                "bucket": s3_store.bucket,
                "region": s3_store.region,
                "access_key_id": s3_store.access_key,
                "secret_access_key": s3_store.secret_key,
                "tasks_prefix": f"{prefix}tasks/",
            },
            "api": api,
        }
    )


@dataclass
class Api:
    client: TestClient
    services: Services
    backend: Backend
    token: str = TOKEN_A

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def create(self, **config: Any) -> dict[str, Any]:
        body = {"task_name": "语音克隆测试", "config": {"exp_name": "my_speaker", **config}}
        response = self.request("POST", "/api/v1/task/create", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def write_status(self, task_id: str, **status: Any) -> None:
        self.backend.write_status(self.backend.namespace, task_id, TrainingTaskStatus.model_validate(status))


def make_api(backend: Backend, settings: Settings, objects: storage.ObjectStore | None = None) -> Iterator[Api]:
    services = Services(
        settings=settings,
        tasks=backend.store,
        objects=objects or storage.open_store(settings.storage),
        tenants=Tenants({TOKEN_A: backend.namespace, TOKEN_B: backend.other_namespace}),
        webhooks=False,
    )
    with TestClient(create_app(services)) as client:
        yield Api(client, services, backend)


@pytest.fixture
def api(task_backend: Backend, s3_store: S3Store, s3_prefix: str) -> Iterator[Api]:
    """The app on each task backend, files in the real SeaweedFS store."""
    yield from make_api(task_backend, s3_settings(s3_store, s3_prefix))


@pytest.fixture
def local_api(sqlite_backend: Backend, tmp_path: Path) -> Iterator[Api]:
    """The app as ``sovits local`` runs it: SQLite tasks, files in a directory, streamed downloads."""
    settings = Settings.model_validate(
        {"storage": {"backend": "local", "local_root": str(tmp_path / "store")}, "api": {"download_mode": "stream"}}
    )
    yield from make_api(sqlite_backend, settings)


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real audio in every accepted format, made from espeak-ng speech, plus a few refusals."""
    import subprocess

    out = tmp_path_factory.mktemp("audio")
    speech = out / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "hello, this is a voice cloning test"], check=True)
    encodings = {
        "speech.mp3": ["-c:a", "libmp3lame"],
        "speech.m4a": ["-c:a", "aac"],
        "speech.aac": ["-c:a", "aac", "-f", "adts"],
        "speech.flac": ["-c:a", "flac"],
        "speech.ogg": ["-c:a", "libvorbis"],
    }
    for name, args in encodings.items():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech), *args, str(out / name)], check=True)
    # A video-only MP4 (moov box at the end, as ffmpeg writes it) named like audio.
    video = ["-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *video, "-f", "mp4", str(out / "video.m4a")], check=True)
    return out


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
