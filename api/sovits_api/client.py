"""A Python client for the training service, shaped like the seed's ``TrainingClient``.

The seed's methods keep their names, arguments and return values (the JSON dicts), so code
written against the seed's example moves over unchanged; HTTP errors raise ``ApiError``
(status and detail) instead of returning the error body. Beyond the seed: a bearer token,
uploads streamed from disk with a progress bar, ``wait_for_completion`` with a progress bar,
listing, logs, downloads, cancel and delete.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import quote

import requests
from tqdm import tqdm

DEFAULT_URL = "http://127.0.0.1:8000/api/v1"
FINISHED = ("completed", "failed", "cancelled")


class ApiError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class TrainingClient:
    def __init__(
        self, base_url: str = DEFAULT_URL, token: str | None = None, timeout: float = 60.0, progress: bool = True
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.progress = progress
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # -- the seed's methods ----------------------------------------------------------------

    def create_task(self, task_name: str, config: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/task/create", json={"task_name": task_name, "config": config})

    def upload_audio(self, task_id: str, audio_file_path: str | os.PathLike[str]) -> dict[str, Any]:
        path = Path(audio_file_path)
        size = path.stat().st_size
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; {_filename(path.name)}\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        with path.open("rb") as source, self._bar(size, f"upload {path.name}", unit="B") as bar:
            body = _MultipartBody(head, source, size, tail, bar)
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            return self._json("POST", f"/task/{task_id}/files/upload", data=body, headers=headers)

    def execute_step(self, task_id: str, step_name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._json("POST", f"/task/{task_id}/step/{step_name}", json={"params": params or {}})

    def get_task_status(self, task_id: str) -> dict[str, Any]:
        return self._json("GET", f"/task/{task_id}")

    def wait_for_completion(self, task_id: str, timeout: float = 3600, interval: float = 2.0) -> dict[str, Any]:
        """Poll until the task is completed, failed or cancelled; a bar shows progress and step."""
        deadline = time.monotonic() + timeout
        with self._bar(100, "waiting", unit="%") as bar:
            while True:
                status = self.get_task_status(task_id)
                bar.set_description(status.get("current_step") or status["status"])
                bar.update(max(0.0, float(status.get("progress") or 0.0) - bar.n))
                if status["status"] in FINISHED:
                    return status
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"task {task_id} still {status['status']} after {timeout}s")
                time.sleep(interval)

    # -- beyond the seed -------------------------------------------------------------------

    def list_tasks(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._any("GET", "/tasks"))

    def cancel_task(self, task_id: str) -> dict[str, Any]:
        return self._json("POST", f"/task/{task_id}/cancel")

    def delete_task(self, task_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/task/{task_id}")

    def list_files(self, task_id: str) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._json("GET", f"/task/{task_id}/files")["files"])

    def logs(self, task_id: str, step: str | None = None, tail: int | None = None) -> str:
        params = {k: v for k, v in (("step", step), ("tail", tail)) if v is not None}
        return str(self._json("GET", f"/task/{task_id}/logs", params=params)["logs"])

    def download(self, task_id: str, filename: str, dest: str | os.PathLike[str]) -> Path:
        """Save a task file (following the presigned redirect) to ``dest`` (a file or a folder)."""
        target = Path(dest)
        if target.is_dir():
            target = target / Path(filename).name
        url = f"{self.base_url}/task/{task_id}/files/download/{filename}"
        with self.session.get(url, stream=True, timeout=self.timeout) as response:
            _raise_for(response)
            size = int(response.headers.get("Content-Length") or 0) or None
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as out, self._bar(size, f"download {target.name}", unit="B") as bar:
                for chunk in response.iter_content(1024 * 1024):
                    out.write(chunk)
                    bar.update(len(chunk))
            partial.replace(target)
        return target

    def dataset(self, task_id: str) -> dict[str, Any]:
        """The dataset report (after asr_transcribe)."""
        return self._json("GET", f"/task/{task_id}/dataset")

    def transcript(self, task_id: str) -> dict[str, Any]:
        return self._json("GET", f"/task/{task_id}/transcript")

    def edit_transcript(
        self, task_id: str, entries: Sequence[dict[str, Any]] = (), drop: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Change lines (``{"clip", "text"?, "language"?}``) and drop clips; the new transcript."""
        return self._json("PATCH", f"/task/{task_id}/transcript", json={"entries": list(entries), "drop": list(drop)})

    def run_steps(self, task_id: str, steps: Sequence[str], timeout: float = 24 * 3600) -> dict[str, Any]:
        """Run steps one after another, as the seed's example does; stops at the first that fails."""
        status: dict[str, Any] = self.get_task_status(task_id)
        for step in steps:
            self.execute_step(task_id, step)
            status = self.wait_for_completion(task_id, timeout=timeout)
            if status["status"] != "completed":
                break
        return status

    # -- plumbing --------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return cast(dict[str, Any], self._any(method, path, **kwargs))

    def _any(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        _raise_for(response)
        return response.json()

    def _bar(self, total: float | None, desc: str, unit: str) -> tqdm[Any]:
        scale = unit == "B"
        return tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, unit_divisor=1024 if scale else 1000,
                    disable=not self.progress, leave=False)  # fmt: skip


def _raise_for(response: requests.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise ApiError(response.status_code, detail)


def _filename(name: str) -> str:
    """Both spellings: a plain one for old parsers and RFC 5987 UTF-8 for non-ASCII names."""
    plain = name.encode("ascii", "replace").decode().replace("\\", "_").replace('"', "_")
    return f"filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


class _MultipartBody:
    """A one-file multipart body read from disk as it is sent; its length is known up front."""

    def __init__(self, head: bytes, source: BinaryIO, size: int, tail: bytes, bar: tqdm[Any]) -> None:
        self._parts: Iterator[bytes] = self._chunks(head, source, tail)
        self._length = len(head) + size + len(tail)
        self._bar = bar
        self._buffer = b""

    def __len__(self) -> int:
        return self._length

    def _chunks(self, head: bytes, source: BinaryIO, tail: bytes) -> Iterator[bytes]:
        yield head
        while chunk := source.read(1024 * 1024):
            self._bar.update(len(chunk))
            yield chunk
        yield tail

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._parts, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out
