"""Uploads streamed from the request body into the object store, never held whole in memory.

The multipart body is parsed incrementally; the first bytes of the ``file`` part decide what
it is (``sniff``), then the rest flows through a small bounded queue into ``put_stream`` in
a worker thread (boto3 multipart for S3, a temporary file renamed into place locally). An
upload that passes the size limit, or whose client goes away, is aborted: no object appears.

Audio lands in ``input_audio/``; a ``.list`` transcript (upstream's ``path|speaker|LANG|text``)
in ``transcripts/``, where asr_transcribe finds and validates it instead of running ASR.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from sovits_core import contract, storage
from sovits_core.errors import InvalidInput, SovitsError

from . import filenames, sniff
from .errors import PayloadTooLarge, UnsupportedMediaType

AUDIO_DIR = "input_audio/"
TRANSCRIPT_DIR = "transcripts/"
TRANSCRIPT_SUFFIX = ".list"
MAX_TRANSCRIPT_BYTES = 16 * 1024 * 1024
FILE_FIELD = "file"
_QUEUE_CHUNKS = 8  # chunks buffered between the request and the store (a few hundred KiB)


@dataclass(frozen=True)
class Uploaded:
    filename: str
    path: str  # relative to the task prefix
    size: int
    media_type: str


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    is_file: bool = False
    filename: str | None = None


class FilePart:
    """Incremental multipart parsing that keeps only the ``file`` field's name and bytes."""

    def __init__(self, content_type: str) -> None:
        ctype, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise InvalidInput("file: the body must be multipart/form-data with a 'file' field", field=FILE_FIELD)
        self.found = False
        self.filename: str | None = None
        self.ended = False
        self._data: list[bytes] = []
        self._part = _Part()
        self._header_field = b""
        self._header_value = b""
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._on_data,
                "on_part_end": self._part_end,
            },
        )

    def feed(self, chunk: bytes) -> list[bytes]:
        """The file bytes ``chunk`` carried (possibly none)."""
        try:
            self._parser.write(chunk)
        except Exception as exc:  # python_multipart raises its own errors on malformed bodies
            raise InvalidInput(f"file: malformed multipart body: {exc}", field=FILE_FIELD) from exc
        data, self._data = self._data, []
        return data

    def finish(self) -> None:
        self._parser.finalize()
        if not self.found:
            raise InvalidInput("file: the multipart body has no 'file' field", field=FILE_FIELD)
        if not self.ended:
            raise InvalidInput("file: the multipart body ended inside the file", field=FILE_FIELD)

    def _begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._part.headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        if options.get(b"name") == FILE_FIELD.encode() and not self.found:
            self.found = self._part.is_file = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", errors="replace") if raw is not None else None

    def _on_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.is_file:
            self._data.append(bytes(data[start:end]))

    def _part_end(self) -> None:
        if self._part.is_file:
            self.ended = True


class _Aborted(Exception):
    """Stops the store's reader; boto3 then aborts the multipart upload."""


class _Pipe:
    """A read()-able end for the uploading thread, filled from the event loop."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(_QUEUE_CHUNKS)
        self._buffer = b""
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            item = self._queue.get()
            if item is None:
                self._done = True
            elif isinstance(item, BaseException):
                self._done = True
                raise item
            else:
                self._buffer += item
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    async def put(self, item: bytes | BaseException | None, consumer: asyncio.Future[Any]) -> None:
        while not consumer.done():
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.005)  # the thread is busy uploading; let it drain

    def abort(self, exc: BaseException) -> None:
        """Make the next read raise, dropping what is still queued (called from the loop)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(exc)


