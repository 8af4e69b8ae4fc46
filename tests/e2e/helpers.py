"""Helpers shared by the end-to-end test files: request markers, a raw urllib POST, an SSE
reader, and the checks every request the gateway sends an upstream, or every OpenAI-shaped
error it answers, must pass. The mock upstreams, the gateway fixture and the constants they
share live in conftest.py."""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
import uuid

from conftest import (
    ANTHROPIC_UPSTREAM_MODEL,
    ANTHROPIC_USAGE,
    ANTHROPIC_VERSION,
    CLIENT_KEY,
    UPSTREAM_KEY,
    UPSTREAM_MODEL,
    WEATHER_TOOL,
)

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/anthropic/v1/messages"

WEATHER_DESCRIPTION = "Current weather for a city."
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_WEATHER_TOOL = {"type": "function",
                       "function": {"name": WEATHER_TOOL, "description": WEATHER_DESCRIPTION,
                                    "parameters": WEATHER_SCHEMA}}
TOOL_RESULT = "sunny, 21C"

# What the Anthropic mock's usage becomes in OpenAI and Gemini terms (and in the request log's):
# prompt = input + cache reads + cache writes.
CLAUDE_PROMPT_TOKENS = (ANTHROPIC_USAGE["input_tokens"] + ANTHROPIC_USAGE["cache_read_input_tokens"]
                        + ANTHROPIC_USAGE["cache_creation_input_tokens"])
CLAUDE_COMPLETION_TOKENS = ANTHROPIC_USAGE["output_tokens"]


def marker() -> str:
    """A unique token to find this test's request among those the upstream recorded."""
    return "e2e-" + uuid.uuid4().hex


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def raw_post(gateway, path: str, data: bytes, headers: dict | None = None, *, auth: str = "bearer",
             key: str | None = CLIENT_KEY):
    """POST bytes with urllib; returns (status, headers, raw body bytes).

    `key` (the client key unless told; None sends no credentials) goes where `auth` says:
    "bearer" (Authorization: Bearer), or the name of a header ("x-api-key", "x-goog-api-key")."""
    h = {"Content-Type": "application/json"}
    if key is not None:
        if auth == "bearer":
            h["Authorization"] = f"Bearer {key}"
        else:
            h[auth] = key
    h.update(headers or {})
    req = urllib.request.Request(f"http://127.0.0.1:{gateway.port}{path}", data=data, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def parse_sse(raw: bytes) -> list[tuple[str | None, str]]:
    """Server-sent events as (event name, data) pairs; comment-only blocks are dropped."""
    events = []
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if name is not None or data:
            events.append((name, "\n".join(data)))
    return events


def openai_tool_followup(question: dict, content, call_id: str, name: str, arguments: str) -> list[dict]:
    """The messages of a tool round trip's second chat request: the question, the assistant's
    turn with its one function call, and the call's result (TOOL_RESULT)."""
    return [question,
            {"role": "assistant", "content": content,
             "tool_calls": [{"id": call_id, "type": "function",
                             "function": {"name": name, "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULT}]


def assert_openai_error_body(body: dict) -> dict:
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    err = body["error"]
    for key in ("message", "type", "param", "code"):
        assert key in err, f"error body lacks {key!r}: {body}"
    assert isinstance(err["message"], str) and err["message"], body
    assert isinstance(err["type"], str) and err["type"], body
    return err


def assert_no_client_key(rec: dict) -> None:
    """The client's key is nowhere in a recorded upstream request: URL, headers or body."""
    assert CLIENT_KEY not in rec["path"], f"client key leaked upstream in the URL {rec['path']!r}"
    for name, value in rec["headers"].items():
        assert CLIENT_KEY not in value, f"client key leaked upstream in header {name!r}"
    assert CLIENT_KEY not in rec["raw"].decode("utf-8", "replace")


def assert_openai_upstream(rec: dict, *, stream: bool | None = None, path: str = OPENAI_PATH,
                           model: str = UPSTREAM_MODEL) -> dict:
    """What a request to the `up` (OpenAI) provider must look like; returns its body.

    Every request: `path`, the rewritten `model`, the upstream key and not the client's.
    With `stream` (a chat completion): the messages' roles, and the streaming switches; the
    gateway asks a stream for usage (for its logs) whether or not the client did."""
    assert rec["path"] == path, rec["path"]
    body = rec["body"]
    assert isinstance(body, dict), rec["raw"]
    assert body.get("model") == model, body
    assert rec["headers"].get("authorization") == f"Bearer {UPSTREAM_KEY}", rec["headers"]
    assert_no_client_key(rec)
    if stream is not None:
        for m in body["messages"]:
            assert m["role"] in ("system", "developer", "user", "assistant", "tool"), body
        if stream:
            assert body.get("stream") is True, body
            assert (body.get("stream_options") or {}).get("include_usage") is True, body
        else:
            assert not body.get("stream"), body
    return body


def assert_anthropic_upstream(rec: dict, *, stream: bool, exact_version: bool = True) -> dict:
    """What a request to the `claude` (Anthropic) provider must look like; returns its body.

    `exact_version`: the gateway's own `anthropic-version` (it translated the request) rather
    than any (it passed the client's through)."""
    assert rec["path"] == ANTHROPIC_PATH, rec["path"]
    body = rec["body"]
    assert isinstance(body, dict), rec["raw"]
    assert body["model"] == ANTHROPIC_UPSTREAM_MODEL, body
    headers = rec["headers"]
    assert headers.get("x-api-key") == UPSTREAM_KEY, headers
    if exact_version:
        assert headers.get("anthropic-version") == ANTHROPIC_VERSION, headers
    else:
        assert headers.get("anthropic-version"), headers
    assert "application/json" in (headers.get("content-type") or ""), headers
    assert_no_client_key(rec)
    assert isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0, body
    for m in body["messages"]:
        assert m["role"] in ("user", "assistant"), body
    if stream:
        assert body.get("stream") is True, body
    else:
        assert not body.get("stream"), body
    return body


def request_log_rows(gateway, model: str) -> list[dict]:
    """Stops the gateway (a no-op when the shutdown test already stopped it) and returns the
    request-log rows of `model`."""
    code = gateway.stop()
    assert code == 0, f"orchestratord exited with {code}; stderr tail:\n{gateway.stderr_text()[-4000:]}"
    conn = sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(
            "SELECT model, provider, status, stream, prompt_tokens, completion_tokens FROM request_logs "
            "WHERE model = ?", (model,))]
    finally:
        conn.close()
