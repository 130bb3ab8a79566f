"""Where a webhook may be sent: not to this side's own networks, unless the operator allows them.

A task's ``webhook_url`` is chosen by whoever creates the task, and the API POSTs to it from
inside the cluster, so an address such as 169.254.169.254 (cloud metadata), a pod or service
IP, or loopback would let a tenant make the API call what it can reach (SSRF). Any address
that is not globally routable is refused, unless ``api.webhook_allowed_networks`` lists a
network holding it. ``sovits local`` (one user, on loopback) allows every address.

The check runs when a task is created (422, when the name already resolves) and again before
each delivery, since a name may resolve elsewhere later.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str], list[str]]
EVERYWHERE: tuple[IPNetwork, ...] = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to (blocking); none when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def unparsable(url: str) -> str | None:
    """Why ``url`` is not an address to POST to (an unclosed IPv6 bracket, a port out of range,
    no host), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed on access, and raises when out of range
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    return None if parts.hostname else "not a valid URL: it names no host"


def refusal(url: str, allowed: Sequence[IPNetwork], resolver: Resolve = resolve) -> str | None:
    """Why ``url`` may not receive webhooks, or None when it may (or its name does not resolve yet)."""
    if why := unparsable(url):
        return why
    host = urlsplit(url).hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host)]
    for address in addresses:
        if not is_public(address) and not any(address in network for network in allowed):
            where = host if str(address) == host else f"{host} ({address})"
            return (
                f"{where} is a private, loopback or link-local address; "
                "list its network in api.webhook_allowed_networks to allow it"
            )
    return None
