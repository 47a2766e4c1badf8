"""Databases for the control channel tests (SQLite files, PostgreSQL schemas
dropped afterwards) and a TCP proxy that takes PostgreSQL away for real."""

from __future__ import annotations

import importlib.util
import socket
import threading
import uuid
from pathlib import Path

__all__ = ["PG_DSN", "PgProxy", "pg_schema", "require_service"]


def _shared_conftest():  # type: ignore[no-untyped-def]
    # Without packages `from conftest import ...` is ambiguous: load the top-level one by path.
    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("specops_tests_conftest", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


require_service = _shared_conftest().require_service
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"


def pg_schema() -> str:
    return f"t_control_{uuid.uuid4().hex[:12]}"


class PgProxy:
    """127.0.0.1:<port> forwarding to PostgreSQL.  ``down()`` closes the
    listener and every forwarded connection: to the client the database is
    gone (connection reset, then refused) until ``up()``."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._serving = False
        self.up()

    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=test user=postgres"

    def up(self) -> None:
        if self._serving:
            return
        if self._listener.fileno() == -1:
            self._listener = socket.socket()
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(16)
        self._serving = True
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        self._serving = False
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept(): close alone leaves it listening
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._socks.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._serving:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not self._serving:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass
