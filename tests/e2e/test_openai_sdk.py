"""End-to-end tests of orchestratord through the official `openai` Python client."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid

import openai
import pytest

from conftest import (
    CLIENT_KEY,
    Gateway,
    MOCK_PROVIDER_REPLY,
    UPSTREAM_KEY,
    UPSTREAM_STREAM_TEXT,
    UPSTREAM_STREAM_USAGE,
    UPSTREAM_TEXT,
    UPSTREAM_USAGE,
)
from helpers import assert_openai_error_body, assert_openai_upstream, marker, raw_post, user

GENERATED_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# --------------------------------------------------------------------------- a. non-stream


def test_non_stream_completion(gateway, client, upstream):
    m = marker()
    resp = client.chat.completions.create(model="gpt-e2e", messages=user(f"say hi {m}"))
    gateway.note_engine_request()

    assert resp.object == "chat.completion"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == UPSTREAM_TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == UPSTREAM_USAGE["prompt_tokens"]
    assert resp.usage.completion_tokens == UPSTREAM_USAGE["completion_tokens"]
    assert resp.usage.total_tokens == UPSTREAM_USAGE["total_tokens"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert_openai_upstream(seen[0], stream=False)
    assert seen[0]["body"]["messages"][-1]["content"] == f"say hi {m}"


# --------------------------------------------------------------------------- b. streaming


def test_stream_without_usage_option_strips_usage_chunk(gateway, client, upstream):
    m = marker()
    stream = client.chat.completions.create(model="gpt-e2e", messages=user(m), stream=True)
    chunks = list(stream)
    gateway.note_engine_request()

    assert chunks, "no chunks received"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == UPSTREAM_STREAM_TEXT
    for c in chunks:
        assert c.object == "chat.completion.chunk"
        assert c.choices, f"client did not ask for usage but got a usage-only chunk: {c}"
        assert c.usage is None, f"client did not ask for usage but a chunk carries it: {c}"
    assert any(c.choices[0].finish_reason == "stop" for c in chunks)

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    # The gateway asks upstream for usage (for its logs) even though the client did not.
    assert_openai_upstream(seen[0], stream=True)


def test_stream_with_include_usage(gateway, client, upstream):
    m = marker()
    stream = client.chat.completions.create(
        model="gpt-e2e", messages=user(m), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    gateway.note_engine_request()

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == UPSTREAM_STREAM_TEXT
    last = chunks[-1]
    assert last.choices == [], last
    assert last.usage is not None, last
    assert last.usage.prompt_tokens == UPSTREAM_STREAM_USAGE["prompt_tokens"]
    assert last.usage.completion_tokens == UPSTREAM_STREAM_USAGE["completion_tokens"]
    assert last.usage.total_tokens == UPSTREAM_STREAM_USAGE["total_tokens"]
    assert all(c.usage is None for c in chunks[:-1]), chunks

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert_openai_upstream(seen[0], stream=True)


# --------------------------------------------------------------------------- c. models


def test_models_list(client):
    ids = {m.id for m in client.models.list()}
    assert {"gpt-e2e", "failover-model", "demo-model"} <= ids, ids


# --------------------------------------------------------------------------- d. failover


def test_failover_to_second_priority(gateway, client, upstream):
    m = marker()
    resp = client.chat.completions.create(model="failover-model", messages=user(m))
    gateway.note_engine_request()

    assert resp.choices[0].message.content == UPSTREAM_TEXT
    assert resp.usage is not None

    seen = upstream.requests_containing(m)
    broken = [r for r in seen if r["path"] == "/broken/v1/chat/completions"]
    good = [r for r in seen if r["path"] == "/v1/chat/completions"]
    assert len(good) == 1, seen
    assert_openai_upstream(good[0], stream=False)
    # Priority 0 is tried first (unless a breaker has already opened on it, which the
    # first failover request of the session cannot have done).
    assert broken, "the priority-0 (broken) provider was never tried"
    assert broken[0]["body"]["model"] == "b-1"
    assert broken[0]["headers"].get("authorization") == f"Bearer {UPSTREAM_KEY}"


def test_failover_stream(gateway, client, upstream):
    m = marker()
    chunks = list(client.chat.completions.create(model="failover-model", messages=user(m), stream=True))
    gateway.note_engine_request()

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == UPSTREAM_STREAM_TEXT
    good = upstream.requests_containing(m, path="/v1/chat/completions")
    assert len(good) == 1
    assert_openai_upstream(good[0], stream=True)


# --------------------------------------------------------------------------- e. mock provider


def test_mock_provider_non_stream(gateway, client):
    resp = client.chat.completions.create(model="demo-model", messages=user("hello mock"))
    gateway.note_engine_request()
    assert resp.choices[0].message.content == MOCK_PROVIDER_REPLY
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.completion_tokens > 0


def test_mock_provider_stream(gateway, client):
    chunks = list(client.chat.completions.create(
        model="demo-model", messages=user("hello mock"), stream=True, stream_options={"include_usage": True}))
    gateway.note_engine_request()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == MOCK_PROVIDER_REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


# --------------------------------------------------------------------------- f. errors


def test_wrong_api_key_is_401(gateway):
    bad = gateway.client(api_key="sk-not-a-real-key-000000")
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="gpt-e2e", messages=user("hi"))
    assert info.value.status_code == 401
    assert_openai_error_body(info.value.response.json())
    assert info.value.response.headers.get("x-request-id")


def test_unknown_model_is_404_model_not_found(gateway, client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model-e2e", messages=user("hi"))
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    err = assert_openai_error_body(info.value.response.json())
    assert err["code"] == "model_not_found"
    assert info.value.response.headers.get("x-request-id")


def test_bad_role_is_400(gateway, client, upstream):
    m = marker()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-e2e", messages=[{"role": "wizard", "content": m}])
    assert info.value.status_code == 400
    err = assert_openai_error_body(info.value.response.json())
    assert err["type"] == "invalid_request_error"
    assert info.value.response.headers.get("x-request-id")
    assert upstream.requests_containing(m) == [], "a malformed request reached the upstream"


def test_invalid_json_is_400(gateway):
    status, headers, raw = raw_post(gateway, "/v1/chat/completions", b'{"model": "gpt-e2e", "messages": [')
    assert status == 400, raw
    err = assert_openai_error_body(json.loads(raw))
    assert err["type"] == "invalid_request_error"
    assert headers.get("x-request-id")


# --------------------------------------------------------------------------- g. request ids


def test_x_request_id_is_generated(gateway, client):
    raw = client.chat.completions.with_raw_response.create(model="gpt-e2e", messages=user("rid"))
    gateway.note_engine_request()
    rid = raw.headers.get("x-request-id")
    assert rid and GENERATED_ID_RE.match(rid), rid
    assert raw.parse().choices[0].message.content == UPSTREAM_TEXT

    raw2 = client.chat.completions.with_raw_response.create(model="demo-model", messages=user("rid"))
    gateway.note_engine_request()
    assert raw2.headers.get("x-request-id") and raw2.headers["x-request-id"] != rid

    models = client.models.with_raw_response.list()
    assert models.headers.get("x-request-id")


def test_x_request_id_is_echoed(gateway, client):
    mine = "e2e-req:" + uuid.uuid4().hex
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-e2e", messages=user("rid"), extra_headers={"x-request-id": mine})
    gateway.note_engine_request()
    assert raw.headers.get("x-request-id") == mine

    stream_raw = client.chat.completions.with_raw_response.create(
        model="gpt-e2e", messages=user("rid"), stream=True, extra_headers={"x-request-id": mine + "-s"})
    assert stream_raw.headers.get("x-request-id") == mine + "-s"
    text = "".join(c.choices[0].delta.content or "" for c in stream_raw.parse() if c.choices)
    gateway.note_engine_request()
    assert text == UPSTREAM_STREAM_TEXT


def test_invalid_x_request_id_is_replaced(gateway, client):
    bad = "not valid/" + "x" * 200
    raw = client.chat.completions.with_raw_response.create(
        model="demo-model", messages=user("rid"), extra_headers={"x-request-id": bad})
    gateway.note_engine_request()
    rid = raw.headers.get("x-request-id")
    assert rid and rid != bad and GENERATED_ID_RE.match(rid), rid


def test_x_request_id_on_error_response(gateway, client):
    mine = "e2e-err-" + uuid.uuid4().hex
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="no-such-model-e2e", messages=user("hi"), extra_headers={"x-request-id": mine})
    assert info.value.response.headers.get("x-request-id") == mine


# --------------------------------------------------------------------------- g2. allocator tuning

TUNABLES = "glibc.malloc.tcache_count=256"


def _environ(pid: int) -> dict[str, str]:
    raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_serve_runs_with_the_allocator_tuned(gateway):
    """`serve` runs itself again, in place, with glibc's thread cache enlarged (unless
    the environment it was started in says otherwise)."""
    environ = _environ(gateway.proc.pid)
    expected = os.environ.get("GLIBC_TUNABLES", TUNABLES)
    assert environ.get("GLIBC_TUNABLES") == expected, environ.get("GLIBC_TUNABLES")
    # Same process (exec keeps the pid), same arguments.
    cmdline = open(f"/proc/{gateway.proc.pid}/cmdline", "rb").read().split(b"\0")
    assert cmdline[1:3] == [b"serve", b"--config"], cmdline


def test_an_operators_glibc_tunables_are_left_alone(orch_bin, upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "")
    other = Gateway(orch_bin, tmp_path, upstream).start()
    try:
        assert _environ(other.proc.pid).get("GLIBC_TUNABLES") == ""
        assert other.client().models.list().data, "the gateway serves"
    finally:
        assert other.stop() == 0


# --------------------------------------------------------------------------- h. shutdown (runs last)


def test_zz_shutdown_flushes_logs_and_no_secrets(gateway):
    expected = gateway.engine_requests
    code = gateway.stop()
    assert code == 0, f"orchestratord exited with {code} after SIGTERM; stderr tail:\n{gateway.stderr_text()[-4000:]}"

    assert gateway.db_path.is_file(), f"no database at {gateway.db_path}"
    conn = sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        cols = {r["name"] for r in conn.execute("PRAGMA table_info(request_logs)")}
        assert {"model", "status", "stream", "prompt_tokens", "completion_tokens"} <= cols, cols
        rows = [dict(r) for r in conn.execute(
            "SELECT model, status, stream, prompt_tokens, completion_tokens, attempts FROM request_logs")]
    finally:
        conn.close()

    assert len(rows) >= expected, (
        f"request_logs has {len(rows)} rows but {expected} chat requests reached the engine: {rows}")
    if expected:
        ok = [r for r in rows if r["status"] == 200]
        models = {r["model"] for r in ok}
        assert {"gpt-e2e", "failover-model", "demo-model"} <= models, rows
        # Upstream usage is what gets logged, for plain and streamed requests alike.
        gpt = [r for r in ok if r["model"] == "gpt-e2e"]
        assert any(not r["stream"] and r["prompt_tokens"] == UPSTREAM_USAGE["prompt_tokens"]
                   and r["completion_tokens"] == UPSTREAM_USAGE["completion_tokens"] for r in gpt), gpt
        assert any(r["stream"] and r["prompt_tokens"] == UPSTREAM_STREAM_USAGE["prompt_tokens"]
                   and r["completion_tokens"] == UPSTREAM_STREAM_USAGE["completion_tokens"] for r in gpt), gpt
        failover = [r for r in ok if r["model"] == "failover-model"]
        assert max(r["attempts"] for r in failover) >= 2, failover

    logs = gateway.stderr_text() + gateway.stdout_text()
    assert logs.strip(), "the gateway logged nothing"
    assert CLIENT_KEY not in logs, "client key appears in the gateway's log"
    assert UPSTREAM_KEY not in logs, "upstream key appears in the gateway's log"
    # Client keys are stored hashed: the plaintext must not be in the database either.
    for suffix in ("", "-wal"):
        f = gateway.db_path.with_name(gateway.db_path.name + suffix)
        if f.exists():
            assert CLIENT_KEY.encode() not in f.read_bytes(), f"client key stored in plaintext in {f.name}"
