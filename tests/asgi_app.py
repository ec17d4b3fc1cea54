"""Asking the ASGI application uvicorn serves (config/asgi.py) directly, so its answers
before Django are what a test exercises."""

import asyncio

from asgiref.sync import async_to_sync


def served(path: str, *, method: str = "GET", cookie: str = "", **headers: str):
    """(status, headers, body) from config.asgi's application, as uvicorn would call it."""
    from config.asgi import application

    sent: list[dict] = []
    raw = [(b"host", b"testserver")]
    raw += [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    if cookie:
        raw.append((b"cookie", cookie.encode()))
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "headers": raw, "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }  # fmt: skip

    asked = []

    async def receive():
        if asked:  # the body was sent: Django then only listens for a disconnect
            await asyncio.Event().wait()
        asked.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    async_to_sync(application)(scope, receive, send)
    start = sent[0]
    found = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], found, b"".join(m.get("body", b"") for m in sent[1:])