class Reservations:
    """Names being uploaded right now, so two concurrent uploads never pick the same one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: set[str] = set()

    def reserve(self, objects: storage.TaskFiles, folder: str, wanted: str) -> str:
        """The name ``wanted`` gets (numbered when taken); blocking: call in a thread."""
        with self._lock:
            name = filenames.numbered(
                wanted,
                lambda n: objects.key(folder + n) in self._names or objects.exists(folder + n),
            )
            self._names.add(objects.key(folder + name))
            return name

    def release(self, objects: storage.TaskFiles, folder: str, name: str) -> None:
        with self._lock:
            self._names.discard(objects.key(folder + name))


async def receive(
    chunks: AsyncIterator[bytes],
    content_type: str,
    objects: storage.TaskFiles,
    limit: int,
    reservations: Reservations,
) -> Uploaded:
    part = FilePart(content_type)
    body = aiter(chunks)
    head = b""
    async for chunk in body:
        head += b"".join(part.feed(chunk))
        if len(head) >= sniff.HEAD_BYTES or part.ended:
            break
    else:
        part.finish()
    _check_size(len(head), limit)
    name = filenames.sanitize(part.filename)
    if not head:
        raise InvalidInput(f"file: {name!r} is an empty file", field=FILE_FIELD)
    if name.lower().endswith(TRANSCRIPT_SUFFIX):
        return await _transcript(part, body, head, name, objects, min(limit, MAX_TRANSCRIPT_BYTES))
    detected = await asyncio.to_thread(sniff.detect, head[: sniff.HEAD_BYTES])
    if not detected.accepted:
        raise UnsupportedMediaType(
            f"file: {name!r} is {detected.format} ({detected.media_type}); accepted audio formats: "
            f"{', '.join(sniff.ACCEPTED_FORMATS)}, or a {TRANSCRIPT_SUFFIX} transcript",
            field=FILE_FIELD,
        )
    name = filenames.with_extension(name, detected.ext)
    name = await asyncio.to_thread(reservations.reserve, objects, AUDIO_DIR, name)
    try:
        size = await _stream(part, body, head, objects, AUDIO_DIR + name, limit)
        if detected.format == "m4a":  # any MP4 brand; only its moov box tells what it holds
            await asyncio.to_thread(_check_audio_stream, objects, AUDIO_DIR + name, name)
    finally:
        reservations.release(objects, AUDIO_DIR, name)
    return Uploaded(name, AUDIO_DIR + name, size, detected.media_type)


def _check_audio_stream(objects: storage.TaskFiles, rel: str, name: str) -> None:
    """Refuse (and remove) an MP4 without audio, as convert_audio would later (blocking)."""
    if sniff.audio_streams(objects.iter_bytes(rel)) == 0:
        objects.delete(rel)
        raise UnsupportedMediaType(
            f"file: {name!r} is an MP4 with no audio stream (video only); upload its audio", field=FILE_FIELD
        )


async def _stream(
    part: FilePart, body: AsyncIterator[bytes], head: bytes, objects: storage.TaskFiles, rel: str, limit: int
) -> int:
    pipe = _Pipe()
    upload = asyncio.ensure_future(asyncio.to_thread(objects.put_stream, rel, pipe, limit=limit))  # type: ignore[arg-type]
    try:
        await pipe.put(head, upload)
        total = len(head)
        if not part.ended:
            async for chunk in body:
                for data in part.feed(chunk):
                    total += len(data)
                    _check_size(total, limit)
                    await pipe.put(data, upload)
                if upload.done():  # the store failed: its error is the answer
                    break
                if part.ended:
                    break
            if not upload.done():
                part.finish()
        await pipe.put(None, upload)
    except BaseException as exc:  # too large, a malformed body, the client gone, cancellation
        pipe.abort(_Aborted(str(exc)))
        with contextlib.suppress(_Aborted, SovitsError, OSError):
            await upload
        raise
    return int(await upload)


async def _transcript(
    part: FilePart, body: AsyncIterator[bytes], head: bytes, name: str, objects: storage.TaskFiles, limit: int
) -> Uploaded:
    data = head
    if not part.ended:
        async for chunk in body:
            data += b"".join(part.feed(chunk))
            _check_size(len(data), limit)
            if part.ended:
                break
        part.finish()
    _check_size(len(data), limit)
    check_transcript(data, name)
    name = await asyncio.to_thread(_reserve_free, objects, name)
    await asyncio.to_thread(objects.put_bytes, TRANSCRIPT_DIR + name, data)
    return Uploaded(name, TRANSCRIPT_DIR + name, len(data), "text/plain")


# asr_transcribe writes its own result under this name; an upload must not pose as it.
ASR_OUTPUT_NAME = contract.ASR_TRANSCRIPT_KEY.removeprefix(TRANSCRIPT_DIR)


def _reserve_free(objects: storage.TaskFiles, name: str) -> str:
    return filenames.numbered(name, lambda n: n == ASR_OUTPUT_NAME or objects.exists(TRANSCRIPT_DIR + n))


def check_transcript(data: bytes, name: str) -> None:
    """Upstream's .list shape: UTF-8 lines ``path|speaker|LANG|text``; the step checks the rest."""
    if not sniff.is_transcript_text(data):
        raise UnsupportedMediaType(f"file: {name!r} is not UTF-8 text", field=FILE_FIELD)
    lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
    if not lines:
        raise InvalidInput(f"file: {name!r} has no transcript lines", field=FILE_FIELD)
    for number, line in enumerate(lines, 1):
        fields = line.split("|", 3)
        if len(fields) != 4 or not fields[0].strip() or not fields[3].strip():
            raise InvalidInput(f"file: {name!r} line {number}: expected path|speaker|language|text", field=FILE_FIELD)


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise PayloadTooLarge(f"file: larger than the limit of {limit} bytes", field=FILE_FIELD)
