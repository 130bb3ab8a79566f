"""Uploads and downloads against the real SeaweedFS store (and the local directory backend)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sovits_core import storage
from tests.support.asgi import call
from tests.support.seaweed import S3Store

from ..conftest import Api, Backend, make_api, s3_settings


def upload(api: Api, task_id: str, name: str, data: bytes) -> requests.Response:
    response: requests.Response = api.request(
        "POST", f"/api/v1/task/{task_id}/files/upload", files={"file": (name, data)}
    )
    return response


def task_objects(api: Api, task_id: str) -> storage.TaskFiles:
    return storage.TaskFiles(api.services.objects, f"{api.services.settings.storage.tasks_prefix}{task_id}/")


@pytest.fixture
def s3_api(sqlite_backend: Backend, s3_store: S3Store, s3_prefix: str) -> Iterator[Api]:
    yield from make_api(sqlite_backend, s3_settings(s3_store, s3_prefix, max_upload_bytes=200_000))


@pytest.mark.parametrize("name", ["speech.wav", "speech.mp3", "speech.m4a", "speech.aac", "speech.flac"])
def test_each_seed_format_is_stored_under_input_audio(s3_api: Api, audio_dir: Path, name: str) -> None:
    task_id = s3_api.create()["task_id"]
    data = (audio_dir / name).read_bytes()
    response = upload(s3_api, task_id, name, data)
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == name
    assert task_objects(s3_api, task_id).get_bytes(f"input_audio/{name}") == data


def test_the_seed_clients_three_uploads_all_land(api: Api, audio_dir: Path) -> None:
    task_id = api.create()["task_id"]
    for name in ("audio1.wav", "audio2.wav", "audio3.wav"):
        assert upload(api, task_id, name, (audio_dir / "speech.wav").read_bytes()).json()["filename"] == name
    names = {f["name"] for f in api.request("GET", f"/api/v1/task/{task_id}/files").json()["files"]}
    assert {"input_audio/audio1.wav", "input_audio/audio2.wav", "input_audio/audio3.wav"} <= names


def test_a_second_upload_of_the_same_name_gets_a_number(s3_api: Api, audio_dir: Path) -> None:
    task_id = s3_api.create()["task_id"]
    wav, flac = (audio_dir / "speech.wav").read_bytes(), (audio_dir / "speech.flac").read_bytes()
    assert upload(s3_api, task_id, "a.wav", wav).json()["filename"] == "a.wav"
    assert upload(s3_api, task_id, "a.wav", flac).json()["filename"] == "a-1.wav"
    objects = task_objects(s3_api, task_id)
    assert objects.get_bytes("input_audio/a.wav") == wav
    assert objects.get_bytes("input_audio/a-1.wav") == flac


@pytest.mark.parametrize(
    ("name", "detected"),
    [("speech.ogg", "ogg"), ("picture.wav", "png"), ("notes.wav", "text")],
)
def test_other_content_is_415_naming_what_it_is(s3_api: Api, audio_dir: Path, name: str, detected: str) -> None:
    data = {
        "speech.ogg": (audio_dir / "speech.ogg").read_bytes(),
        "picture.wav": b"\x89PNG\r\n\x1a\n" + bytes(100),
        "notes.wav": "这不是音频\n".encode(),
    }[name]
    task_id = s3_api.create()["task_id"]
    response = upload(s3_api, task_id, name, data)
    assert response.status_code == 415
    assert detected in response.json()["detail"]
    assert task_objects(s3_api, task_id).list() == []


def test_a_video_only_mp4_named_m4a_is_415_no_audio_stream_and_leaves_no_object(s3_api: Api, audio_dir: Path) -> None:
    task_id = s3_api.create()["task_id"]
    response = upload(s3_api, task_id, "talk.m4a", (audio_dir / "video.m4a").read_bytes())
    assert response.status_code == 415
    assert "no audio stream" in response.json()["detail"]
    assert task_objects(s3_api, task_id).list() == []
    again = upload(s3_api, task_id, "talk.m4a", (audio_dir / "speech.m4a").read_bytes())
    assert again.json()["filename"] == "talk.m4a"  # the refused upload left its name free


@pytest.mark.parametrize("name", ["empty.wav", "empty.list"])
def test_an_empty_file_is_422_saying_so(s3_api: Api, name: str) -> None:
    task_id = s3_api.create()["task_id"]
    response = upload(s3_api, task_id, name, b"")
    assert (response.status_code, response.json()["field"]) == (422, "file")
    assert "is an empty file" in response.json()["detail"]
    assert task_objects(s3_api, task_id).list() == []


@pytest.mark.parametrize("backend", ["s3", "local"])
def test_an_upload_whose_task_is_deleted_while_it_runs_is_404_and_leaves_nothing(
    s3_api: Api, local_api: Api, audio_dir: Path, backend: str
) -> None:
    api = s3_api if backend == "s3" else local_api
    task_id = api.create()["task_id"]
    wav = (audio_dir / "speech.wav").read_bytes()
    chunks = [
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' + wav[:1000],
        wav[1000:] + b"\r\n--b--\r\n",
    ]

    async def receive() -> dict[str, Any]:
        if len(chunks) == 1:  # the first part is in: the task goes now
            api.backend.store.delete(api.backend.namespace, task_id)
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    answer = call(api.client.app, "POST", f"/api/v1/task/{task_id}/files/upload", receive,
                  {**api.headers, "content-type": "multipart/form-data; boundary=b"})  # fmt: skip

    assert (answer.status, answer.json()["field"]) == (404, "task_id")
    assert task_objects(api, task_id).list() == []


def test_over_the_limit_is_413_and_leaves_no_object(s3_api: Api, audio_dir: Path) -> None:
    task_id = s3_api.create()["task_id"]
    wav = (audio_dir / "speech.wav").read_bytes()
    big = wav + bytes(300_000)
    response = upload(s3_api, task_id, "big.wav", big)
    assert response.status_code == 413
    assert task_objects(s3_api, task_id).list() == []


def test_a_declared_length_over_the_limit_is_413_before_reading(s3_api: Api) -> None:
    task_id = s3_api.create()["task_id"]
    response = s3_api.request(
        "POST", f"/api/v1/task/{task_id}/files/upload",
        content=b"x", headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": "10000000"},
    )  # fmt: skip
    assert response.status_code == 413


def test_a_path_in_the_filename_is_reduced_to_its_name(s3_api: Api, audio_dir: Path) -> None:
    task_id = s3_api.create()["task_id"]
    response = upload(s3_api, task_id, "../../../etc/voice.wav", (audio_dir / "speech.wav").read_bytes())
    assert response.json()["path"] == "input_audio/voice.wav"


@pytest.mark.parametrize("raw_name", [b"a\x07.wav", b"a\x00.wav"])
def test_a_control_character_in_the_filename_is_422(s3_api: Api, audio_dir: Path, raw_name: bytes) -> None:
    # Written by hand: HTTP clients percent-encode these, a hostile one need not.
    task_id = s3_api.create()["task_id"]
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + raw_name + b'"\r\n'
        b"Content-Type: audio/wav\r\n\r\n" + (audio_dir / "speech.wav").read_bytes() + b"\r\n--b--\r\n"
    )
    response = s3_api.request(
        "POST", f"/api/v1/task/{task_id}/files/upload",
        content=body, headers={"Content-Type": "multipart/form-data; boundary=b"},
    )  # fmt: skip
    assert (response.status_code, response.json()["field"]) == (422, "file.filename")
    assert task_objects(s3_api, task_id).list() == []


def test_a_transcript_list_is_accepted_into_transcripts(s3_api: Api) -> None:
    task_id = s3_api.create()["task_id"]
    text = "denoised/a.wav|my_speaker|ZH|你好世界\ndenoised/b.wav|my_speaker|ZH|再见\n".encode()
    response = upload(s3_api, task_id, "mine.list", text)
    assert response.status_code == 200
    assert response.json()["path"] == "transcripts/mine.list"
    assert task_objects(s3_api, task_id).get_bytes("transcripts/mine.list") == text


def test_a_transcript_never_takes_the_asr_steps_own_output_name(s3_api: Api) -> None:
    task_id = s3_api.create()["task_id"]
    response = upload(s3_api, task_id, "denoised.list", "denoised/a.wav|s|ZH|你好\n".encode())
    assert response.json()["filename"] == "denoised-1.list"


@pytest.mark.parametrize(("data", "status"), [(b"no separators here\n", 422), (b"\x00\x01binary", 415)])
def test_a_malformed_transcript_is_refused(s3_api: Api, data: bytes, status: int) -> None:
    task_id = s3_api.create()["task_id"]
    assert upload(s3_api, task_id, "bad.list", data).status_code == status


def test_a_body_without_a_file_field_is_422(s3_api: Api) -> None:
    task_id = s3_api.create()["task_id"]
    response = s3_api.request("POST", f"/api/v1/task/{task_id}/files/upload", files={"other": ("a.wav", b"x")})
    assert (response.status_code, response.json()["field"]) == (422, "file")


def test_a_body_that_is_not_multipart_is_422(s3_api: Api) -> None:
    task_id = s3_api.create()["task_id"]
    response = s3_api.request("POST", f"/api/v1/task/{task_id}/files/upload", json={"file": "x"})
    assert response.status_code == 422


def test_upload_to_an_unknown_task_is_404(s3_api: Api) -> None:
    assert upload(s3_api, str(uuid.uuid4()), "a.wav", b"RIFF").status_code == 404


def test_listing_shows_size_and_the_step_that_wrote_each_file(s3_api: Api, audio_dir: Path) -> None:
    task_id = s3_api.create()["task_id"]
    wav = (audio_dir / "speech.wav").read_bytes()
    upload(s3_api, task_id, "a.wav", wav)
    objects = task_objects(s3_api, task_id)
    objects.put_bytes("sliced/a_0.wav", b"s")
    objects.put_bytes("experiments/my_speaker/6-name2semantic.tsv", b"t")
    objects.put_bytes("logs/slice_audio.log", b"l")
    files = {f["name"]: f for f in s3_api.request("GET", f"/api/v1/task/{task_id}/files").json()["files"]}
    assert files["input_audio/a.wav"]["size"] == len(wav)
    assert files["input_audio/a.wav"]["step"] is None
    assert files["sliced/a_0.wav"]["step"] == "slice_audio"
    assert files["experiments/my_speaker/6-name2semantic.tsv"]["step"] == "extract_semantic_features"
    assert files["logs/slice_audio.log"]["step"] == "slice_audio"


def test_an_uploaded_transcript_is_listed_as_an_upload_and_the_asr_list_as_the_steps(s3_api: Api) -> None:
    task_id = s3_api.create()["task_id"]
    upload(s3_api, task_id, "mine.list", b"a.wav|spk|EN|hello there\n")
    task_objects(s3_api, task_id).put_bytes("transcripts/denoised.list", b"x")
    files = {f["name"]: f for f in s3_api.request("GET", f"/api/v1/task/{task_id}/files").json()["files"]}
    assert files["transcripts/mine.list"]["step"] is None
    assert files["transcripts/denoised.list"]["step"] == "asr_transcribe"


def test_download_redirects_to_a_presigned_url_that_serves_the_file(s3_api: Api) -> None:
    task_id = s3_api.create()["task_id"]
    task_objects(s3_api, task_id).put_bytes("output/test.wav", b"RIFF-result")
    response = s3_api.request("GET", f"/api/v1/task/{task_id}/files/download/test.wav", follow_redirects=False)
    assert response.status_code == 307
    fetched = requests.get(response.headers["location"], timeout=30)
    assert fetched.content == b"RIFF-result"


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("transcripts/denoised.list", "denoised.list"),
        ("experiments/my_speaker/SoVITS_weights_v2Pro/my_speaker_e8_s96.pth", "my_speaker_e8_s96.pth"),
        ("experiments/my_speaker/GPT_weights_v2Pro/my_speaker-e15.ckpt", "my_speaker-e15.ckpt"),
    ],
)
def test_a_bare_name_finds_the_transcript_and_the_exported_weights(s3_api: Api, stored: str, asked: str) -> None:
    task_id = s3_api.create()["task_id"]
    task_objects(s3_api, task_id).put_bytes(stored, b"result")

    response = s3_api.request("GET", f"/api/v1/task/{task_id}/files/download/{asked}", follow_redirects=False)

    assert response.status_code == 307
    assert requests.get(response.headers["location"], timeout=30).content == b"result"


def test_download_by_listing_path(s3_api: Api) -> None:
    task_id = s3_api.create()["task_id"]
    task_objects(s3_api, task_id).put_bytes("sliced/a_0.wav", b"slice")
    response = s3_api.request("GET", f"/api/v1/task/{task_id}/files/download/sliced/a_0.wav", follow_redirects=False)
    assert response.status_code == 307


@pytest.mark.parametrize("name", ["..%2F..%2Fsecret", "../secret", "%2Fetc%2Fpasswd", "a%00b", "missing.wav"])
def test_download_outside_the_task_or_missing_is_404(s3_api: Api, name: str) -> None:
    task_id = s3_api.create()["task_id"]
    other = s3_api.create()["task_id"]
    task_objects(s3_api, other).put_bytes("secret", b"other task's file")
    response = s3_api.request("GET", f"/api/v1/task/{task_id}/files/download/{name}", follow_redirects=False)
    assert response.status_code == 404


def test_local_backend_streams_downloads(local_api: Api, audio_dir: Path) -> None:
    task_id = local_api.create()["task_id"]
    wav = (audio_dir / "speech.wav").read_bytes()
    assert upload(local_api, task_id, "a.wav", wav).status_code == 200
    response = local_api.request("GET", f"/api/v1/task/{task_id}/files/download/input_audio/a.wav")
    assert response.status_code == 200
    assert response.content == wav
    assert "a.wav" in response.headers["content-disposition"]


def test_s3_backend_streams_when_configured(sqlite_backend: Backend, s3_store: S3Store, s3_prefix: str) -> None:
    for api in make_api(sqlite_backend, s3_settings(s3_store, s3_prefix, download_mode="stream")):
        task_id = api.create()["task_id"]
        task_objects(api, task_id).put_bytes("output/out.wav", b"x" * 3_000_000)
        response = api.request("GET", f"/api/v1/task/{task_id}/files/download/out.wav")
        assert response.status_code == 200
        assert response.content == b"x" * 3_000_000
