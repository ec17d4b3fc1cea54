"""An HTTP server that speaks the hosted SDXL text2image protocol, offline.

    POST /api/text2image  {"prompt": "...", "negative_prompt": "..."}  -> 200 image/jpeg

and, for the gallery's "openai" upstream protocol, the OpenAI-compatible images API:

    POST /v1/images/generations  {"model", "prompt", "n": 1, "size": "1024x1024",
                                  "response_format": "b64_json"}
        -> 200 {"created": ..., "data": [{"b64_json": "<the same JPEG, base64>"}]}

It is what `make run` uses when no endpoint is configured, and what the tests and benchmarks
call over real HTTP. For those it can misbehave on purpose: a latency, a random failure rate,
and a script of faults to play one per request (see FAULTS).
"""

from __future__ import annotations

import base64
import collections
import io
import json
import random
import socket
import struct
import threading
import time
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gallery.standin.draw import render

PATH = "/api/text2image"
OPENAI_PATH = "/v1/images/generations"

FAULTS = (
    "400",  # the request refused as it is
    "401",
    "403",
    "404",
    "429",
    "429-retry-after",
    "429-ratelimit-reset",
    "429-reset-requests",  # OpenAI's x-ratelimit-reset-requests, a duration ("7s")
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
    # 200s that only an OpenAI-protocol client can tell apart (to text2image, not images):
    "malformed-json",  # JSON cut off in the middle
    "no-b64",  # JSON with data[0].url and no b64_json
    "bad-base64",  # data[0].b64_json with characters outside base64
)
# On OPENAI_PATH, "garbage", "truncated", "oversized" and "bomb" come base64-encoded in JSON.
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

    @property
    def openai_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{OPENAI_PATH}"

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
        if self.server._stopping.is_set():  # stopped: like a server that is gone, even on
            self.close_connection = True  # a connection a client kept open
            return
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(min(length, 2 * 1024 * 1024))
        path = self.path.split("?")[0]
        self.openai = path == OPENAI_PATH
        if path not in (PATH, OPENAI_PATH):
            return self._json(404, {"message": "Not found"})
        if length > 2 * 1024 * 1024:
            return self._error(413, "Request body too large")
        try:
            body = json.loads(raw)
            prompt = body["prompt"]
            negative = body.get("negative_prompt") or ""
            if not isinstance(prompt, str) or not isinstance(negative, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return self._error(400, "Expected JSON with a string 'prompt'")
        self.server.received.append(
            {"path": path, "headers": dict(self.headers.items()), "body": body}
        )
        if self.openai and (refused := _refuse_openai_body(body)):
            return self._error(400, refused)

        if self.server.token and self.headers.get("authorization") != f"Bearer {self.server.token}":
            return self._error(401, "Invalid or missing token")

        started = time.monotonic()
        fault = self.server.next_fault()
        # The picture is drawn within the latency: a real endpoint's time to answer includes
        # its own work, so "latency" is the time to the answer, however busy this CPU is.
        picture = render(prompt, negative) if fault == "ok" else b""
        remaining = max(0.0, self.server.latency - (time.monotonic() - started))
        if self.server.latency and self.server._stopping.wait(remaining):
            self.close_connection = True  # stopped while "generating": no answer
            return
        if fault == "ok":
            return self._image(picture, "image/jpeg")
        if fault.isdigit() or fault.startswith("429"):
            return self._status_fault(fault)
        return getattr(self, "_fault_" + fault.replace("-", "_"))(prompt, negative)

    def _status_fault(self, fault: str) -> None:
        status = int(fault[:3])
        headers = {}
        if fault == "429-retry-after":
            headers["Retry-After"] = str(self.server.retry_after)
        elif fault == "429-ratelimit-reset":
            headers["RateLimit-Reset"] = str(self.server.retry_after)
        elif fault == "429-reset-requests":
            headers["x-ratelimit-reset-requests"] = f"{self.server.retry_after}s"
        self._error(status, HTTPStatus(status).phrase, headers)

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
        self._image(random.Random(prompt).randbytes(50_000), "image/jpeg")

    def _fault_truncated(self, prompt: str, negative: str) -> None:
        data = render(prompt, negative)
        self._image(data[: len(data) // 2], "image/jpeg")

    def _fault_oversized(self, prompt: str, negative: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if self.openai else "image/jpeg")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"A" * 65536 if self.openai else b"\xff" * 65536
        try:
            if self.openai:
                self.wfile.write(b'{"data": [{"b64_json": "')
            for _ in range(2048):  # 128 MiB at most, unless the client hangs up first
                self.wfile.write(chunk)
        except OSError:
            pass

    def _fault_bomb(self, prompt: str, negative: str) -> None:
        self._image(decompression_bomb(), "image/png")

    def _fault_malformed_json(self, prompt: str, negative: str) -> None:
        encoded = base64.b64encode(render(prompt, negative)).decode()
        text = json.dumps({"created": int(time.time()), "data": [{"b64_json": encoded}]})
        self._send(200, text[: len(text) // 2].encode(), "application/json")

    def _fault_no_b64(self, prompt: str, negative: str) -> None:
        host, port = self.server.server_address[:2]
        item = {"url": f"http://{host}:{port}/images/1.jpg", "revised_prompt": prompt}
        self._json(200, {"created": int(time.time()), "data": [item]})

    def _fault_bad_base64(self, prompt: str, negative: str) -> None:
        # A real image's base64 with a stray "!" in it: lenient decoders skip it.
        encoded = base64.b64encode(render(prompt, negative)).decode()
        damaged = encoded[:100] + "!" + encoded[100:]
        self._json(200, {"created": int(time.time()), "data": [{"b64_json": damaged}]})

    def _image(self, data: bytes, content_type: str) -> None:
        """A 200 carrying these bytes: raw, or base64 in JSON on the OpenAI path."""
        if not self.openai:
            return self._send(200, data, content_type)
        encoded = base64.b64encode(data).decode()
        self._json(200, {"created": int(time.time()), "data": [{"b64_json": encoded}]})

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        """An error in the style of the path's API: OpenAI's {"error": {...}} or {"message"}."""
        if not self.openai:
            return self._json(status, {"message": message}, headers)
        kind = "invalid_request_error" if status < 500 else "server_error"
        payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._json(status, payload, headers)

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


def _refuse_openai_body(body: dict) -> str:
    """Why the stand-in cannot serve this OpenAI images request, or "" if it can."""
    if not isinstance(body.get("model", ""), str):
        return "'model' must be a string"
    if body.get("n", 1) != 1:
        return "The stand-in makes one image per request: 'n' must be 1"
    if body.get("size", "1024x1024") != "1024x1024":
        return "The stand-in draws 1024x1024 images only: 'size' must be '1024x1024'"
    if body.get("response_format") != "b64_json":
        return "The stand-in answers with base64 only: 'response_format' must be 'b64_json'"
    return ""


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
