"""The console against `sovits api` on the real control plane, where a token names the tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.console.conftest import ConsolePage
from tests.support.api_process import ApiProcess
from tests.support.audio import encode, speech
from tests.support.cluster import ClusterInfo
from tests.support.seaweed import S3Store

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

TOKEN = "console-token"


@pytest.fixture(scope="module")
def api(cluster: ClusterInfo, s3_store: S3Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    namespace = cluster.create_namespace("console")
    server = ApiProcess(
        {**cluster.env, **s3_store.env()}, {TOKEN: namespace}, namespace, tmp_path_factory.mktemp("api")
    )
    server.start()
    yield server
    server.stop()
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_the_console_asks_for_a_token_and_works_in_its_tenant(
    console_page: ConsolePage, api: ApiProcess, tmp_path: Path
) -> None:
    console_page.expect_status(401)
    page = console_page.page
    page.goto(api.url + "/")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.get_by_label("API token")).to_be_focused()
    page.get_by_label("API token").fill("not-a-token")
    page.keyboard.press("Enter")
    expect(page.locator("form p")).to_have_text("That token was not accepted.")

    page.get_by_label("API token").fill(TOKEN)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Tasks")
    page.click("text=New task")
    page.fill("#task-name", "cluster voice")
    page.fill("#config-exp_name", "cluster_spk")
    page.click("text=Create task")
    expect(page.locator(".task-head h1")).to_contain_text("cluster voice")

    auth = {"Authorization": f"Bearer {TOKEN}"}
    listed = requests.get(f"{api.url}/api/v1/tasks", headers=auth, timeout=10).json()
    assert [t["task_name"] for t in listed] == ["cluster voice"]

    # a file in S3 plays: the download answers with a redirect to a presigned URL
    take = encode(speech("hello from the cluster"), tmp_path / "hello.wav")
    with take.open("rb") as f:
        url = f"{api.url}/api/v1/task/{listed[0]['task_id']}/files/upload"
        assert requests.post(url, headers=auth, files={"file": f}, timeout=30).status_code == 200
    page.reload()
    page.get_by_role("button", name="Play input_audio/hello.wav").click()
    duration = page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return a && a.readyState >= 1 && a.duration; }"
    ).json_value()
    assert 0.5 < duration < 5
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Sign in")
