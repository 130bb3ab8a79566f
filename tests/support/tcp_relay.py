"""A TCP relay: ``python -m tests.support.tcp_relay LISTEN_IP:PORT=TARGET_IP:PORT ...``.

The real node lives in a network namespace of its own and reaches the host only through the
host side of its veth pair, while the control plane and SeaweedFS listen on 127.0.0.1 (a
packet from another interface never reaches loopback). The relay listens on the veth address
and passes bytes through unchanged (TLS included), so the host's routing and iptables stay as
they are. ``LISTEN=TARGET@RATE`` limits each direction of every connection to RATE bytes a
second: a test that must catch a step in the middle of a download gets a download that lasts.
Prints ``ready`` once every listener is bound.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .ports import free_ports

REPO = Path(__file__).resolve().parents[2]


def parse(mapping: str) -> tuple[tuple[str, int], tuple[str, int], int | None]:
    listen, _, target = mapping.partition("=")
    target, _, rate = target.partition("@")
    lhost, _, lport = listen.rpartition(":")
    thost, _, tport = target.rpartition(":")
    return (lhost, int(lport)), (thost, int(tport)), int(rate) if rate else None


def pump(src: socket.socket, dst: socket.socket, rate: int | None = None) -> None:
    chunk = 65536 if rate is None else max(1, min(65536, rate // 10))
    try:
        while data := src.recv(chunk):
            dst.sendall(data)
            if rate is not None:
                time.sleep(len(data) / rate)
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                sock.shutdown(how)


def serve(listener: socket.socket, target: tuple[str, int], rate: int | None) -> None:
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b, rate), daemon=True).start()


def start(mappings: Iterable[str]) -> subprocess.Popen[str]:
    """This relay as a process for ``LISTEN=TARGET[@RATE]`` mappings, once it listens."""
    relay = subprocess.Popen(
        [sys.executable, "-m", "tests.support.tcp_relay", *mappings], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
    return relay


@contextlib.contextmanager
def throttled(host: str, port: int, rate: int) -> Iterator[str]:
    """``127.0.0.1:port`` at ``rate`` bytes a second each way, listening on ``host``: yields ``host:port``."""
    listen = f"{host}:{free_ports(1)[0]}"
    relay = start([f"{listen}=127.0.0.1:{port}@{rate}"])
    try:
        yield listen
    finally:
        relay.kill()
        relay.wait()
        if relay.stdout is not None:
            relay.stdout.close()


def main(argv: list[str]) -> None:
    threads = []
    for mapping in argv:
        listen, target, rate = parse(mapping)
        listener = socket.create_server(listen, backlog=128)
        threads.append(threading.Thread(target=serve, args=(listener, target, rate), daemon=True))
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
