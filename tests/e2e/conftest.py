"""Fixtures for the end-to-end suite: a mock OpenAI-compatible upstream and a real
`orchestratord` process configured against it.

The gateway binary comes from `ORCH_BIN` (default `<repo>/.build/debug/orchestratord`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "orchestratord"

CLIENT_KEY = "sk-e2e-client-key-123456"
UPSTREAM_KEY = "sk-upstream-secret-abcdef"

UPSTREAM_MODEL = "upstream-model-1"
UPSTREAM_TEXT = "Hello from the upstream mock."
UPSTREAM_STREAM_PIECES = ["Hello", " from", " the", " upstream", " mock."]
UPSTREAM_STREAM_TEXT = "".join(UPSTREAM_STREAM_PIECES)
UPSTREAM_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
UPSTREAM_STREAM_USAGE = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
MOCK_PROVIDER_REPLY = "Hello from the mock provider."

LISTEN_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- upstream


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # SSE events go out as small writes
    server: "_UpstreamServer"

    def log_message(self, format, *args):  # noqa: A002 - keep pytest output quiet
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _send_json(self, status: int, obj) -> None:
        payload = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", "upstream-" + uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def do_GET(self):  # noqa: N802
        self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error",
                                        "param": None, "code": None}})

    def do_POST(self):  # noqa: N802
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
            "raw": raw,
        }
        self.server.record(record)

        if self.path == "/broken/v1/chat/completions":
            self._send_json(500, {"error": {"message": "upstream exploded", "type": "server_error",
                                            "param": None, "code": None}})
            return
        if self.path != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error",
                                            "param": None, "code": None}})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error",
                                            "param": None, "code": None}})
            return

        model = body.get("model", "")
        created = int(time.time())
        cid = "chatcmpl-up-" + uuid.uuid4().hex[:12]
        if body.get("stream"):
            self._stream(body, cid, created, model)
        else:
            self._send_json(200, {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": UPSTREAM_TEXT},
                    "finish_reason": "stop",
                    "logprobs": None,
                }],
                "usage": dict(UPSTREAM_USAGE),
            })

    def _stream(self, body: dict, cid: str, created: int, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(choices, usage=None):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": choices}
            if usage is not None:
                obj["usage"] = usage
            return obj

        def send(data: str) -> None:
            payload = f"data: {data}\n\n".encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()

        send(json.dumps(chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None}])))
        for piece in UPSTREAM_STREAM_PIECES:
            send(json.dumps(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])))
        send(json.dumps(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            send(json.dumps(chunk([], usage=dict(UPSTREAM_STREAM_USAGE))))
        send("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self._lock = threading.Lock()
        self._requests: list[dict] = []

    def record(self, record: dict) -> None:
        with self._lock:
            self._requests.append(record)


class MockUpstream:
    """An in-process OpenAI-compatible upstream that records every request."""

    def __init__(self):
        self._server = _UpstreamServer()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-upstream", daemon=True)

    def start(self) -> "MockUpstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def requests(self) -> list[dict]:
        with self._server._lock:
            return list(self._server._requests)

    def requests_containing(self, marker: str, path: str | None = None) -> list[dict]:
        """Recorded requests whose raw body contains `marker` (optionally on one path)."""
        out = []
        for r in self.requests:
            if marker.encode() in r["raw"] and (path is None or r["path"] == path):
                out.append(r)
        return out


@pytest.fixture(scope="session")
def upstream():
    up = MockUpstream().start()
    yield up
    up.stop()


# --------------------------------------------------------------------------- gateway


CONFIG_TEMPLATE = """\
database: {{ url: "sqlite://{db}" }}
keys:
  - {{ name: e2e, key: "{client_key}" }}
providers:
  - {{ name: broken, type: openai, base_url: "http://127.0.0.1:{up}/broken/v1", api_keys: ["{upstream_key}"] }}
  - {{ name: up, type: openai, base_url: "http://127.0.0.1:{up}/v1", api_keys: ["{upstream_key}"] }}
  - {{ name: demo, type: mock, mock: {{ reply: "{mock_reply}", latency_ms: 5 }} }}
