"""A TCP relay: ``python -m tests.support.tcp_relay LISTEN_IP:PORT=TARGET_IP:PORT ...``.

The real node lives in a network namespace of its own and reaches the host only through the
host side of its veth pair, while the control plane and SeaweedFS listen on 127.0.0.1 (a
packet from another interface never reaches loopback). The relay listens on the veth address
and passes bytes through unchanged (TLS included), so the host's routing and iptables stay as
they are. Prints ``ready`` once every listener is bound.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading


def parse(mapping: str) -> tuple[tuple[str, int], tuple[str, int]]:
    listen, _, target = mapping.partition("=")
    lhost, _, lport = listen.rpartition(":")
    thost, _, tport = target.rpartition(":")
    return (lhost, int(lport)), (thost, int(tport))


def pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                sock.shutdown(how)


def serve(listener: socket.socket, target: tuple[str, int]) -> None:
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


def main(argv: list[str]) -> None:
    threads = []
    for mapping in argv:
        listen, target = parse(mapping)
        listener = socket.create_server(listen, backlog=128)
        threads.append(threading.Thread(target=serve, args=(listener, target), daemon=True))
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
