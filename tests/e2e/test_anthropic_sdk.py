"""End-to-end tests of the gateway's Anthropic support.

- `/v1/messages` through the official `anthropic` client, routed to the OpenAI upstream
  (`gpt-e2e`, translated) and to the Anthropic upstream (`claude-e2e`, passed through);
- `/v1/chat/completions` through the `openai` client, routed to the Anthropic upstream
  (translated);
- errors, request ids and `count_tokens` on the Anthropic route.

Every request that reaches the engine is noted with `gateway.note_engine_request()`, for
the request-log row count that `test_zz_shutdown_flushes_logs_and_no_secrets` checks.
"""

from __future__ import annotations

import json
import uuid

import anthropic
import pytest

from conftest import (
    ANTHROPIC_TEXT,
    ANTHROPIC_TOOL_PREAMBLE,
    ANTHROPIC_UPSTREAM_MODEL,
    ANTHROPIC_USAGE,
    UPSTREAM_STREAM_TEXT,
    UPSTREAM_STREAM_USAGE,
    UPSTREAM_TEXT,
    UPSTREAM_USAGE,
    WEATHER_ARGS,
    WEATHER_REPLY_PREFIX,
    WEATHER_TOOL,
    text_of,
)
from helpers import (
    CLAUDE_COMPLETION_TOKENS,
    CLAUDE_PROMPT_TOKENS,
    OPENAI_WEATHER_TOOL,
    TOOL_RESULT,
    WEATHER_DESCRIPTION,
    WEATHER_SCHEMA,
    assert_anthropic_upstream,
    assert_openai_upstream,
    marker,
    openai_tool_followup,
    parse_sse,
    raw_post,
    request_log_rows,
    user,
)

ANTHROPIC_WEATHER_TOOL = {"name": WEATHER_TOOL, "description": WEATHER_DESCRIPTION, "input_schema": WEATHER_SCHEMA}
CLAUDE_CACHED_TOKENS = ANTHROPIC_USAGE["cache_read_input_tokens"]


# --------------------------------------------------------------------------- helpers


def assert_openai_weather_tool(tools) -> None:
    """The weather tool in OpenAI form (extra keys such as `strict` are allowed)."""
    assert isinstance(tools, list) and len(tools) == 1, tools
    assert tools[0].get("type") == "function", tools
    fn = tools[0].get("function") or {}
    assert fn.get("name") == WEATHER_TOOL, tools
    assert fn.get("description") == WEATHER_DESCRIPTION, tools
    assert fn.get("parameters") == WEATHER_SCHEMA, tools


def assert_anthropic_weather_tool(tools) -> None:
    """The weather tool in Anthropic form (extra keys are allowed)."""
    assert isinstance(tools, list) and len(tools) == 1, tools
    assert tools[0].get("name") == WEATHER_TOOL, tools
    assert tools[0].get("description") == WEATHER_DESCRIPTION, tools
    assert tools[0].get("input_schema") == WEATHER_SCHEMA, tools


def assert_anthropic_error(body, kind: str) -> dict:
    """`{"type": "error", "error": {"type": kind, "message": "…"}}`; returns the inner error."""
    assert isinstance(body, dict), body
    assert body.get("type") == "error", body
    err = body.get("error")
    assert isinstance(err, dict), body
    assert err.get("type") == kind, body
    assert isinstance(err.get("message"), str) and err["message"], body
    return err


def block_params(content) -> list[dict]:
    """An assistant turn's content blocks (SDK objects) as request params."""
    out = []
    for b in content:
        if b.type == "text":
            out.append({"type": "text", "text": b.text})
        elif b.type == "tool_use":
            out.append({"type": "tool_use", "id": b.id, "name": b.name, "input": b.input})
    return out


def only_tool_use(content):
    uses = [b for b in content if b.type == "tool_use"]
    assert len(uses) == 1, content
    return uses[0]


def weather_question(m: str) -> dict:
    """The user turn that starts a tool round trip; `m` finds it upstream."""
    return {"role": "user", "content": f"What is the weather in Paris? {m}"}


def expect_weather_call(message):
    """The first answer of a tool round trip: one get_weather call for Paris. Returns it."""
    assert message.stop_reason == "tool_use"
    use = only_tool_use(message.content)
    assert use.name == WEATHER_TOOL and use.input == WEATHER_ARGS
    assert use.id
    return use


