"""The object-store layer against real SeaweedFS and a real local directory."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import datetime
from pathlib import Path

import pytest
import requests

from sovits_core.errors import InvalidInput, NotFound, StorageUnavailable
from sovits_core.settings import StorageSettings
from sovits_core.storage import (
    Changed,
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    TaskFiles,
    check_key,
    open_store,
)
from tests.support.ports import free_ports
from tests.support.seaweed import S3Store

MB = 1024 * 1024


def s3_backend(s3: S3Store) -> S3ObjectStore:
    return S3ObjectStore(
        bucket=s3.bucket,
        endpoint_url=s3.endpoint_url,
        access_key_id=s3.access_key,
        secret_access_key=s3.secret_key,
    )


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "s3":
        return s3_backend(request.getfixturevalue("s3_store"))
    return LocalObjectStore(tmp_path / "store")


class FailingStream(io.RawIOBase):
    """Yields ``good`` bytes, then raises as a dropped client connection would."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        return b"x" * n


class ChunkStream(io.RawIOBase):
    """A non-seekable stream of ``total`` pseudo-random bytes, like an HTTP upload body."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        data = os.urandom(n)
        self.digest.update(data)
        return data


def test_a_conditional_write_lands_only_on_the_version_it_read(store: ObjectStore, s3_prefix: str) -> None:
    key = f"{s3_prefix}list"
    first = store.put_bytes_if(key, b"one", None)  # None: only while the key does not exist
    with pytest.raises(Changed):
        store.put_bytes_if(key, b"again", None)
    data, version = store.get_versioned(key)
    assert (data, version) == (b"one", first)

    second = store.put_bytes_if(key, b"two", version)
    with pytest.raises(Changed):  # a writer still holding the first version lost the race
        store.put_bytes_if(key, b"stale", version)
    assert store.get_versioned(key) == (b"two", second) and second != first

    store.put_bytes(key, b"plain")  # an unconditional write is a new version too
    with pytest.raises(Changed):
        store.put_bytes_if(key, b"stale", second)
    assert store.get_bytes(key) == b"plain"
    with pytest.raises(NotFound):
        store.get_versioned(f"{s3_prefix}missing")


def test_local_conditional_writes_leave_no_file_behind_but_their_one_lock(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    for task in ("a", "b", "c"):
        store.put_bytes_if(f"tasks/{task}/transcripts/denoised.list", b"x", None)

    assert [p.name for p in (tmp_path / "store" / ".sovits-tmp").iterdir()] == ["conditional-writes.lock"]
    assert store.remove_partial_writes() == 0  # the lock is not a write cut short
    assert store.delete_prefix("tasks/") == 3 and list(store.iter_objects("")) == []


def test_put_get_and_list_round_trip(store: ObjectStore, s3_prefix: str, tmp_path: Path) -> None:
    local = tmp_path / "b.bin"
    local.write_bytes(b"bee" * 100)
    store.put_bytes(f"{s3_prefix}a.txt", b"hello")
    store.put_file(f"{s3_prefix}sub/b.bin", local)

    assert store.get_bytes(f"{s3_prefix}a.txt") == b"hello"
    listed = list(store.iter_objects(s3_prefix))
    assert [(i.key, i.size) for i in listed] == [(f"{s3_prefix}a.txt", 5), (f"{s3_prefix}sub/b.bin", 300)]
    assert all(isinstance(i.last_modified, datetime) and i.last_modified.tzinfo for i in listed)
    assert [i.key for i in store.iter_objects(f"{s3_prefix}sub/")] == [f"{s3_prefix}sub/b.bin"]
    assert store.exists(f"{s3_prefix}a.txt")
    assert not store.exists(f"{s3_prefix}nothing")


def test_twenty_megabyte_file_uploads_in_parts_and_reads_back_whole(
    store: ObjectStore, s3_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = os.urandom(20 * MB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    store.put_file(f"{s3_prefix}big.bin", src)

    out = tmp_path / "copy" / "big.bin"
    store.download_file(f"{s3_prefix}big.bin", out)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    if isinstance(store, S3ObjectStore):
        head = store.client.head_object(Bucket=store.bucket, Key=f"{s3_prefix}big.bin")
        assert head["ETag"].strip('"').endswith("-3")  # three 8 MiB parts


def test_stream_upload_needs_no_seeking(store: ObjectStore, s3_prefix: str) -> None:
    stream = ChunkStream(20 * MB + 123)
    written = store.put_stream(f"{s3_prefix}upload.wav", stream)  # type: ignore[arg-type]
    assert written == 20 * MB + 123
    assert hashlib.sha256(store.get_bytes(f"{s3_prefix}upload.wav")).digest() == stream.digest.digest()


@pytest.mark.parametrize("good", [1 * MB, 20 * MB], ids=["single-part", "multipart"])
def test_stream_that_fails_midway_leaves_no_object(store: ObjectStore, s3_prefix: str, good: int) -> None:
    key = f"{s3_prefix}broken.wav"
    with pytest.raises(ConnectionResetError):
        store.put_stream(key, FailingStream(good))  # type: ignore[arg-type]
    assert not store.exists(key)
    assert list(store.iter_objects(s3_prefix)) == []
    if isinstance(store, S3ObjectStore):
        pending = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=s3_prefix)
        assert pending.get("Uploads", []) == []


def test_stream_over_the_limit_is_refused_and_leaves_no_object(store: ObjectStore, s3_prefix: str) -> None:
    key = f"{s3_prefix}huge.wav"
    with pytest.raises(InvalidInput) as err:
        store.put_stream(key, ChunkStream(12 * MB), limit=10 * MB)  # type: ignore[arg-type]
    assert err.value.field == "file"
    assert not store.exists(key)


def test_failed_overwrite_keeps_the_previous_version(store: ObjectStore, s3_prefix: str) -> None:
    key = f"{s3_prefix}keep.txt"
    store.put_bytes(key, b"old")
    with pytest.raises(ConnectionResetError):
        store.put_stream(key, FailingStream(10 * MB))  # type: ignore[arg-type]
    assert store.get_bytes(key) == b"old"


def test_presigned_get_serves_the_object_over_plain_http(store: ObjectStore, s3_prefix: str) -> None:
    store.put_bytes(f"{s3_prefix}result.wav", b"RIFF-bytes")
    url = store.presign_get(f"{s3_prefix}result.wav", 60)
    if isinstance(store, LocalObjectStore):
        assert url is None
        return
    assert url is not None
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"RIFF-bytes"


def test_missing_key_is_not_found(store: ObjectStore, s3_prefix: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        store.get_bytes(f"{s3_prefix}missing")
    with pytest.raises(NotFound):
        store.download_file(f"{s3_prefix}missing", tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_iter_bytes_streams_the_object_in_chunks_of_at_most_the_asked_size(store: ObjectStore, s3_prefix: str) -> None:
    data = os.urandom(3 * MB + 5)
    store.put_bytes(f"{s3_prefix}big.wav", data)
    chunks = list(store.iter_bytes(f"{s3_prefix}big.wav", MB))
    assert b"".join(chunks) == data
    assert len(chunks) >= 4
    assert all(0 < len(c) <= MB for c in chunks)


def test_iter_bytes_of_a_missing_key_is_not_found_at_the_first_chunk(store: ObjectStore, s3_prefix: str) -> None:
    chunks = store.iter_bytes(f"{s3_prefix}missing")  # opening reads nothing yet
    with pytest.raises(NotFound):
        next(chunks)


def test_iter_bytes_refuses_a_bad_key_before_reading(store: ObjectStore) -> None:
    with pytest.raises(InvalidInput):
        store.iter_bytes("a/../b")


def test_get_tail_answers_the_last_bytes_or_the_whole_object(store: ObjectStore, s3_prefix: str) -> None:
    key = f"{s3_prefix}logs/convert_audio.log"
    store.put_bytes(key, b"0123456789")
    assert store.get_tail(key, 4) == b"6789"
    assert store.get_tail(key, 10) == b"0123456789"
    assert store.get_tail(key, 100) == b"0123456789"
    assert store.get_tail(key, 0) == b""
    store.put_bytes(f"{s3_prefix}empty.log", b"")
    assert store.get_tail(f"{s3_prefix}empty.log", 10) == b""
    with pytest.raises(NotFound):
        store.get_tail(f"{s3_prefix}missing.log", 10)
    with pytest.raises(NotFound):
        store.get_tail(f"{s3_prefix}missing.log", 0)


def test_get_tail_on_s3_asks_the_server_for_a_suffix_range(s3_store: S3Store, s3_prefix: str) -> None:
    store = s3_backend(s3_store)
    key = f"{s3_prefix}big.log"
    store.put_bytes(key, os.urandom(2 * MB) + b"the end\n")
    ranges: list[bytes] = []
    store.client.meta.events.register(
        "before-send.s3.GetObject", lambda request, **_: ranges.append(request.headers.get("Range"))
    )
    assert store.get_tail(key, 8) == b"the end\n"
    assert ranges == [b"bytes=-8"]  # only the end travels, not the 2 MiB before it


def test_delete_prefix_removes_only_that_prefix(store: ObjectStore, s3_prefix: str) -> None:
    for key in ("a/1", "a/2", "a/sub/3", "ab/4", "b/5"):
        store.put_bytes(f"{s3_prefix}{key}", b"x")
    assert store.delete_prefix(f"{s3_prefix}a/") == 3
    assert [i.key for i in store.iter_objects(s3_prefix)] == [f"{s3_prefix}ab/4", f"{s3_prefix}b/5"]
    store.delete(f"{s3_prefix}b/5")
    assert not store.exists(f"{s3_prefix}b/5")


def test_deleting_everything_is_refused(store: ObjectStore) -> None:
    with pytest.raises(InvalidInput):
        store.delete_prefix("")


@pytest.fixture
def task(store: ObjectStore, s3_prefix: str) -> TaskFiles:
    return TaskFiles(store, f"{s3_prefix}tasks/t1/")


def test_task_files_list_keys_relative_to_the_task(task: TaskFiles, store: ObjectStore) -> None:
    task.put_bytes("input_audio/a.wav", b"a")
    store.put_bytes(task.prefix.replace("t1/", "t2/") + "input_audio/b.wav", b"b")
    assert [i.key for i in task.list()] == ["input_audio/a.wav"]
    assert task.get_bytes("input_audio/a.wav") == b"a"
    assert b"".join(task.iter_bytes("input_audio/a.wav")) == b"a"
    assert task.get_tail("input_audio/a.wav", 5) == b"a"
    assert task.delete_prefix() == 1


@pytest.mark.parametrize(
    "rel",
    ["../t2/x.wav", "input_audio/../../t2/x.wav", "/etc/passwd", "input_audio\\..\\x", "a\x00b", "", "a//b", "./a"],
)
def test_task_files_refuse_keys_that_escape_the_prefix(task: TaskFiles, rel: str) -> None:
    with pytest.raises(InvalidInput):
        task.put_bytes(rel, b"x")
    with pytest.raises(InvalidInput):
        task.get_bytes(rel)
    with pytest.raises(InvalidInput):
        task.iter_bytes(rel)
    with pytest.raises(InvalidInput):
        task.get_tail(rel, 10)


def test_check_key_names_the_field_and_reason() -> None:
    with pytest.raises(InvalidInput) as err:
        check_key("a/../b", field="filename")
    assert err.value.field == "filename"
    assert "'..'" in err.value.message
    assert check_key("tasks/t1/", prefix=True) == "tasks/t1/"


def test_unreachable_store_is_storage_unavailable(s3_prefix: str) -> None:
    (port,) = free_ports(1)
    store = S3ObjectStore(
        bucket="b", endpoint_url=f"http://127.0.0.1:{port}", access_key_id="k", secret_access_key="s",
        max_attempts=1, connect_timeout_s=1,
    )  # fmt: skip
    with pytest.raises(StorageUnavailable) as err:
        store.get_bytes(f"{s3_prefix}x")
    assert err.value.retryable
    with pytest.raises(StorageUnavailable):
        store.put_bytes(f"{s3_prefix}x", b"x")


def test_open_store_picks_the_configured_backend(tmp_path: Path) -> None:
    local = open_store(StorageSettings(backend="local", local_root=tmp_path))
    assert isinstance(local, LocalObjectStore)
    assert not any(tmp_path.iterdir())  # opening does no I/O
    s3 = open_store(StorageSettings(backend="s3", bucket="voices", endpoint_url="http://127.0.0.1:1"))
    assert isinstance(s3, S3ObjectStore)
    assert s3.bucket == "voices"