models:
  - name: gpt-e2e
    targets:
      - {{ provider: up, model: {upstream_model} }}
  - name: failover-model
    targets:
      - {{ provider: broken, model: b-1, priority: 0 }}
      - {{ provider: up, model: {upstream_model}, priority: 1 }}
  - name: demo-model
    targets:
      - {{ provider: demo, model: mock-1 }}
routing: {{ max_attempts: 3, backoff_initial_ms: 1, backoff_max_ms: 5 }}
"""


class Gateway:
    """A running `orchestratord serve` process."""

    def __init__(self, binary: Path, workdir: Path, upstream: MockUpstream):
        self.binary = binary
        self.workdir = workdir
        self.db_path = workdir / "e2e.db"
        self.config_path = workdir / "orchestrator.yaml"
        self.stderr_path = workdir / "orchestratord.stderr.log"
        self.stdout_path = workdir / "orchestratord.stdout.log"
        self.config_path.write_text(CONFIG_TEMPLATE.format(
            db=self.db_path, client_key=CLIENT_KEY, upstream_key=UPSTREAM_KEY, up=upstream.port,
            mock_reply=MOCK_PROVIDER_REPLY, upstream_model=UPSTREAM_MODEL))
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.exit_code: int | None = None
        # Chat requests the tests made that passed auth and validation, i.e. reached the engine.
        self.engine_requests = 0
        self._lock = threading.Lock()

    # -- lifecycle

    def start(self) -> "Gateway":
        env = dict(os.environ)
        env["ORCH_LOG_LEVEL"] = "info"
        for var in ("ORCH_CONFIG", "ORCH_LOG_FORMAT", "ORCH_ADMIN_KEY", "ORCH_HOST"):
            env.pop(var, None)
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--config", str(self.config_path), "--port", "0"],
            cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            match = LISTEN_RE.search(self.stderr_text())
            if match:
                self.port = int(match.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        code = self.proc.poll()
        self.kill()
        raise RuntimeError(
            f"orchestratord did not report 'listening on http://127.0.0.1:<port>' within {STARTUP_TIMEOUT_S}s "
            f"(exit code {code}); stderr tail:\n{self.stderr_text()[-4000:]}")

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> int:
        """SIGTERM, then wait; returns the exit code. Idempotent."""
        if self.exit_code is not None:
            return self.exit_code
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"orchestratord did not exit within {timeout}s of SIGTERM; stderr tail:\n"
                    f"{self.stderr_text()[-4000:]}")
        self.exit_code = self.proc.returncode
        self._close_files()
        return self.exit_code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None and self.exit_code is None:
            self.exit_code = self.proc.returncode
        self._close_files()

    def _close_files(self) -> None:
        for f in (getattr(self, "_stderr", None), getattr(self, "_stdout", None)):
            if f is not None and not f.closed:
                f.close()

    # -- helpers

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, api_key: str = CLIENT_KEY, **kwargs) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30.0)
        return openai.OpenAI(base_url=self.base_url, api_key=api_key, **kwargs)

    def note_engine_request(self, n: int = 1) -> None:
        with self._lock:
            self.engine_requests += n

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout_text(self) -> str:
        try:
            return self.stdout_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


@pytest.fixture(scope="session")
def orch_bin() -> Path:
    path = Path(os.environ.get("ORCH_BIN") or DEFAULT_BIN)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"orchestratord binary not found or not executable at {path} (set ORCH_BIN)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def gateway(orch_bin, upstream, tmp_path_factory):
    gw = Gateway(orch_bin, tmp_path_factory.mktemp("orchestratord"), upstream).start()
    try:
        yield gw
    finally:
        # The last test normally stops the gateway itself; this is the safety net.
        try:
            gw.stop(timeout=10)
        except BaseException:
            gw.kill()


@pytest.fixture(scope="session")
def client(gateway) -> openai.OpenAI:
    return gateway.client()


def pytest_collection_modifyitems(session, config, items):
    """Run the shutdown test (`test_zz_*`) after every other test, whatever the order."""
    last = [i for i in items if i.name.startswith("test_zz_")]
    rest = [i for i in items if not i.name.startswith("test_zz_")]
    items[:] = rest + last
