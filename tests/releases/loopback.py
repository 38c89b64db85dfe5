"""A loopback HTTP server for the release tests (127.0.0.1 only, bounded, stops itself).

It serves one payload and, per request, behaves as told: ``ok`` (honours ``Range``),
``norange`` (ignores it), ``badrange`` (answers 206 from byte 0), ``corrupt`` (one byte
flipped), ``truncate`` (closes half-way) or ``stall`` (sends 1000 bytes, then nothing for
``STALL_S``). Every handler ends within ``STALL_S`` by itself, so shutting the server
down never hangs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
STALL_S = 2.0


class _Handler(BaseHTTPRequestHandler):
    modes: ClassVar[list[str]] = []  # one per request; the last one repeats
    seen: ClassVar[list[str | None]] = []  # the Range header of every request
    payload: ClassVar[bytes] = PAYLOAD

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        cls = type(self)
        mode = cls.modes.pop(0) if len(cls.modes) > 1 else cls.modes[0]
        rng = self.headers.get("Range")
        cls.seen.append(rng)
        data = cls.payload
        body, status, start = data, 200, 0
        if mode == "corrupt":
            body = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        if mode == "badrange":  # claims a partial answer but sends it all from byte 0
            self.send_response(206)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Range", f"bytes 0-{len(data) - 1}/{len(data)}")
            self.end_headers()
            self.wfile.write(data)
            return
        if mode == "ok" and rng and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            body, status = data[start:], 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "stall":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(STALL_S)
            return
        self.wfile.write(body)


@contextmanager
def serve(payload: bytes = PAYLOAD) -> Iterator[tuple[str, type[_Handler]]]:
    """Start a server; yield (URL of the payload, handler class with ``modes``/``seen``)."""
    handler = type("Handler", (_Handler,), {"modes": ["ok"], "seen": [], "payload": payload})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/w/model.pth", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
