"""A TCP proxy on the loopback for fault tests: forwards to a server until told to stall, then holds every byte
while keeping both sides' sockets open, as a sleeping laptop, a VPN drop or a NAT timeout does."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class StallingProxy:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = 0  # bytes forwarded from the clients to the server
        self.stall_after: int | None = None  # stall once this many bytes went to the server
        self.flowing = threading.Event()
        self.flowing.set()
        self.stalled_at: float | None = None
        self.on_stall: Callable[[], None] | None = None
        self.closed = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        if self.flowing.is_set():
            self.flowing.clear()
            if self.on_stall is not None:
                self.on_stall()

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed = True
        self.flowing.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.flowing.wait()  # a stalled network does not answer new connections either
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_server: bool) -> None:
        try:
            while not self.closed:
                self.flowing.wait()  # stalled: nothing is read, so the sender's buffers fill and it blocks
                data = src.recv(65536)
                if not data:
                    break
                if to_server:
                    with self.lock:
                        self.sent += len(data)
                        if self.stall_after is not None and self.sent >= self.stall_after:
                            self.stall_after = None
                            self.stall()
                self.flowing.wait()  # what arrived as the stall began is held, not delivered
                if self.closed:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
