"""The console against a real `sovits local`: what a person does in the browser, and what the
API then holds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from sovits_api.client import TrainingClient
from sovits_steps.progress import Progress
from sovits_steps.upstream.losses import S2Losses
from tests.console.conftest import ConsolePage, screenshot
from tests.support.audio import encode, join_with_pauses, speech, white_noise
from tests.support.local_process import LocalService, alive, frozen_step, step_pids
from tests.support.processes import wait_for

pytestmark = pytest.mark.browser

SLICE = {"min_length": "1000", "min_interval": "300", "max_sil_kept": "300"}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    service = LocalService(tmp_path_factory.mktemp("console") / "data").start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short espeak-ng takes with a pause in each: the slicer cuts each in two."""
    folder = tmp_path_factory.mktemp("takes")
    takes = [("take one.wav", "the weather is lovely today"), ("take-two.flac", "seven small boats sailed home")]
    files = []
    for name, sentence in takes:
        samples, _ = join_with_pauses([speech(sentence), speech(sentence)], [0.8])
        files.append(encode(samples, folder / name))
    return files


def new_task(client: TrainingClient, name: str) -> str:
    return str(client.create_task(name, {"exp_name": "spk", "language": "en"})["task_id"])


def run_step(page: Page, step: str, params: dict[str, str]) -> None:
    page.select_option("#step-select", step)
    for name, value in params.items():
        page.fill(f"#param-{name}", value)
    page.click("#run-step")
    expect(page.locator("#current-step")).to_have_text(step)
    expect(page.locator("#task-progress-text")).to_have_text("100%", timeout=120_000)
    expect(page.locator(".task-head .badge")).to_have_text("completed")


