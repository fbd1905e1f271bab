"""A tiny web server on a loopback port, for tests that need another host: a
tenant's own website embedding a form, or a stand-in for an e-mail provider's
certificate host. It answers every GET with what `page(path)` gives and
records the paths it was asked for."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from tests.messaging.smtp import free_port


class LocalSite:
    def __init__(self, page: Callable[[str], tuple[str, bytes]], port: int | None = None) -> None:
        """`page(path)` → (content type, body)."""
        self.port = port or free_port()
        self.visits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's hook name
                site.visits.append(self.path)
                content_type, body = page(self.path)
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://{self.netloc}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