def with_tool_result(question: dict, first, use, result=TOOL_RESULT) -> list[dict]:
    """The conversation for the second request: question, the assistant's call, its result."""
    return [question,
            {"role": "assistant", "content": block_params(first.content)},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": result}]}]


def check_stream_sequence(events: list[tuple[str | None, str]]) -> list[dict]:
    """Checks an Anthropic SSE stream's shape; returns the parsed data of the non-ping events."""
    named = [(n, json.loads(d)) for n, d in events if n != "ping"]
    assert named, events
    for name, data in named:
        assert name is not None, f"an event without an `event:` line: {data}"
        assert data.get("type") == name, (name, data)
    names = [n for n, _ in named]
    assert names[0] == "message_start", names
    assert names[-1] == "message_stop", names
    assert names[-2] == "message_delta", names
    open_blocks: set[int] = set()
    seen_blocks: list[int] = []
    for name, data in named:
        if name == "content_block_start":
            assert data["index"] not in open_blocks and data["index"] not in seen_blocks, names
            open_blocks.add(data["index"])
            seen_blocks.append(data["index"])
        elif name == "content_block_delta":
            assert data["index"] in open_blocks, (names, data)
        elif name == "content_block_stop":
            assert data["index"] in open_blocks, (names, data)
            open_blocks.remove(data["index"])
    assert not open_blocks, f"blocks left open: {open_blocks}"
    assert seen_blocks == list(range(len(seen_blocks))), seen_blocks
    delta = named[-2][1]
    assert delta["delta"].get("stop_reason"), delta
    assert isinstance(delta.get("usage", {}).get("output_tokens"), int), delta
    return [d for _, d in named]


# --------------------------------------------------------------------------- anthropic client -> OpenAI upstream


def test_messages_to_openai_non_stream(gateway, anthropic_client, upstream):
    m = marker()
    resp = anthropic_client.messages.create(
        model="gpt-e2e", max_tokens=64, system=f"You are terse. {m}",
        messages=[{"role": "user", "content": f"say hi {m}"}])
    gateway.note_engine_request()

    assert resp.type == "message"
    assert resp.role == "assistant"
    assert resp.id
    assert [b.type for b in resp.content] == ["text"], resp.content
    assert resp.content[0].text == UPSTREAM_TEXT
    assert resp.stop_reason == "end_turn"
    assert resp.usage.input_tokens == UPSTREAM_USAGE["prompt_tokens"]
    assert resp.usage.output_tokens == UPSTREAM_USAGE["completion_tokens"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_openai_upstream(seen[0], stream=False)
    assert body["messages"][0]["role"] == "system", body
    assert text_of(body["messages"][0]["content"]) == f"You are terse. {m}", body
    assert body["messages"][-1]["role"] == "user", body
    assert text_of(body["messages"][-1]["content"]) == f"say hi {m}", body
    assert 64 in (body.get("max_tokens"), body.get("max_completion_tokens")), body


def test_messages_to_openai_stream(gateway, anthropic_client, upstream):
    m = marker()
    with anthropic_client.messages.stream(model="gpt-e2e", max_tokens=64, messages=user(m)) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    gateway.note_engine_request()

    assert text == UPSTREAM_STREAM_TEXT
    assert [b.type for b in final.content] == ["text"], final.content
    assert final.content[0].text == UPSTREAM_STREAM_TEXT
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == UPSTREAM_STREAM_USAGE["completion_tokens"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    # The gateway asks the OpenAI upstream for usage so that it can fill message_delta.
    assert_openai_upstream(seen[0], stream=True)


def test_messages_stream_event_sequence(gateway, upstream):
    """The raw SSE of a translated stream: named events, in the Messages API's order."""
    m = marker()
    status, headers, raw = raw_post(gateway, "/v1/messages", json.dumps(
        {"model": "gpt-e2e", "max_tokens": 64, "stream": True, "messages": user(m)}).encode())
    gateway.note_engine_request()

    assert status == 200, raw
    assert "text/event-stream" in (headers.get("content-type") or ""), dict(headers)
    assert headers.get("x-request-id")
    data = check_stream_sequence(parse_sse(raw))
    text = "".join(d["delta"]["text"] for d in data
                   if d["type"] == "content_block_delta" and d["delta"]["type"] == "text_delta")
    assert text == UPSTREAM_STREAM_TEXT
    assert data[-2]["delta"]["stop_reason"] == "end_turn"
    assert data[-2]["usage"]["output_tokens"] == UPSTREAM_STREAM_USAGE["completion_tokens"]
    assert len(upstream.requests_containing(m)) == 1


def test_messages_to_openai_tool_round_trip(gateway, anthropic_client, upstream):
    m = marker()
    question = weather_question(m)
    first = anthropic_client.messages.create(
        model="gpt-e2e", max_tokens=128, tools=[ANTHROPIC_WEATHER_TOOL], messages=[question])
    gateway.note_engine_request()
    use = expect_weather_call(first)

    second = anthropic_client.messages.create(
        model="gpt-e2e", max_tokens=128, tools=[ANTHROPIC_WEATHER_TOOL],
        messages=with_tool_result(question, first, use))
    gateway.note_engine_request()

    assert second.stop_reason == "end_turn"
    assert [b.type for b in second.content] == ["text"], second.content
    assert second.content[0].text == WEATHER_REPLY_PREFIX + TOOL_RESULT

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_openai_upstream(seen[0], stream=False)
    assert_openai_weather_tool(body.get("tools"))
    body = assert_openai_upstream(seen[1], stream=False)
    calls = [c for msg in body["messages"] if msg["role"] == "assistant" for c in (msg.get("tool_calls") or [])]
    assert len(calls) == 1, body["messages"]
    assert calls[0]["type"] == "function"
    assert calls[0]["function"]["name"] == WEATHER_TOOL
    assert json.loads(calls[0]["function"]["arguments"]) == WEATHER_ARGS
    last = body["messages"][-1]
    assert last["role"] == "tool", body["messages"]
    assert last["tool_call_id"] == calls[0]["id"], body["messages"]
    assert text_of(last["content"]) == TOOL_RESULT


def test_messages_to_openai_tool_round_trip_stream(gateway, anthropic_client, upstream):
    m = marker()
    question = weather_question(m)
    with anthropic_client.messages.stream(
            model="gpt-e2e", max_tokens=128, tools=[ANTHROPIC_WEATHER_TOOL], messages=[question]) as stream:
        first = stream.get_final_message()
    gateway.note_engine_request()
    use = expect_weather_call(first)

    # This time the result is a list of text blocks rather than a string.
    with anthropic_client.messages.stream(
            model="gpt-e2e", max_tokens=128, tools=[ANTHROPIC_WEATHER_TOOL],
            messages=with_tool_result(question, first, use,
                                      result=[{"type": "text", "text": TOOL_RESULT}])) as stream:
        text = "".join(stream.text_stream)
        second = stream.get_final_message()
    gateway.note_engine_request()

    assert text == WEATHER_REPLY_PREFIX + TOOL_RESULT
    assert second.stop_reason == "end_turn"

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    assert_openai_upstream(seen[0], stream=True)
    body = assert_openai_upstream(seen[1], stream=True)
    calls = [c for msg in body["messages"] if msg["role"] == "assistant" for c in (msg.get("tool_calls") or [])]
    assert len(calls) == 1 and json.loads(calls[0]["function"]["arguments"]) == WEATHER_ARGS, body["messages"]
    assert body["messages"][-1]["role"] == "tool"
    assert body["messages"][-1]["tool_call_id"] == calls[0]["id"]
    assert text_of(body["messages"][-1]["content"]) == TOOL_RESULT


# --------------------------------------------------------------------------- anthropic client -> Anthropic upstream


def test_messages_passthrough_non_stream(gateway, anthropic_client, upstream):
    m = marker()
    raw = anthropic_client.messages.with_raw_response.create(
        model="claude-e2e", max_tokens=64, system=[{"type": "text", "text": f"Be brief. {m}"}],
        stop_sequences=["###"], metadata={"user_id": "e2e-user"}, extra_body={"temperature": 0.25},
        messages=[{"role": "user", "content": [{"type": "text", "text": f"hello {m}"}]}])
    gateway.note_engine_request()
    resp = raw.parse()

    assert raw.headers.get("x-request-id")
    assert [b.type for b in resp.content] == ["text"], resp.content
    assert resp.content[0].text == ANTHROPIC_TEXT
    assert resp.stop_reason == "end_turn"
    assert resp.usage.input_tokens == ANTHROPIC_USAGE["input_tokens"]
    assert resp.usage.output_tokens == ANTHROPIC_USAGE["output_tokens"]
    assert resp.usage.cache_read_input_tokens == ANTHROPIC_USAGE["cache_read_input_tokens"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_anthropic_upstream(seen[0], stream=False, exact_version=False)
    sent = json.loads(raw.http_request.content)
    assert sent["model"] == "claude-e2e"
    assert {k: v for k, v in body.items() if k != "model"} == {k: v for k, v in sent.items() if k != "model"}
    # The upstream's body comes back unchanged.
    assert raw.http_response.content == seen[0]["response"]


def test_messages_passthrough_raw_bytes(gateway, upstream):
    """Only the top-level `model` changes on the way up; the answer comes back byte for byte."""
    m = marker()
    # Compact JSON with spellings a re-encoder would change: 0.50, a 2^53+1 integer, \u00e9,
    # a field the gateway does not know, and `model` in the middle.
    sent = ('{"max_tokens":64,"temperature":0.50,"model":"claude-e2e",'
            '"x_e2e_extra":{"big":9007199254740993,"s":"caf\\u00e9","list":[1,2.0,null]},'
            f'"messages":[{{"role":"user","content":"pass me through {m}"}}]}}').encode()
    status, headers, raw = raw_post(gateway, "/v1/messages", sent, auth="x-api-key")
    gateway.note_engine_request()

    assert status == 200, raw
    assert headers.get("x-request-id")
    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert_anthropic_upstream(seen[0], stream=False, exact_version=False)
    expected = sent.replace(b'"model":"claude-e2e"', f'"model":"{ANTHROPIC_UPSTREAM_MODEL}"'.encode())
    assert seen[0]["raw"] == expected, (seen[0]["raw"], expected)
    assert raw == seen[0]["response"], (raw, seen[0]["response"])


def test_messages_passthrough_stream(gateway, anthropic_client, upstream):
    m = marker()
    with anthropic_client.messages.stream(model="claude-e2e", max_tokens=64, messages=user(m)) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    gateway.note_engine_request()

    assert text == ANTHROPIC_TEXT
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == ANTHROPIC_USAGE["input_tokens"]
    assert final.usage.output_tokens == ANTHROPIC_USAGE["output_tokens"]
    assert final.usage.cache_read_input_tokens == ANTHROPIC_USAGE["cache_read_input_tokens"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert_anthropic_upstream(seen[0], stream=True, exact_version=False)


def test_messages_passthrough_stream_events_unchanged(gateway, upstream):
    m = marker()
    status, headers, raw = raw_post(gateway, "/v1/messages", json.dumps(
        {"model": "claude-e2e", "max_tokens": 64, "stream": True, "tools": [ANTHROPIC_WEATHER_TOOL],
         "messages": user(f"weather please {m}")}).encode())
    gateway.note_engine_request()

    assert status == 200, raw
    assert "text/event-stream" in (headers.get("content-type") or ""), dict(headers)
    got = parse_sse(raw)
    check_stream_sequence(got)
    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    sent_up = seen[0]["events"]
    # Event data goes through untouched (pings may be dropped or kept).
    assert [e for e in got if e[0] != "ping"] == [e for e in sent_up if e[0] != "ping"]


def test_messages_passthrough_tool_round_trip(gateway, anthropic_client, upstream):
    m = marker()
    question = weather_question(m)
    first = anthropic_client.messages.create(
        model="claude-e2e", max_tokens=128, tools=[ANTHROPIC_WEATHER_TOOL],
        tool_choice={"type": "auto"}, messages=[question])
    gateway.note_engine_request()
    use = expect_weather_call(first)
    assert [b.type for b in first.content] == ["text", "tool_use"], first.content
    assert first.content[0].text == ANTHROPIC_TOOL_PREAMBLE
    assert use.id.startswith("toolu_"), use.id

    second = anthropic_client.messages.create(
        model="claude-e2e", max_tokens=128, tools=[ANTHROPIC_WEATHER_TOOL],
        messages=with_tool_result(question, first, use))
    gateway.note_engine_request()

    assert second.stop_reason == "end_turn"
    assert second.content[0].text == WEATHER_REPLY_PREFIX + TOOL_RESULT

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_anthropic_upstream(seen[0], stream=False, exact_version=False)
    assert body["tools"] == [ANTHROPIC_WEATHER_TOOL]
    assert body["tool_choice"] == {"type": "auto"}
    body = assert_anthropic_upstream(seen[1], stream=False, exact_version=False)
    assert body["messages"][-1]["content"][0]["tool_use_id"] == use.id


def test_messages_passthrough_tool_round_trip_stream(gateway, anthropic_client, upstream):
    m = marker()
    question = weather_question(m)
    with anthropic_client.messages.stream(
            model="claude-e2e", max_tokens=128, tools=[ANTHROPIC_WEATHER_TOOL], messages=[question]) as stream:
        first = stream.get_final_message()
    gateway.note_engine_request()
    use = expect_weather_call(first)

    with anthropic_client.messages.stream(
            model="claude-e2e", max_tokens=128, tools=[ANTHROPIC_WEATHER_TOOL],
            messages=with_tool_result(question, first, use)) as stream:
        text = "".join(stream.text_stream)
    gateway.note_engine_request()

    assert text == WEATHER_REPLY_PREFIX + TOOL_RESULT
    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    for rec in seen:
        assert_anthropic_upstream(rec, stream=True, exact_version=False)


# --------------------------------------------------------------------------- openai client -> Anthropic upstream


def test_chat_to_anthropic_non_stream(gateway, client, upstream):
    m = marker()
    resp = client.chat.completions.create(
        model="claude-e2e",
        messages=[{"role": "system", "content": f"You are terse. {m}"}, {"role": "user", "content": f"hi {m}"}])
    gateway.note_engine_request()

    assert resp.object == "chat.completion"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == ANTHROPIC_TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == CLAUDE_PROMPT_TOKENS
    assert resp.usage.completion_tokens == CLAUDE_COMPLETION_TOKENS
    assert resp.usage.total_tokens == CLAUDE_PROMPT_TOKENS + CLAUDE_COMPLETION_TOKENS
    assert resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == CLAUDE_CACHED_TOKENS

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_anthropic_upstream(seen[0], stream=False)
    assert text_of(body.get("system")) == f"You are terse. {m}", body
    assert len(body["messages"]) == 1, body
    assert body["messages"][0]["role"] == "user"
    assert text_of(body["messages"][0]["content"]) == f"hi {m}"


def test_chat_to_anthropic_stream_with_usage(gateway, client, upstream):
    m = marker()
    chunks = list(client.chat.completions.create(
        model="claude-e2e", messages=user(m), stream=True, stream_options={"include_usage": True}))
    gateway.note_engine_request()

    assert chunks, "no chunks received"
    for c in chunks:
        assert c.object == "chat.completion.chunk"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANTHROPIC_TEXT
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks), chunks
    last = chunks[-1]
    assert last.choices == [], last
    assert last.usage is not None, last
    assert last.usage.prompt_tokens == CLAUDE_PROMPT_TOKENS
    assert last.usage.completion_tokens == CLAUDE_COMPLETION_TOKENS
    assert last.usage.total_tokens == CLAUDE_PROMPT_TOKENS + CLAUDE_COMPLETION_TOKENS
    assert all(c.usage is None for c in chunks[:-1]), chunks

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert_anthropic_upstream(seen[0], stream=True)


def test_chat_to_anthropic_stream_without_usage(gateway, client, upstream):
    m = marker()
    chunks = list(client.chat.completions.create(model="claude-e2e", messages=user(m), stream=True))
    gateway.note_engine_request()

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANTHROPIC_TEXT
    for c in chunks:
        assert c.choices, f"client did not ask for usage but got a usage-only chunk: {c}"
        assert c.usage is None, f"client did not ask for usage but a chunk carries it: {c}"
    assert len(upstream.requests_containing(m)) == 1


def _assert_followup_has_tool_blocks(body: dict, call_id: str | None = None) -> None:
    """The request after a tool call: an assistant tool_use, then a user tool_result, same id."""
    msgs = body["messages"]
    uses = [b for msg in msgs if msg["role"] == "assistant" and isinstance(msg["content"], list)
            for b in msg["content"] if b.get("type") == "tool_use"]
    assert len(uses) == 1, msgs
    assert uses[0]["name"] == WEATHER_TOOL
    assert uses[0]["input"] == WEATHER_ARGS
    last = msgs[-1]
    assert last["role"] == "user" and isinstance(last["content"], list), msgs
    results = [b for b in last["content"] if b.get("type") == "tool_result"]
    assert len(results) == 1, msgs
    assert results[0]["tool_use_id"] == uses[0]["id"], msgs
    assert text_of(results[0].get("content")) == TOOL_RESULT, msgs
    if call_id is not None:
        assert uses[0]["id"] == call_id, (uses[0]["id"], call_id)


def test_chat_to_anthropic_tool_round_trip(gateway, client, upstream):
    m = marker()
    question = weather_question(m)
    first = client.chat.completions.create(
        model="claude-e2e", messages=[question], tools=[OPENAI_WEATHER_TOOL], tool_choice="auto")
    gateway.note_engine_request()

    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == ANTHROPIC_TOOL_PREAMBLE
    assert choice.message.tool_calls and len(choice.message.tool_calls) == 1, choice.message
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == WEATHER_TOOL
    assert json.loads(call.function.arguments) == WEATHER_ARGS

    second = client.chat.completions.create(
        model="claude-e2e", tools=[OPENAI_WEATHER_TOOL],
        messages=openai_tool_followup(question, choice.message.content, call.id, call.function.name,
                                      call.function.arguments))
    gateway.note_engine_request()

    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == WEATHER_REPLY_PREFIX + TOOL_RESULT

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_anthropic_upstream(seen[0], stream=False)
    assert_anthropic_weather_tool(body.get("tools"))
    assert (body.get("tool_choice") or {}).get("type") == "auto", body.get("tool_choice")
    body = assert_anthropic_upstream(seen[1], stream=False)
    _assert_followup_has_tool_blocks(body)


def test_chat_to_anthropic_tool_round_trip_stream(gateway, client, upstream):
    m = marker()
    question = weather_question(m)
    chunks = list(client.chat.completions.create(
        model="claude-e2e", messages=[question], tools=[OPENAI_WEATHER_TOOL], stream=True,
        stream_options={"include_usage": True}))
    gateway.note_engine_request()

    text = ""
    calls: dict[int, dict] = {}
    finish = None
    for c in chunks:
        if not c.choices:
            continue
        delta = c.choices[0].delta
        text += delta.content or ""
        for tc in delta.tool_calls or []:
            if tc.index not in calls:
                # The first delta of a call names it.
                assert tc.id and tc.type == "function" and tc.function and tc.function.name, tc
                calls[tc.index] = {"ids": [], "name": tc.function.name, "arguments": ""}
            entry = calls[tc.index]
            if tc.id:
                entry["ids"].append(tc.id)
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
        finish = c.choices[0].finish_reason or finish
    assert text == ANTHROPIC_TOOL_PREAMBLE
    assert finish == "tool_calls"
    assert list(calls) == [0], calls
    call = calls[0]
    assert len(set(call["ids"])) == 1, call
    assert call["name"] == WEATHER_TOOL
    assert json.loads(call["arguments"]) == WEATHER_ARGS
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == CLAUDE_COMPLETION_TOKENS
    call_id = call["ids"][0]

    second = list(client.chat.completions.create(
        model="claude-e2e", tools=[OPENAI_WEATHER_TOOL], stream=True,
        messages=openai_tool_followup(question, text, call_id, call["name"], call["arguments"])))
    gateway.note_engine_request()

    answer = "".join(c.choices[0].delta.content or "" for c in second if c.choices)
    assert answer == WEATHER_REPLY_PREFIX + TOOL_RESULT
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in second)

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_anthropic_upstream(seen[0], stream=True)
    assert_anthropic_weather_tool(body.get("tools"))
    body = assert_anthropic_upstream(seen[1], stream=True)
    _assert_followup_has_tool_blocks(body)


# --------------------------------------------------------------------------- errors and request ids on /v1/messages


def test_messages_unknown_model_is_not_found(gateway, anthropic_client):
    mine = "e2e-anth-err-" + uuid.uuid4().hex
    with pytest.raises(anthropic.NotFoundError) as info:
        anthropic_client.messages.create(
            model="no-such-model-e2e", max_tokens=16, messages=user("hi"), extra_headers={"x-request-id": mine})
    # An unknown model passes auth and validation: the engine sees it and logs a 404 row.
    gateway.note_engine_request()

    assert info.value.status_code == 404
    assert_anthropic_error(info.value.response.json(), "not_found_error")
    assert info.value.response.headers.get("x-request-id") == mine


def test_messages_wrong_key_is_authentication_error(gateway, upstream):
    m = marker()
    bad = gateway.anthropic_client(api_key="sk-not-a-real-key-000000")
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(model="gpt-e2e", max_tokens=16, messages=user(m))
    assert info.value.status_code == 401
    assert_anthropic_error(info.value.response.json(), "authentication_error")
    assert info.value.response.headers.get("x-request-id")

    # The same through `x-api-key`, and with no credentials at all.
    data = json.dumps({"model": "gpt-e2e", "max_tokens": 16, "messages": user(m)}).encode()
    for headers in ({"x-api-key": "sk-not-a-real-key-000000"}, {}):
        status, resp_headers, raw = raw_post(gateway, "/v1/messages", data, headers, key=None)
        assert status == 401, raw
        assert_anthropic_error(json.loads(raw), "authentication_error")
        assert resp_headers.get("x-request-id")
    assert upstream.requests_containing(m) == [], "an unauthenticated request reached the upstream"


def test_messages_accepts_x_api_key(gateway, upstream):
    m = marker()
    status, headers, raw = raw_post(gateway, "/v1/messages", json.dumps(
        {"model": "gpt-e2e", "max_tokens": 16, "messages": user(m)}).encode(), auth="x-api-key")
    gateway.note_engine_request()

    assert status == 200, raw
    body = json.loads(raw)
    assert body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": UPSTREAM_TEXT}]
    assert len(upstream.requests_containing(m)) == 1


def test_messages_missing_max_tokens_is_400(gateway, upstream):
    m = marker()
    status, headers, raw = raw_post(gateway, "/v1/messages", json.dumps(
        {"model": "gpt-e2e", "messages": user(m)}).encode())
    assert status == 400, raw
    assert_anthropic_error(json.loads(raw), "invalid_request_error")
    assert headers.get("x-request-id")
    assert upstream.requests_containing(m) == [], "a malformed request reached the upstream"


def test_messages_invalid_json_is_400(gateway):
    status, headers, raw = raw_post(gateway, "/v1/messages", b'{"model": "gpt-e2e", "messages": [')
    assert status == 400, raw
    assert_anthropic_error(json.loads(raw), "invalid_request_error")
    assert headers.get("x-request-id")


def test_messages_x_request_id(gateway, anthropic_client):
    raw = anthropic_client.messages.with_raw_response.create(model="gpt-e2e", max_tokens=16, messages=user("rid"))
    gateway.note_engine_request()
    rid = raw.headers.get("x-request-id")
    assert rid
    assert raw.parse().content[0].text == UPSTREAM_TEXT

    mine = "e2e-anth-req:" + uuid.uuid4().hex
    raw = anthropic_client.messages.with_raw_response.create(
        model="claude-e2e", max_tokens=16, messages=user("rid"), extra_headers={"x-request-id": mine})
    gateway.note_engine_request()
    assert raw.headers.get("x-request-id") == mine
    assert raw.headers.get("x-request-id") != rid


# --------------------------------------------------------------------------- count_tokens


def test_count_tokens(gateway, anthropic_client, upstream):
    m = marker()
    short = anthropic_client.messages.count_tokens(model="gpt-e2e", messages=user(f"hi {m}"))
    assert isinstance(short.input_tokens, int) and short.input_tokens > 0, short
    long = anthropic_client.messages.count_tokens(
        model="gpt-e2e", system="You are a weather assistant.",
        messages=user(f"{m} " + "please tell me about the weather in many cities " * 40))
    assert long.input_tokens > short.input_tokens, (short, long)
    # An estimate made by the gateway: nothing goes upstream, and no request-log row is due.
    assert upstream.requests_containing(m) == []


# --------------------------------------------------------------------------- after shutdown (runs last)


def test_zzz_anthropic_requests_logged(gateway):
    """Runs after `test_zz_shutdown_flushes_logs_and_no_secrets` (see conftest's ordering)."""
    rows = request_log_rows(gateway, "claude-e2e")
    ok = [r for r in rows if r["status"] == 200]
    assert ok, f"no successful claude-e2e request was logged: {rows}"
    assert all(r["provider"] == "claude" for r in ok), ok
    # Anthropic usage, in the log's terms: prompt = input + cache reads + cache writes.
    for stream in (0, 1):
        assert any(bool(r["stream"]) == bool(stream) and r["prompt_tokens"] == CLAUDE_PROMPT_TOKENS
                   and r["completion_tokens"] == CLAUDE_COMPLETION_TOKENS for r in ok), (stream, ok)
