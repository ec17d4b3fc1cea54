"""An HTTP server that speaks the hosted SDXL text2image protocol, offline.

    POST /api/text2image  {"prompt": "...", "negative_prompt": "..."}  -> 200 image/jpeg

It is what `make run` uses when no endpoint is configured, and what the tests and benchmarks
call over real HTTP. For those it can misbehave on purpose: a latency, a random failure rate,
and a script of faults to play one per request (see FAULTS).
"""

from __future__ import annotations

import collections
import io
import json
import random
import socket
import struct
import threading
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gallery.standin.draw import render

PATH = "/api/text2image"

FAULTS = (
    "401",
    "403",
    "404",
    "429",
    "429-retry-after",
    "429-ratelimit-reset",
    "500",
    "502",
    "503",
    "timeout",  # answer nothing for `hang_seconds`
    "reset",  # drop the connection with a TCP reset
    "html",  # 200 with an HTML error page
    "garbage",  # 200 with random bytes
    "truncated",  # 200 with the first half of a JPEG (and a matching Content-Length)
    "oversized",  # 200 streaming far more bytes than any image, with no Content-Length
    "bomb",  # 200 with a small PNG that decodes to 144 megapixels
)
# What a random failure (fail_rate) picks from: the transient faults a real endpoint has.
RANDOM_FAULTS = ("500", "502", "503", "429", "429-retry-after")


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        latency: float = 0.0,
        fail_rate: float = 0.0,
        token: str = "",
        hang_seconds: float = 30.0,
        retry_after: int = 1,
    ):
        super().__init__(address, _Handler)
        self.latency = latency
        self.fail_rate = fail_rate
        self.token = token  # when set, requests must carry "Bearer <token>"
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.faults: collections.deque[str] = collections.deque()
        self.received: list[dict] = []  # every request's headers and JSON body, for tests
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._random = random.Random(0)

    def handle_error(self, request, client_address) -> None:
        # Clients hanging up mid-answer is part of the job (timeouts, size caps): stay quiet.
        pass

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def script(self, *faults: str) -> None:
        """Play these faults on the next requests, one each; "ok" answers normally."""
        for fault in faults:
            if fault != "ok" and fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}")
        if "bomb" in faults:
            # Built now, not on the request: on a busy machine building it can outlast the
            # client's read timeout, which would turn the bomb into a timeout.
            decompression_bomb()
        self.faults.extend(faults)

    def next_fault(self) -> str:
        with self._lock:
            if self.faults:
                return self.faults.popleft()
            if self.fail_rate and self._random.random() < self.fail_rate:
                return self._random.choice(RANDOM_FAULTS)
            return "ok"

    def start(self) -> StandinServer:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="standin", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: StandinServer
    protocol_version = "HTTP/1.1"
    server_version = "sdxl-standin/1"

    def log_message(self, format: str, *args) -> None:  # quiet: the app logs what matters
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(min(length, 2 * 1024 * 1024))
        if self.path.split("?")[0] != PATH:
            return self._json(404, {"message": "Not found"})
        if length > 2 * 1024 * 1024:
            return self._json(413, {"message": "Request body too large"})
        try:
            body = json.loads(raw)
            prompt = body["prompt"]
            negative = body.get("negative_prompt") or ""
            if not isinstance(prompt, str) or not isinstance(negative, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return self._json(400, {"message": "Expected JSON with a string 'prompt'"})
        self.server.received.append({"headers": dict(self.headers.items()), "body": body})

        if self.server.token and self.headers.get("authorization") != f"Bearer {self.server.token}":
            return self._json(401, {"message": "Invalid or missing token"})

        fault = self.server.next_fault()
        if self.server.latency:
            self.server._stopping.wait(self.server.latency)
        if fault == "ok":
            return self._send(200, render(prompt, negative), "image/jpeg")
        if fault.isdigit() or fault.startswith("429"):
            return self._status_fault(fault)
        return getattr(self, "_fault_" + fault)(prompt, negative)

    def _status_fault(self, fault: str) -> None:
        status = int(fault[:3])
        headers = {}
        if fault == "429-retry-after":
            headers["Retry-After"] = str(self.server.retry_after)
        elif fault == "429-ratelimit-reset":
            headers["RateLimit-Reset"] = str(self.server.retry_after)
        self._json(status, {"message": HTTPStatus(status).phrase}, headers)

    def _fault_timeout(self, prompt: str, negative: str) -> None:
        self.server._stopping.wait(self.server.hang_seconds)
        self.close_connection = True

    def _fault_reset(self, prompt: str, negative: str) -> None:
        # SO_LINGER with a zero timeout turns close() into a TCP RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _fault_html(self, prompt: str, negative: str) -> None:
        page = b"<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>"
        self._send(200, page, "text/html; charset=utf-8")

    def _fault_garbage(self, prompt: str, negative: str) -> None:
        self._send(200, random.Random(prompt).randbytes(50_000), "image/jpeg")

    def _fault_truncated(self, prompt: str, negative: str) -> None:
        data = render(prompt, negative)
        self._send(200, data[: len(data) // 2], "image/jpeg")

    def _fault_oversized(self, prompt: str, negative: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"\xff" * 65536
        try:
            for _ in range(2048):  # 128 MiB at most, unless the client hangs up first
                self.wfile.write(chunk)
        except OSError:
            pass

    def _fault_bomb(self, prompt: str, negative: str) -> None:
        self._send(200, decompression_bomb(), "image/png")

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


_bomb: bytes | None = None


def decompression_bomb() -> bytes:
    """A valid ~150 KB greyscale PNG of 12000x12000 pixels (144 MB once decoded)."""
    global _bomb
    if _bomb is None:
        side = 12000
        row = b"\x00" * (side + 1)  # filter byte + pixels
        compressor = zlib.compressobj(9)
        idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
        out = io.BytesIO()
        out.write(b"\x89PNG\r\n\x1a\n")
        for kind, payload in (
            (b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)),
            (b"IDAT", idat),
            (b"IEND", b""),
        ):
            out.write(struct.pack(">I", len(payload)) + kind + payload)
            out.write(struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
        _bomb = out.getvalue()
    return _bomb
