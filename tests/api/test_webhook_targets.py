"""Webhook targets: addresses on this side's own networks are refused unless allowed (SSRF)."""

from __future__ import annotations

import ipaddress

import pytest

from sovits_api.webhook_targets import EVERYWHERE, refusal


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/", "http://[::1]:8080/", "http://localhost/",
     "http://[::ffff:192.168.1.1]/", "http://100.64.0.1/"],
)  # fmt: skip
def test_private_link_local_and_loopback_targets_are_refused_by_default(url: str) -> None:
    assert "api.webhook_allowed_networks" in (refusal(url, []) or "")


def test_an_allowed_network_admits_its_addresses_only() -> None:
    allowed = [ipaddress.ip_network("10.20.0.0/16")]

    assert refusal("http://10.20.3.4/hook", allowed) is None
    assert refusal("http://10.21.3.4/hook", allowed) is not None


def test_a_public_address_is_allowed_and_a_name_is_judged_by_what_it_resolves_to() -> None:
    assert refusal("https://93.184.215.14/hook", []) is None
    assert refusal("https://hooks.example/x", [], resolver=lambda host: ["192.168.0.5"]) is not None
    assert refusal("https://hooks.example/x", [], resolver=lambda host: ["93.184.215.14"]) is None


@pytest.mark.parametrize("url", ["http://[::1/hook", "https://example.com:99999/", "http:///hook"])
def test_a_url_that_does_not_parse_or_names_no_host_is_refused_with_the_reason(url: str) -> None:
    # A TrainingTask made with kubectl reaches delivery without the REST API's checks.
    assert (refusal(url, list(EVERYWHERE)) or "").startswith("not a valid URL")
