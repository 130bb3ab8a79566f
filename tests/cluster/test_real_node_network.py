"""The real node's addresses: a /30 that collides with nothing the host or the cluster uses."""

from __future__ import annotations

import ipaddress
import random

import pytest
from tests.support.real_node import POD_CIDR, SERVICE_CIDR, choose_network


def test_the_veth_pair_gets_a_free_30_beside_the_hosts_networks() -> None:
    used = [ipaddress.ip_network("10.213.0.0/17"), ipaddress.ip_network("192.0.2.0/24")]

    for seed in range(50):
        network = choose_network(used, "ab12", random.Random(seed))
        pair = ipaddress.ip_network(f"{network.host_ip}/30", strict=False)
        assert not any(pair.overlaps(n) for n in [*used, ipaddress.ip_network(POD_CIDR)])
        assert not pair.overlaps(ipaddress.ip_network(SERVICE_CIDR))
        assert ipaddress.ip_address(network.node_ip) in pair and network.node_ip != network.host_ip
        assert network.host_link == "sovab12"


def test_a_host_that_uses_the_whole_range_is_an_error_not_a_collision() -> None:
    with pytest.raises(RuntimeError, match="no free /30"):
        choose_network([ipaddress.ip_network("10.213.0.0/16")], "ab12", random.Random(0))
