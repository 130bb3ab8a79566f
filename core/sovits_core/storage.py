"""The object store shared by the operator, the API and the step runner.

One interface, two backends with the same key layout: S3 (boto3) for clusters and a local
directory for ``sovits local``. Readers never see a partly written object: an S3 PUT or a
completed multipart upload appears whole, and the local backend writes a temporary file
and renames it into place. Keys handed in by users go through ``TaskFiles``, which keeps
them inside one task's prefix. Reads stream: ``iter_bytes`` hands out chunks and ``get_tail``
reads only an object's end, so a large download or log never sits whole in memory.

Read-modify-write of a small document (the transcript a user proofreads through any API
replica) goes through ``get_versioned`` and ``put_bytes_if``: the write lands only while the
object is still the version read (S3's conditional PUT, If-Match / If-None-Match; the local
backend compares a content hash under a file lock), else ``Changed``.

Errors leave this module as domain errors: ``NotFound`` for a missing key,
``StorageUnavailable`` when the store cannot be reached or keeps failing (retryable),
``Changed`` for a conditional write that lost its race, and ``InvalidInput`` for a key that
escapes its prefix.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from .errors import Conflict, InvalidInput, NotFound, SovitsError, StorageUnavailable

if TYPE_CHECKING:
    from .model import TrainingTask
    from .settings import Settings, StorageSettings

CHUNK = 8 * 1024 * 1024  # multipart part size and local copy buffer
MAX_KEY_BYTES = 1024  # S3's limit
PARTIAL_WRITES = ".sovits-tmp"  # in-root folder for local writes in flight; never listed
CONDITIONAL_LOCK = "conditional-writes.lock"  # in PARTIAL_WRITES: the lock of put_bytes_if


class Changed(Conflict):
    """A conditional write found the object changed (or created, or removed) since it was read."""

    code = "changed"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


class ObjectStore(Protocol):
    """What every backend offers; keys are full keys within the bucket or root."""

    def put_file(self, key: str, path: Path) -> None: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_stream(self, key: str, stream: IO[bytes], *, limit: int | None = None) -> int: ...
    def get_bytes(self, key: str) -> bytes: ...
    def get_versioned(self, key: str) -> tuple[bytes, str]:
        """The object and an opaque tag of this version of it (NotFound when missing)."""
        ...

    def put_bytes_if(self, key: str, data: bytes, version: str | None) -> str:
        """Write ``data`` only if the object is still ``version`` (None: only if it does not
        exist); the new version's tag, or ``Changed``."""
        ...

    def iter_bytes(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        """The object in chunks of at most ``chunk`` bytes; lazy: NotFound comes with the first chunk."""
        ...

    def get_tail(self, key: str, size: int) -> bytes:
        """The object's last ``size`` bytes (the whole object when it is shorter)."""
        ...

    def download_file(self, key: str, path: Path) -> None: ...
    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def presign_get(self, key: str, expires_s: int | None = None) -> str | None: ...


def check_key(key: str, *, field: str = "key", prefix: bool = False) -> str:
    """``key`` if it is a clean relative key, else InvalidInput saying why.

    Refused: empty (unless ``prefix``), absolute, ``.``/``..`` or empty segments, NUL and
    other control characters, backslashes (a Windows path in disguise), over 1024 bytes.
    A prefix may end with ``/``; an object key may not.
    """

    def bad(reason: str) -> InvalidInput:
        return InvalidInput(f"{field}: {key!r} {reason}", field=field)

    if key == "":
        if prefix:
            return key
        raise bad("is empty")
    if any(ord(c) < 0x20 or c == "\x7f" for c in key):
        raise bad("contains a control character")
    if "\\" in key:
        raise bad("contains a backslash")
    if key.startswith("/"):
        raise bad("is absolute")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise bad(f"is longer than {MAX_KEY_BYTES} bytes")
    parts = key.split("/")
    if prefix and parts[-1] == "":
        parts = parts[:-1]
    for part in parts:
        if part in ("", ".", ".."):
            raise bad("has an empty, '.' or '..' segment")
    if parts[0] == PARTIAL_WRITES:
        raise bad(f"uses the reserved folder {PARTIAL_WRITES}")
    return key


def confine(prefix: str, rel: str, *, field: str = "path", folder: bool = False) -> str:
    """The full key of ``rel`` inside ``prefix``; refuses anything that would leave it."""
    return prefix + check_key(rel, field=field, prefix=folder)


def task_prefix(task: TrainingTask, settings: Settings) -> str:
    """The task's folder in the object store: its spec's prefix, or ``{tasks_prefix}{name}/``."""
    prefix = task.spec.storage.prefix or f"{settings.storage.tasks_prefix}{task.metadata.name}/"
    return prefix if prefix.endswith("/") else prefix + "/"


class TaskFiles:
    """One task's files in a store: every key is relative to the task prefix and checked."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        check_key(prefix, field="prefix", prefix=True)
        if not prefix.endswith("/"):
            raise InvalidInput(f"prefix: {prefix!r} must end with '/'", field="prefix")
        self.store = store
        self.prefix = prefix

    def key(self, rel: str, *, folder: bool = False) -> str:
        return confine(self.prefix, rel, folder=folder)

    def put_file(self, rel: str, path: Path) -> None:
        self.store.put_file(self.key(rel), path)

    def put_bytes(self, rel: str, data: bytes) -> None:
        self.store.put_bytes(self.key(rel), data)

    def put_stream(self, rel: str, stream: IO[bytes], *, limit: int | None = None) -> int:
        return self.store.put_stream(self.key(rel), stream, limit=limit)

    def get_bytes(self, rel: str) -> bytes:
        return self.store.get_bytes(self.key(rel))

    def get_versioned(self, rel: str) -> tuple[bytes, str]:
        return self.store.get_versioned(self.key(rel))

    def put_bytes_if(self, rel: str, data: bytes, version: str | None) -> str:
        return self.store.put_bytes_if(self.key(rel), data, version)

    def iter_bytes(self, rel: str, chunk: int = CHUNK) -> Iterator[bytes]:
        return self.store.iter_bytes(self.key(rel), chunk)

    def get_tail(self, rel: str, size: int) -> bytes:
        return self.store.get_tail(self.key(rel), size)

    def download_file(self, rel: str, path: Path) -> None:
        self.store.download_file(self.key(rel), path)

    def iter_objects(self, rel_prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``rel_prefix``, keys relative to the task prefix."""
        cut = len(self.prefix)
        for info in self.store.iter_objects(self.key(rel_prefix, folder=True)):
            yield ObjectInfo(info.key[cut:], info.size, info.last_modified)

    def list(self, rel_prefix: str = "") -> list[ObjectInfo]:
        return list(self.iter_objects(rel_prefix))

    def exists(self, rel: str) -> bool:
        return self.store.exists(self.key(rel))

    def delete(self, rel: str) -> None:
        self.store.delete(self.key(rel))

    def delete_prefix(self, rel_prefix: str = "") -> int:
        return self.store.delete_prefix(self.key(rel_prefix, folder=True))

    def presign_get(self, rel: str, expires_s: int | None = None) -> str | None:
        return self.store.presign_get(self.key(rel), expires_s)


class _Limited:
    """A read-only view of a stream that refuses to yield more than ``limit`` bytes."""

    def __init__(self, stream: IO[bytes], limit: int | None) -> None:
        self._stream = stream
        self._limit = limit
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        if self._limit is not None and self.count > self._limit:
            raise InvalidInput(f"upload is larger than the limit of {self._limit} bytes", field="file")
        return data


class LocalObjectStore:
    """A directory with the same key layout as the bucket; ``presign_get`` gives None."""

    def __init__(self, root: Path, presign_expiry_s: int = 900) -> None:
        self.root = root
        self.presign_expiry_s = presign_expiry_s

    def _path(self, key: str, *, prefix: bool = False) -> Path:
        return self.root / check_key(key, prefix=prefix)

    def _atomic_write(self, key: str, fill: Any) -> int:
        """Write through a temporary file in the root, then rename it over the key."""
        target = self._path(key)
        tmp_dir = self.root / PARTIAL_WRITES
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / uuid.uuid4().hex
        try:
            with tmp.open("wb") as out:
                written = int(fill(out))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            return written
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, key: str, path: Path) -> None:
        def fill(out: IO[bytes]) -> int:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
            return 0

        self._atomic_write(key, fill)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(key, lambda out: out.write(data))

    def put_stream(self, key: str, stream: IO[bytes], *, limit: int | None = None) -> int:
        limited = _Limited(stream, limit)

        def fill(out: IO[bytes]) -> int:
            while data := limited.read(CHUNK):
                out.write(data)
            return limited.count

        return self._atomic_write(key, fill)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key}", field="key") from None

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        data = self.get_bytes(key)
        return data, _content_tag(data)

    def put_bytes_if(self, key: str, data: bytes, version: str | None) -> str:
        lock = self.root / PARTIAL_WRITES / CONDITIONAL_LOCK
        lock.parent.mkdir(parents=True, exist_ok=True)
        # One lock for the store: conditional writes (a transcript edit) are rare and small, and a
        # lock file per key would outlive the task's files.
        with lock.open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                current: str | None = _content_tag(self._path(key).read_bytes())
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                current = None
            if current != version:
                raise Changed(f"{key} changed since it was read", field="key")
            self.put_bytes(key, data)
        return _content_tag(data)

    def iter_bytes(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        path = self._path(key)

        def chunks() -> Iterator[bytes]:
            with self._open(key, path) as handle:
                while data := handle.read(chunk):
                    yield data

        return chunks()

    def get_tail(self, key: str, size: int) -> bytes:
        path = self._path(key)
        with self._open(key, path) as handle:
            end = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, end - max(0, size)))
            return handle.read()

    @staticmethod
    def _open(key: str, path: Path) -> IO[bytes]:
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key}", field="key") from None

    def download_file(self, key: str, path: Path) -> None:
        src = self._path(key)
        if not src.is_file():
            raise NotFound(f"no object {key}", field="key")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        check_key(prefix, field="prefix", prefix=True)
        # Walk only the deepest folder the prefix names, then filter by string prefix as S3 does.
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(base):
            if Path(dirpath) == self.root and PARTIAL_WRITES in dirnames:
                dirnames.remove(PARTIAL_WRITES)
            for name in filenames:
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    st = path.stat()
                    found.append(ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
        yield from sorted(found, key=lambda info: info.key.encode("utf-8"))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise InvalidInput("prefix: refusing to delete the whole store", field="prefix")
        count = 0
        for info in list(self.iter_objects(prefix)):
            self.delete(info.key)
            count += 1
        return count

    def _prune(self, folder: Path) -> None:
        """Remove folders left empty, so a deleted prefix leaves no trace."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def presign_get(self, key: str, expires_s: int | None = None) -> str | None:
        check_key(key)
        return None

    def remove_partial_writes(self) -> int:
        """Delete the temporary files of writes that never finished (their writer was killed).
        Only safe while nothing writes to the store: at start, before any writer runs."""
        tmp_dir = self.root / PARTIAL_WRITES
        if not tmp_dir.is_dir():
            return 0
        count = 0
        for leftover in tmp_dir.iterdir():
            if leftover.name == CONDITIONAL_LOCK:
                continue
            leftover.unlink(missing_ok=True)
            count += 1
        return count


class S3ObjectStore:
    """S3 through boto3: retried requests, concurrent multipart transfers."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        presign_expiry_s: int = 900,
        max_attempts: int = 5,
        concurrency: int = 8,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self.presign_expiry_s = presign_expiry_s
        self.max_attempts = max_attempts
        self.concurrency = concurrency
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s

    @cached_property
    def client(self) -> Any:
        # Built on first use: creating a client reads botocore's data files.
        import boto3
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            # Staging moves several files at once, each in up to ``concurrency`` parts.
            max_pool_connections=self.concurrency * 8,
        )
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=config,
        )

    @cached_property
    def transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=CHUNK,
            multipart_chunksize=CHUNK,
            max_concurrency=self.concurrency,
            num_download_attempts=self.max_attempts,
            use_threads=True,
        )

    def _call(self, what: str, key: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SovitsError:
            raise
        except Exception as exc:
            translated = _translate(exc, what, self.bucket, key)
            if translated is exc:
                raise
            raise translated from exc

    def put_file(self, key: str, path: Path) -> None:
        check_key(key)
        self._call("upload", key, self.client.upload_file, str(path), self.bucket, key, Config=self.transfer_config)

    def put_bytes(self, key: str, data: bytes) -> None:
        check_key(key)
        self._call("put", key, self.client.put_object, Bucket=self.bucket, Key=key, Body=data)

    def put_stream(self, key: str, stream: IO[bytes], *, limit: int | None = None) -> int:
        # A stream that fails midway aborts the multipart upload, so no object appears.
        check_key(key)
        limited = _Limited(stream, limit)
        self._call("upload", key, self.client.upload_fileobj, limited, self.bucket, key, Config=self.transfer_config)
        return limited.count

    def get_bytes(self, key: str) -> bytes:
        return self.get_versioned(key)[0]

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        check_key(key)
        response = self._call("get", key, self.client.get_object, Bucket=self.bucket, Key=key)
        return bytes(self._call("get", key, response["Body"].read)), str(response["ETag"])

    def put_bytes_if(self, key: str, data: bytes, version: str | None) -> str:
        check_key(key)
        condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}
        response = self._call("put", key, self.client.put_object, Bucket=self.bucket, Key=key, Body=data, **condition)
        return str(response["ETag"])

    def iter_bytes(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        check_key(key)

        def chunks() -> Iterator[bytes]:
            body = self._call("get", key, self.client.get_object, Bucket=self.bucket, Key=key)["Body"]
            try:
                pieces = body.iter_chunks(chunk)
                while (data := self._call("get", key, next, pieces, None)) is not None:
                    yield data
            finally:
                body.close()

        return chunks()

    def get_tail(self, key: str, size: int) -> bytes:
        check_key(key)
        if size <= 0:
            # A zero-length suffix range is invalid in HTTP; the answer is known anyway.
            self._call("head", key, self.client.head_object, Bucket=self.bucket, Key=key)
            return b""
        response = self._call("get", key, self._suffix_range, key, size)
        if response is None:
            return b""
        return bytes(self._call("get", key, response["Body"].read))

    def _suffix_range(self, key: str, size: int) -> Any:
        """GET with ``Range: bytes=-size``; None for an empty object, which has no range to serve."""
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=-{size}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return None
            raise

    def download_file(self, key: str, path: Path) -> None:
        # s3transfer writes to a temporary name beside ``path`` and renames it when complete.
        check_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._call("download", key, self.client.download_file, self.bucket, key, str(path), Config=self.transfer_config)

    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        check_key(prefix, field="prefix", prefix=True)
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        iterator = iter(pages)
        while True:
            page = self._call("list", prefix, next, iterator, None)
            if page is None:
                return
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], int(item["Size"]), item["LastModified"])

    def exists(self, key: str) -> bool:
        check_key(key)
        try:
            self._call("head", key, self.client.head_object, Bucket=self.bucket, Key=key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        check_key(key)
        self._call("delete", key, self.client.delete_object, Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise InvalidInput("prefix: refusing to delete the whole bucket", field="prefix")
        keys = [info.key for info in self.iter_objects(prefix)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = {"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True}
            result = self._call("delete", prefix, self.client.delete_objects, Bucket=self.bucket, Delete=batch)
            if result.get("Errors"):
                first = result["Errors"][0]
                raise StorageUnavailable(f"delete {first.get('Key')}: {first.get('Message')}")
        return len(keys)

    def presign_get(self, key: str, expires_s: int | None = None) -> str | None:
        check_key(key)
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=expires_s or self.presign_expiry_s,
            )
        )


_MISSING = {"404", "NoSuchKey", "NotFound"}
# A conditional PUT that lost: 412, or 409 when another conditional write was in flight (AWS).
_CHANGED = {"PreconditionFailed", "ConditionalRequestConflict"}


def _translate(exc: Exception, what: str, bucket: str, key: str) -> Exception:
    """One place that turns botocore's exceptions into domain errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _MISSING or (status == 404 and code != "NoSuchBucket"):
            return NotFound(f"no object {key} in bucket {bucket}", field="key")
        if code in _CHANGED or status == 412:
            return Changed(f"{key} changed since it was read", field="key")
        return StorageUnavailable(f"{what} {bucket}/{key}: {code or status} {exc}")
    if isinstance(exc, BotoCoreError):
        return StorageUnavailable(f"{what} {bucket}/{key}: {exc}")
    # s3transfer wraps a 404 during download's HEAD in a ClientError; anything else (an OSError
    # from the local file, a stream that raised) is not the store's fault and passes through.
    return exc


def _content_tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_store(settings: StorageSettings) -> ObjectStore:
    """The backend the settings name; nothing is contacted until the first call."""
    if settings.backend == "local":
        return LocalObjectStore(settings.local_root, settings.presign_expiry_s)
    return S3ObjectStore(
        bucket=settings.bucket,
        endpoint_url=settings.endpoint_url,
        region=settings.region,
        access_key_id=settings.access_key_id.get_secret_value() if settings.access_key_id else None,
        secret_access_key=(settings.secret_access_key.get_secret_value() if settings.secret_access_key else None),
        presign_expiry_s=settings.presign_expiry_s,
        max_attempts=settings.max_attempts,
    )
