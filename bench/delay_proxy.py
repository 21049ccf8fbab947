#!/usr/bin/env python3
"""A user-space delaying proxy for ssh's ProxyCommand: stdio <-> TCP.

    delay_proxy.py HOST PORT DELAY

Every chunk read from one side is written to the other DELAY seconds after it
arrived (both ways, so the round trip grows by 2 x DELAY). Order is kept: each
direction is one FIFO whose due times never decrease. When either side closes,
what is still queued towards the other side is delivered (after its delay), that
side is closed too, and the proxy exits 0.

Use it in an ssh config (%p is the port of the Host entry):

    ProxyCommand python3 /path/to/delay_proxy.py 127.0.0.1 %p 0.025
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import time

CHUNK = 65536


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _pump(read, write, finish, delay: float, done: threading.Event) -> None:
    """Read chunks with `read` and hand them to `write` `delay` seconds later;
    on end of input (or an error either side), call `finish` and set `done`."""
    q: queue.Queue = queue.Queue()

    def reader() -> None:
        try:
            while True:
                data = read()
                if not data:
                    break
                q.put((time.monotonic() + delay, data))
        except OSError:
            pass
        q.put((time.monotonic() + delay, None))

    def writer() -> None:
        try:
            while True:
                due, data = q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if data is None:
                    break
                write(data)
        except OSError:
            pass
        try:
            finish()
        except OSError:
            pass
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    threading.Thread(target=writer, daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: delay_proxy.py HOST PORT DELAY_SECONDS", file=sys.stderr)
        return 2
    host, port, delay = argv[0], int(argv[1]), float(argv[2])
    try:
        sock = socket.create_connection((host, port))
    except OSError as e:
        print(f"delay_proxy: cannot connect to {host}:{port}: {e}", file=sys.stderr)
        return 1
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done = threading.Event()

    def to_server_finish() -> None:
        sock.shutdown(socket.SHUT_WR)

    def to_client_finish() -> None:
        os.close(1)

    _pump(lambda: os.read(0, CHUNK), sock.sendall, to_server_finish, delay, done)
    _pump(lambda: sock.recv(CHUNK), lambda d: _write_all(1, d), to_client_finish, delay, done)
    # Either side closed and its queue has drained: we are done.
    done.wait()
    try:
        sock.close()
    except OSError:
        pass
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
