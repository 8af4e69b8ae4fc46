"""Fixtures for the end-to-end suite: a mock upstream (OpenAI-compatible under `/v1`, and
Anthropic Messages under `/anthropic/v1`) and a real `orchestratord` process configured
against it.

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

import anthropic
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

# Tool calling, shared by both mock upstreams: with `tools` in the request and no tool
# result in the last turn they call WEATHER_TOOL with WEATHER_ARGS; once the result is
# there they answer WEATHER_REPLY_PREFIX + <the result's text>.
WEATHER_TOOL = "get_weather"
WEATHER_ARGS = {"city": "Paris"}
WEATHER_REPLY_PREFIX = "The weather is "

# The Anthropic mock (`/anthropic/v1/messages`).
ANTHROPIC_UPSTREAM_MODEL = "claude-upstream-1"
ANTHROPIC_TEXT = "Hello from the Anthropic mock."
ANTHROPIC_STREAM_PIECES = ["Hello", " from", " the", " Anthropic", " mock."]
assert "".join(ANTHROPIC_STREAM_PIECES) == ANTHROPIC_TEXT
ANTHROPIC_TOOL_PREAMBLE = "Let me check."
ANTHROPIC_USAGE = {"input_tokens": 9, "output_tokens": 6, "cache_read_input_tokens": 3,
                   "cache_creation_input_tokens": 0}
ANTHROPIC_VERSION = "2023-06-01"
# The Anthropic mock spells its JSON with "," and ": " (no encoder's default), so a gateway
# that re-encodes what should pass through unchanged is caught.
ANTHROPIC_JSON_SEPARATORS = (",", ": ")

LISTEN_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- upstream


def _text_of(content) -> str:
    """The text of a message's or a tool result's `content`: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _check_anthropic_request(body) -> str | None:
    """What a real Messages API would reject in `body` (None when it is acceptable)."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or isinstance(body["max_tokens"], bool) or body["max_tokens"] < 1:
        return "max_tokens: Field required (a positive integer)"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: must be 'user' or 'assistant' (system goes in the top-level `system`)"
        content = m.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            return f"messages.{i}.content: must be a string or a list of blocks"
        for j, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            where = f"messages.{i}.content.{j}"
            if kind == "text":
                if not isinstance(block.get("text"), str):
                    return f"{where}.text: Field required"
            elif kind == "tool_use":
                if m["role"] != "assistant":
                    return f"{where}: tool_use blocks belong to assistant turns"
                if not (isinstance(block.get("id"), str) and isinstance(block.get("name"), str)
                        and isinstance(block.get("input"), dict)):
                    return f"{where}: tool_use needs id, name and an object input"
            elif kind == "tool_result":
                if m["role"] != "user":
                    return f"{where}: tool_result blocks belong to user turns"
                if not isinstance(block.get("tool_use_id"), str):
                    return f"{where}.tool_use_id: Field required"
            elif kind not in ("image", "document", "thinking", "redacted_thinking"):
                return f"{where}.type: unexpected block type {kind!r}"
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return "system: must be a string or a list of text blocks"
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: must be a list"
        for i, t in enumerate(tools):
            if not (isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("input_schema"), dict)):
                return f"tools.{i}: a custom tool needs `name` and an object `input_schema`"
    return None


def _anthropic_tool_result(body: dict) -> dict | None:
    """The tool_result block in the last user turn, if there is one."""
    last = body["messages"][-1]
    if last.get("role") != "user" or not isinstance(last.get("content"), list):
        return None
    for block in last["content"]:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            return block
    return None


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

    def _send_json(self, status: int, obj, record: dict | None = None, separators=None) -> None:
        payload = json.dumps(obj, separators=separators).encode()
        if record is not None:
            record["response"] = payload  # what the client gets, byte for byte
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", "upstream-" + uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_chunk(self, payload: bytes) -> None:
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
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

        if self.path.startswith("/anthropic/"):
            self._anthropic(body, record)
            return
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
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        if last.get("role") == "tool":
            reply = WEATHER_REPLY_PREFIX + _text_of(last.get("content"))
            pieces = [WEATHER_REPLY_PREFIX, _text_of(last.get("content"))]
        else:
            reply, pieces = UPSTREAM_TEXT, UPSTREAM_STREAM_PIECES
        call = None
        if body.get("tools") and last.get("role") != "tool":
            call = {"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                    "function": {"name": WEATHER_TOOL, "arguments": json.dumps(WEATHER_ARGS)}}

        if body.get("stream"):
            self._stream(body, cid, created, model, pieces, call)
            return
        if call is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": reply}
            finish = "stop"
        self._send_json(200, {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": dict(UPSTREAM_USAGE),
        }, record)

    def _stream(self, body: dict, cid: str, created: int, model: str, pieces: list[str], call: dict | None) -> None:
        self._start_sse()

        def chunk(choices, usage=None):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": choices}
            if usage is not None:
                obj["usage"] = usage
            return obj

        def send(data: str) -> None:
            self._write_chunk(f"data: {data}\n\n".encode())

        def delta(d: dict, finish=None) -> None:
            send(json.dumps(chunk([{"index": 0, "delta": d, "finish_reason": finish}])))

        if call is not None:
            # The first tool-call delta names the call; the arguments follow in fragments.
            delta({"role": "assistant", "content": None, "tool_calls": [{
                "index": 0, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]})
            args = call["function"]["arguments"]
            cut = len(args) // 2
            for fragment in (args[:cut], args[cut:]):
                delta({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]})
            delta({}, "tool_calls")
        else:
            delta({"role": "assistant", "content": ""})
            for piece in pieces:
                delta({"content": piece})
            delta({}, "stop")
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            send(json.dumps(chunk([], usage=dict(UPSTREAM_STREAM_USAGE))))
        send("[DONE]")
        self._end_chunks()

    # -- Anthropic Messages API

    def _anthropic(self, body, record: dict) -> None:
        headers = record["headers"]
        if headers.get("x-api-key") != UPSTREAM_KEY:
            self._send_json(401, _anthropic_error("authentication_error", "invalid x-api-key"), record)
            return
        if not headers.get("anthropic-version"):
            self._send_json(400, _anthropic_error("invalid_request_error", "anthropic-version: header is required"),
                            record)
            return
        if self.path != "/anthropic/v1/messages":
            self._send_json(404, _anthropic_error("not_found_error", f"no route {self.path}"), record)
            return
        problem = _check_anthropic_request(body)
        if problem is not None:
            self._send_json(400, _anthropic_error("invalid_request_error", problem), record)
            return

        result = _anthropic_tool_result(body)
        if result is not None:
            text = WEATHER_REPLY_PREFIX + _text_of(result.get("content"))
            blocks = [{"type": "text", "text": text}]
            pieces = [WEATHER_REPLY_PREFIX, _text_of(result.get("content"))]
            stop = "end_turn"
        elif body.get("tools"):
            blocks = [{"type": "text", "text": ANTHROPIC_TOOL_PREAMBLE},
                      {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": WEATHER_TOOL,
                       "input": dict(WEATHER_ARGS)}]
            pieces = ["Let me", " check."]
            assert "".join(pieces) == ANTHROPIC_TOOL_PREAMBLE
            stop = "tool_use"
        else:
            blocks = [{"type": "text", "text": ANTHROPIC_TEXT}]
            pieces = ANTHROPIC_STREAM_PIECES
            stop = "end_turn"
        mid = "msg_" + uuid.uuid4().hex[:24]

        if body.get("stream") is True:
            self._anthropic_stream(record, mid, body["model"], blocks, pieces, stop)
            return
        self._send_json(200, {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": dict(ANTHROPIC_USAGE),
        }, record, separators=ANTHROPIC_JSON_SEPARATORS)

    def _anthropic_stream(self, record: dict, mid: str, model: str, blocks: list[dict], pieces: list[str],
                          stop: str) -> None:
        """The Messages API's event sequence. Records each event as (name, data) in `record["events"]`."""
        record["events"] = events = []
        self._start_sse()

        def send(name: str, obj: dict, split: bool = False) -> None:
            data = json.dumps(obj, separators=ANTHROPIC_JSON_SEPARATORS)
            events.append((name, data))
            payload = f"event: {name}\ndata: {data}\n\n".encode()
            if split:
                # One event across two chunks (and two TCP writes), as a real upstream may send it.
                cut = len(payload) // 2
                self._write_chunk(payload[:cut])
                time.sleep(0.005)
                self._write_chunk(payload[cut:])
            else:
                self._write_chunk(payload)

        start_usage = dict(ANTHROPIC_USAGE, output_tokens=1)
        send("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                send("content_block_start", {"type": "content_block_start", "index": index,
                                             "content_block": {"type": "text", "text": ""}})
                if index == 0:
                    send("ping", {"type": "ping"})
                for n, piece in enumerate(pieces):
                    send("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "text_delta", "text": piece}}, split=(n == 0))
            else:
                send("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})
                args = json.dumps(block["input"])
                cut = len(args) // 2
                for fragment in ("", args[:cut], args[cut:]):
                    send("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "input_json_delta", "partial_json": fragment}})
            send("content_block_stop", {"type": "content_block_stop", "index": index})
        send("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": ANTHROPIC_USAGE["output_tokens"]}})
        send("message_stop", {"type": "message_stop"})
        self._end_chunks()


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
  - {{ name: claude, type: anthropic, base_url: "http://127.0.0.1:{up}/anthropic", api_keys: ["{upstream_key}"] }}
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
  - name: claude-e2e
    targets:
      - {{ provider: claude, model: {anthropic_model} }}
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
            mock_reply=MOCK_PROVIDER_REPLY, upstream_model=UPSTREAM_MODEL,
            anthropic_model=ANTHROPIC_UPSTREAM_MODEL))
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

    def anthropic_client(self, api_key: str = CLIENT_KEY, **kwargs) -> anthropic.Anthropic:
        """The official `anthropic` client pointed at the gateway (it calls `{base}/v1/messages`)."""
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30.0)
        return anthropic.Anthropic(base_url=f"http://127.0.0.1:{self.port}", api_key=api_key, **kwargs)

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


@pytest.fixture(scope="session")
def anthropic_client(gateway) -> anthropic.Anthropic:
    return gateway.anthropic_client()


def pytest_collection_modifyitems(session, config, items):
    """Run the shutdown tests (`test_zz*`) after every other test, whatever the order or file,
    and among themselves by name: `test_zz_shutdown_*` stops the gateway, `test_zzz_*` read
    what it left behind."""
    last = sorted((i for i in items if i.name.startswith("test_zz")), key=lambda i: i.name)
    rest = [i for i in items if not i.name.startswith("test_zz")]
    items[:] = rest + last