def unlabelled_controls(page: Page) -> list[str]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                              && !(el.textContent || '').trim())
                .map(el => el.outerHTML)"""
        )
    )


def fits_width(page: Page) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_task_made_in_the_console_is_fed_sliced_and_heard(
    console_page: ConsolePage, local: LocalService, recordings: list[Path], tmp_path: Path
) -> None:
    page = console_page.page
    page.goto(local.url + "/")
    expect(page.locator("h1")).to_have_text("Tasks")
    page.click("text=New task")
    expect(page.locator("#task-name")).to_be_focused()
    # by keyboard: the name, then Tab to the experiment name, Enter submits with the defaults
    page.keyboard.type("console voice")
    page.keyboard.press("Tab")
    page.keyboard.type("console_spk")
    page.select_option("#config-language", "en")
    assert unlabelled_controls(page) == []
    screenshot(page, "new-task")
    page.locator("#config-exp_name").press("Enter")
    expect(page.locator(".task-head h1")).to_contain_text("console voice")
    task_id = page.url.rsplit("/", 1)[1]
    assert local.client().get_task_status(task_id)["config"]["exp_name"] == "console_spk"

    page.set_input_files("#upload-input", [str(p) for p in recordings])
    expect(page.locator(".uploads li.ok")).to_have_count(2)
    expect(page.locator(".uploads li").first).to_contain_text("stored as input_audio/take one.wav")
    run_step(page, "convert_audio", {})
    run_step(page, "slice_audio", SLICE)
    assert any(url.endswith(f"/task/{task_id}/events") for url in console_page.requests), "progress came over SSE"

    sliced = page.locator('tr[data-name^="sliced/"]')
    expect(sliced.first).to_be_visible()
    assert sliced.count() >= 2
    sliced.first.get_by_role("button", name="Play").click()
    duration = page.wait_for_function(
        "() => { const a = document.querySelector('tr[data-name^=\"sliced/\"] audio');"
        " return a && a.readyState >= 1 && Number.isFinite(a.duration) && a.duration; }"
    ).json_value()
    assert 0.5 < duration < 10, "a slice of a few seconds"
    # The file list refreshes (here after another upload); the player opened stays, the same element.
    page.evaluate("() => { document.querySelector('tr[data-name^=\"sliced/\"] audio').dataset.opened = 'yes'; }")
    page.set_input_files("#upload-input", [str(encode(speech("one more take"), tmp_path / "take three.wav"))])
    expect(page.locator('tr[data-name="input_audio/take three.wav"]')).to_be_visible()
    assert page.evaluate("() => document.querySelector('tr[data-name^=\"sliced/\"] audio')?.dataset.opened") == "yes"
    with page.expect_download() as download:
        sliced.nth(1).get_by_role("button", name="Download").click()
    name = sliced.nth(1).get_attribute("data-name")
    assert name is not None and download.value.suggested_filename == name.rsplit("/", 1)[1]
    saved = download.value.path()
    assert saved.read_bytes()[:4] == b"RIFF"
    assert saved.stat().st_size == next(f["size"] for f in local.client().list_files(task_id) if f["name"] == name)
    page.select_option("#log-step", "slice_audio")
    expect(page.locator("#log-view")).to_contain_text("sliced take one.wav into 2 chunks")
    assert unlabelled_controls(page) == []
    assert fits_width(page)
    screenshot(page, "task")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert fits_width(page)
    page.goto(local.url + "/#/")
    row = page.locator("tbody tr", has_text="console voice")
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text("slice_audio")
    assert fits_width(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "tasks")


def test_a_file_that_is_not_audio_is_refused_with_the_servers_415_message(
    console_page: ConsolePage, local: LocalService, tmp_path: Path
) -> None:
    task_id = new_task(local.client(), "not audio")
    notes = tmp_path / "notes.wav"
    notes.write_text("these are my notes, not a recording\n")
    console_page.expect_status(415)
    page = console_page.page
    page.goto(f"{local.url}/#/task/{task_id}")
    page.set_input_files("#upload-input", str(notes))
    failed = page.locator(".uploads li.error")
    expect(failed).to_contain_text("HTTP 415")
    expect(failed).to_contain_text("file")
    assert local.client().list_files(task_id) == []


def test_a_file_over_the_upload_limit_is_refused_with_the_servers_413_message(
    console_page: ConsolePage, recordings: list[Path], tmp_path: Path
) -> None:
    small = LocalService(tmp_path / "data", settings_env={"SOVITS_API__MAX_UPLOAD_BYTES": "100000"}).start()
    try:
        task_id = new_task(small.client(), "too big")
        console_page.expect_status(413)
        page = console_page.page
        page.goto(f"{small.url}/#/task/{task_id}")
        page.set_input_files("#upload-input", str(recordings[0]))  # about 215 KiB
        expect(page.locator(".uploads li.error")).to_contain_text("larger than the limit of 100000 bytes (HTTP 413)")
        assert small.client().list_files(task_id) == []
        page.goto("about:blank")  # closes the page's event stream, which would hold the server's shutdown
    finally:
        small.stop()


def test_cancelling_in_the_console_stops_the_running_step(
    console_page: ConsolePage, local: LocalService, tmp_path: Path
) -> None:
    client = local.client()
    task_id = new_task(client, "to cancel")
    client.upload_audio(task_id, encode(white_noise(60.0, rate=44100), tmp_path / "noise.wav", rate=44100, channels=2))
    page = console_page.page
    page.goto(f"{local.url}/#/task/{task_id}")
    page.select_option("#step-select", "convert_audio")
    page.click("#run-step")
    pid = frozen_step(task_id, "convert_audio")  # it stays running until cancelled
    expect(page.locator(".task-head .badge")).to_have_text("running")

    page.get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_role("button", name="Cancel the task").click()

    expect(page.locator(".task-head .badge")).to_have_text("cancelled")
    wait_for(lambda: not alive(pid), timeout=30, what="the step process gone")
    assert step_pids(task_id, "convert_audio") == []
    assert client.get_task_status(task_id)["status"] == "cancelled"


def test_the_dataset_pages_say_why_there_is_nothing_to_show_yet(console_page: ConsolePage, local: LocalService) -> None:
    task_id = new_task(local.client(), "no transcript yet")
    for status in (404, 409):  # a server without the report, or a task not yet transcribed
        console_page.expect_status(status)
    page = console_page.page
    for view in ("dataset", "transcript"):
        page.goto(f"{local.url}/#/task/{task_id}/{view}")
        notice = page.locator(".message.notice")
        expect(notice).to_be_visible()
        assert notice.inner_text().strip()
        expect(page.get_by_role("link", name="back to the task")).to_be_visible()


def test_a_transcript_line_edited_and_another_dropped_in_the_console_is_what_the_api_returns(
    console_page: ConsolePage, local: LocalService, recordings: list[Path]
) -> None:
    client = local.client()
    task_id = new_task(client, "proofread")
    for path in recordings:
        client.upload_audio(task_id, path)
    slicing = {name: int(value) for name, value in SLICE.items()}
    for step, params in [("convert_audio", {}), ("slice_audio", slicing), ("denoise_audio", {}),
                         ("asr_transcribe", {"backend": "pocketsphinx"})]:  # fmt: skip
        client.execute_step(task_id, step, params)
        done = client.wait_for_completion(task_id, timeout=300, interval=0.5)
        assert done["status"] == "completed", (step, client.logs(task_id, step)[-3000:])
    before = client.transcript(task_id)["entries"]
    assert len(before) >= 2
    page = console_page.page

    page.goto(f"{local.url}/#/task/{task_id}/dataset")
    expect(page.locator("table tbody tr")).to_have_count(len(client.dataset(task_id)["clips"]))
    expect(page.locator("svg").first).to_be_visible()
    expect(page.locator("dd.speaker-model")).to_have_text(client.dataset(task_id)["summary"]["speaker_model"])
    page.goto(f"{local.url}/#/task/{task_id}/transcript")
    expect(page.locator("#text-0")).to_have_value(before[0]["text"])
    page.fill("#text-0", "a line corrected by ear")
    page.check("#drop-1")
    page.click("#save-transcript")
    expect(page.locator(".message")).to_contain_text("Saved: 1 edited, 1 dropped")

    after = client.transcript(task_id)
    texts = {entry["clip"]: entry["text"] for entry in after["entries"]}
    assert texts[before[0]["clip"]] == "a line corrected by ear"
    assert before[1]["clip"] not in texts
    assert {edit["clip"] for edit in after["edits"]} == {before[0]["clip"], before[1]["clip"]}


def test_training_curves_are_drawn_from_the_losses_the_step_recorded(
    console_page: ConsolePage, local: LocalService
) -> None:
    task_id = new_task(local.client(), "curves")
    report = local.data_dir / "store" / "tasks" / task_id / "progress" / "train_sovits.json"
    report.parent.mkdir(parents=True)

    # what train_sovits writes while s2_train.py prints four epochs' losses
    def write(body: bytes) -> None:
        report.write_bytes(body)

    progress, losses = Progress("train_sovits", write, interval_s=60), S2Losses()
    for epoch in range(1, 5):
        losses(f"INFO:tiny:Train Epoch: {epoch} [0%]")
        values = [5.5 - epoch / 2, 3 + epoch / 4, 1 / epoch, 240 / epoch, 0.0, 20 - epoch, 3 * epoch, 1e-4]
        line = f"INFO:tiny:{values}"
        for name, at, value in losses(line):
            progress.metric(name, at, value)
    progress.close("SoVITS trained", 100.0)

    page = console_page.page
    page.goto(f"{local.url}/#/task/{task_id}")
    mel = page.locator("figure", has_text="train_sovits: loss_mel")
    expect(mel.locator("path.line")).to_have_attribute("d", re.compile(r"^M[^ML]+(L[^ML]+){3}$"))
    expect(page.locator("#h-curves ~ .charts figure")).to_have_count(6)
    expect(mel.locator("text.tick").first).to_have_text("240")  # the highest loss, top of the axis
    screenshot(page.locator("section", has=page.locator("#h-curves")), "curves")


def test_deleting_in_the_console_asks_first_and_removes_the_task(
    console_page: ConsolePage, local: LocalService
) -> None:
    client = local.client()
    task_id = new_task(client, "to delete")
    page = console_page.page
    page.goto(f"{local.url}/#/task/{task_id}")

    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Keep it").click()
    assert client.get_task_status(task_id)["task_name"] == "to delete"

    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete the task").click()
    expect(page.locator("h1")).to_have_text("Tasks")
    expect(page.locator("tbody")).not_to_contain_text("to delete")
    assert task_id not in [t["task_id"] for t in client.list_tasks()]


def test_the_test_sentence_plays_at_the_top_of_its_task(console_page: ConsolePage, local: LocalService) -> None:
    task_id = new_task(local.client(), "spoken")
    # where test_inference leaves upstream's output.wav
    encode(speech("this is my new voice"), local.data_dir / "store" / "tasks" / task_id / "output" / "output.wav")
    page = console_page.page
    page.goto(f"{local.url}/#/task/{task_id}")
    expect(page.get_by_role("heading", name="Test sentence")).to_be_visible()
    duration = page.wait_for_function(
        "() => { const a = document.querySelector('audio[aria-label=\"play output/output.wav\"]');"
        " return a && a.readyState >= 1 && a.duration; }"
    ).json_value()
    assert 0.5 < duration < 5
