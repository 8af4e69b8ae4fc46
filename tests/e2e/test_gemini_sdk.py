"""End-to-end tests of the gateway's Gemini support.

- the Gemini native route (`/v1beta/models/{model}:generateContent` and
  `:streamGenerateContent?alt=sse`) through the official `google-genai` client, routed to
  the Gemini upstream (`gemini-e2e`, passed through), to the OpenAI upstream (`gpt-e2e`,
  translated) and to the Anthropic upstream (`claude-e2e`, translated);
- `/v1/chat/completions` through the `openai` client, routed to the Gemini upstream
  (translated);
- errors and authentication on the Gemini route, in the Gemini error shape
  `{"error": {"code": int, "message": str, "status": str}}`.

Every request that reaches the engine is noted with `gateway.note_engine_request()`, for
the request-log row count that `test_zz_shutdown_flushes_logs_and_no_secrets` checks.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from google.genai import errors as genai_errors
from google.genai import types

from conftest import (
    ANTHROPIC_TEXT,
    ANTHROPIC_TOOL_PREAMBLE,
    CLIENT_KEY,
    GEMINI_EXTRA_FIELD,
    GEMINI_STREAM_PIECES,
    GEMINI_STREAM_USAGE,
    GEMINI_TEXT,
    GEMINI_THOUGHT_SIGNATURE,
    GEMINI_TOOL_USAGE,
    GEMINI_UPSTREAM_MODEL,
    GEMINI_USAGE,
    UPSTREAM_KEY,
    UPSTREAM_STREAM_TEXT,
    UPSTREAM_STREAM_USAGE,
    UPSTREAM_TEXT,
    UPSTREAM_USAGE,
    WEATHER_ARGS,
    WEATHER_REPLY_PREFIX,
    WEATHER_TOOL,
    gemini_model_version,
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
    assert_no_client_key,
    assert_openai_upstream,
    marker,
    openai_tool_followup,
    raw_post,
    request_log_rows,
)

GEMINI_PATH = f"/gemini/v1beta/models/{GEMINI_UPSTREAM_MODEL}"

GEMINI_WEATHER_TOOL = types.Tool(function_declarations=[types.FunctionDeclaration(
    name=WEATHER_TOOL, description=WEATHER_DESCRIPTION, parameters=WEATHER_SCHEMA)])
SIGNATURE_BYTES = b"sig-e2e"  # GEMINI_THOUGHT_SIGNATURE, decoded


# --------------------------------------------------------------------------- helpers


def no_afc(**kwargs) -> types.GenerateContentConfig:
    """A config with automatic function calling off (the client must not call tools itself)."""
    return types.GenerateContentConfig(
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True), **kwargs)


def assert_gemini_upstream(rec: dict, *, stream: bool) -> dict:
    """What a request to the `gem` (Gemini) provider must look like; returns its body."""
    url = urlsplit(rec["path"])
    method = "streamGenerateContent" if stream else "generateContent"
    assert url.path == f"{GEMINI_PATH}:{method}", rec["path"]
    if stream:
        assert parse_qs(url.query).get("alt") == ["sse"], rec["path"]
    headers = rec["headers"]
    assert headers.get("x-goog-api-key") == UPSTREAM_KEY, headers
    assert "application/json" in (headers.get("content-type") or ""), headers
    assert_no_client_key(rec)
    body = rec["body"]
    assert isinstance(body, dict), rec["raw"]
    assert isinstance(body.get("contents"), list) and body["contents"], body
    for content in body["contents"]:
        assert content.get("role") in ("user", "model"), body
    # Gemini REST JSON: no OpenAI or Anthropic fields, and the model and the streaming
    # switch live in the URL.
    for key in ("model", "messages", "stream", "max_tokens", "system"):
        assert key not in body, body
    return body


def assert_gemini_error(body, code: int, status: str) -> dict:
    """`{"error": {"code": code, "message": "…", "status": status}}`; returns the inner error."""
    assert isinstance(body, dict), body
    err = body.get("error")
    assert isinstance(err, dict), body
    assert err.get("code") == code, body
    assert err.get("status") == status, body
    assert isinstance(err.get("message"), str) and err["message"], body
    return err


def gemini_text(content: dict) -> str:
    """The text parts of a Gemini REST `Content`, joined."""
    return "".join(p.get("text", "") for p in content.get("parts") or [] if isinstance(p, dict))


def gemini_post(gateway, path: str, data: bytes, *, key: str | None = CLIENT_KEY):
    """POST bytes to the Gemini route with `key` (None: no credentials) in `x-goog-api-key`;
    returns (status, headers, raw body bytes)."""
    return raw_post(gateway, path, data, auth="x-goog-api-key", key=key)


def parse_sse_data(raw: bytes) -> list[str]:
    """The `data` of each server-sent event (any line ending); comment-only blocks dropped."""
    out = []
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    for block in text.split("\n\n"):
        data = []
        for line in block.split("\n"):
            if line.startswith("data:"):
                value = line[len("data:"):]
                data.append(value[1:] if value.startswith(" ") else value)
        if data:
            out.append("\n".join(data))
    return out


def question(m: str) -> types.Content:
    """The user turn that starts a tool round trip; `m` finds it upstream."""
    return types.Content(role="user", parts=[types.Part(text=f"What is the weather in Paris? {m}")])


def function_response(result: str = TOOL_RESULT) -> types.Content:
    return types.Content(role="user", parts=[types.Part.from_function_response(
        name=WEATHER_TOOL, response={"result": result})])


def expect_weather_call(response: types.GenerateContentResponse) -> types.FunctionCall:
    calls = response.function_calls
    assert calls and len(calls) == 1, response
    assert calls[0].name == WEATHER_TOOL, calls
    assert calls[0].args == WEATHER_ARGS, calls
    return calls[0]


def merge_stream(chunks: list[types.GenerateContentResponse]) -> types.Content:
    """The model turn a stream produced, as the client would send it back (text parts joined)."""
    parts: list[types.Part] = []
    for c in chunks:
        if not c.candidates or not c.candidates[0].content:
            continue
        for p in c.candidates[0].content.parts or []:
            if p.text is not None and not p.function_call and parts and parts[-1].text is not None \
                    and not parts[-1].thought_signature:
                parts[-1] = types.Part(text=parts[-1].text + p.text)
            else:
                parts.append(p)
    return types.Content(role="model", parts=[p for p in parts if p.function_call or p.text])


def stream_text(chunks) -> str:
    return "".join(p.text for c in chunks if c.candidates and c.candidates[0].content
                   for p in c.candidates[0].content.parts or [] if p.text and not p.thought)


def finish_reasons(chunks) -> list:
    return [c.candidates[0].finish_reason for c in chunks if c.candidates and c.candidates[0].finish_reason]


def usage_of(usage: types.GenerateContentResponseUsageMetadata | None) -> tuple:
    assert usage is not None
    return usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count


# --------------------------------------------------------------------------- gemini client -> Gemini upstream


def test_generate_content_passthrough(gateway, genai_client, upstream):
    m = marker()
    resp = genai_client.models.generate_content(
        model="gemini-e2e", contents=f"say hi {m}",
        config=types.GenerateContentConfig(system_instruction=f"You are terse. {m}", max_output_tokens=64,
                                           temperature=0.25))
    gateway.note_engine_request()

    assert resp.text == GEMINI_TEXT
    cand = resp.candidates[0]
    assert cand.content.role == "model"
    assert cand.finish_reason == types.FinishReason.STOP
    u = resp.usage_metadata
    assert u.prompt_token_count == GEMINI_USAGE["promptTokenCount"]
    assert u.candidates_token_count == GEMINI_USAGE["candidatesTokenCount"]
    assert u.total_token_count == GEMINI_USAGE["totalTokenCount"]
    assert u.cached_content_token_count == GEMINI_USAGE["cachedContentTokenCount"]
    assert resp.model_version == gemini_model_version(GEMINI_UPSTREAM_MODEL)
    assert resp.response_id
    assert resp.sdk_http_response and resp.sdk_http_response.headers.get("x-request-id"), resp.sdk_http_response

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_gemini_upstream(seen[0], stream=False)
    assert gemini_text(body["systemInstruction"]) == f"You are terse. {m}", body
    assert gemini_text(body["contents"][-1]) == f"say hi {m}", body
    assert body["generationConfig"]["maxOutputTokens"] == 64, body
    assert body["generationConfig"]["temperature"] == 0.25, body


def test_generate_content_passthrough_body_unchanged(gateway, upstream):
    """What the client sends reaches Gemini unchanged, and Gemini's answer comes back unchanged
    (its `modelVersion`, `responseId` and a field no client knows included)."""
    m = marker()
    sent = {
        "contents": [{"role": "user", "parts": [{"text": f"pass me through {m}"},
                                                 {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.5, "topK": 7, "topP": 0.9, "stopSequences": ["###"],
                             "maxOutputTokens": 99, "thinkingConfig": {"thinkingBudget": 0}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
    }
    status, headers, raw = gemini_post(gateway, "/v1beta/models/gemini-e2e:generateContent", json.dumps(sent).encode())
    gateway.note_engine_request()

    assert status == 200, raw
    assert headers.get("x-request-id")
    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_gemini_upstream(seen[0], stream=False)
    assert body == sent, (body, sent)
    got = json.loads(raw)
    assert got == json.loads(seen[0]["response"]), (raw, seen[0]["response"])
    assert GEMINI_EXTRA_FIELD in got, got
    assert got["modelVersion"] == gemini_model_version(GEMINI_UPSTREAM_MODEL), got


def test_generate_content_stream_passthrough(gateway, genai_client, upstream):
    m = marker()
    chunks = list(genai_client.models.generate_content_stream(
        model="gemini-e2e", contents=f"stream please {m}",
        config=types.GenerateContentConfig(system_instruction="Answer in English.")))
    gateway.note_engine_request()

    assert len(chunks) >= 3, chunks
    assert stream_text(chunks) == GEMINI_TEXT
    assert finish_reasons(chunks) == [types.FinishReason.STOP], chunks
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert usage_of(chunks[-1].usage_metadata) == (
        GEMINI_STREAM_USAGE["promptTokenCount"], GEMINI_STREAM_USAGE["candidatesTokenCount"],
        GEMINI_STREAM_USAGE["totalTokenCount"])
    for c in chunks:
        assert c.candidates[0].content.role == "model", c
        assert c.model_version == gemini_model_version(GEMINI_UPSTREAM_MODEL), c

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_gemini_upstream(seen[0], stream=True)
    assert gemini_text(body["systemInstruction"]) == "Answer in English.", body


def test_generate_content_stream_passthrough_events_unchanged(gateway, upstream):
    m = marker()
    sent = {"contents": [{"role": "user", "parts": [{"text": f"stream me {m}"}]}]}
    status, headers, raw = gemini_post(gateway, "/v1beta/models/gemini-e2e:streamGenerateContent?alt=sse",
                                       json.dumps(sent).encode())
    gateway.note_engine_request()

    assert status == 200, raw
    assert "text/event-stream" in (headers.get("content-type") or ""), dict(headers)
    assert headers.get("x-request-id")
    got = [json.loads(d) for d in parse_sse_data(raw)]
    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_gemini_upstream(seen[0], stream=True)
    assert body == sent, body
    assert got == [json.loads(e) for e in seen[0]["events"]], (got, seen[0]["events"])
    assert len(got) == len(GEMINI_STREAM_PIECES)
    assert GEMINI_EXTRA_FIELD in got[-1], got[-1]


def test_function_call_round_trip_passthrough(gateway, genai_client, upstream):
    """The thought signature Gemini puts on its functionCall part comes back to it unchanged."""
    m = marker()
    q = question(m)
    config = no_afc(tools=[GEMINI_WEATHER_TOOL], tool_config=types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.AUTO)))
    first = genai_client.models.generate_content(model="gemini-e2e", contents=[q], config=config)
    gateway.note_engine_request()

    expect_weather_call(first)
    model_turn = first.candidates[0].content
    assert model_turn.role == "model"
    call_parts = [p for p in model_turn.parts if p.function_call]
    assert len(call_parts) == 1 and call_parts[0].thought_signature == SIGNATURE_BYTES, model_turn
    assert first.usage_metadata.thoughts_token_count == GEMINI_TOOL_USAGE["thoughtsTokenCount"]
    assert first.usage_metadata.total_token_count == GEMINI_TOOL_USAGE["totalTokenCount"]

    second = genai_client.models.generate_content(
        model="gemini-e2e", contents=[q, model_turn, function_response()], config=config)
    gateway.note_engine_request()

    assert second.text == WEATHER_REPLY_PREFIX + TOOL_RESULT
    assert second.candidates[0].finish_reason == types.FinishReason.STOP

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_gemini_upstream(seen[0], stream=False)
    decls = body["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in decls] == [WEATHER_TOOL], body["tools"]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}, body
    body = assert_gemini_upstream(seen[1], stream=False)
    assert seen[1]["thought_signatures"] == [GEMINI_THOUGHT_SIGNATURE], seen[1]["thought_signatures"]
    assert body["contents"][1]["role"] == "model", body
    last = body["contents"][-1]["parts"][0]["functionResponse"]
    assert last == {"name": WEATHER_TOOL, "response": {"result": TOOL_RESULT}}, body


def test_function_call_round_trip_passthrough_stream(gateway, genai_client, upstream):
    m = marker()
    q = question(m)
    config = no_afc(tools=[GEMINI_WEATHER_TOOL])
    chunks = list(genai_client.models.generate_content_stream(model="gemini-e2e", contents=[q], config=config))
    gateway.note_engine_request()

    model_turn = merge_stream(chunks)
    calls = [p for p in model_turn.parts if p.function_call]
    assert len(calls) == 1, model_turn
    assert calls[0].function_call.name == WEATHER_TOOL and calls[0].function_call.args == WEATHER_ARGS
    assert calls[0].thought_signature == SIGNATURE_BYTES, calls[0]

    second = list(genai_client.models.generate_content_stream(
        model="gemini-e2e", contents=[q, model_turn, function_response()], config=config))
    gateway.note_engine_request()

    assert stream_text(second) == WEATHER_REPLY_PREFIX + TOOL_RESULT
    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    assert_gemini_upstream(seen[0], stream=True)
    assert_gemini_upstream(seen[1], stream=True)
    assert seen[1]["thought_signatures"] == [GEMINI_THOUGHT_SIGNATURE], seen[1]["thought_signatures"]


def test_key_in_query_parameter(gateway, upstream):
    m = marker()
    data = json.dumps({"contents": [{"role": "user", "parts": [{"text": f"query key {m}"}]}]}).encode()
    status, headers, raw = gemini_post(gateway, f"/v1beta/models/gemini-e2e:generateContent?key={CLIENT_KEY}", data,
                                       key=None)
    gateway.note_engine_request()
    assert status == 200, raw
    assert json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"] == GEMINI_TEXT

    status, headers, raw = gemini_post(
        gateway, f"/v1beta/models/gemini-e2e:streamGenerateContent?alt=sse&key={CLIENT_KEY}", data, key=None)
    gateway.note_engine_request()
    assert status == 200, raw
    text = "".join(p.get("text", "") for d in parse_sse_data(raw)
                   for p in json.loads(d)["candidates"][0]["content"]["parts"])
    assert text == GEMINI_TEXT

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    assert_gemini_upstream(seen[0], stream=False)  # the client's key stays out of the upstream URL
    assert_gemini_upstream(seen[1], stream=True)


# --------------------------------------------------------------------------- gemini client -> OpenAI upstream


def test_generate_content_to_openai(gateway, genai_client, upstream):
    m = marker()
    resp = genai_client.models.generate_content(
        model="gpt-e2e", contents=f"say hi {m}",
        config=types.GenerateContentConfig(system_instruction=f"You are terse. {m}", max_output_tokens=64,
                                           temperature=0.25, stop_sequences=["###"]))
    gateway.note_engine_request()

    assert resp.text == UPSTREAM_TEXT
    assert resp.candidates[0].content.role == "model"
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert usage_of(resp.usage_metadata) == (UPSTREAM_USAGE["prompt_tokens"], UPSTREAM_USAGE["completion_tokens"],
                                             UPSTREAM_USAGE["total_tokens"])
    assert resp.sdk_http_response.headers.get("x-request-id")

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_openai_upstream(seen[0], stream=False)
    assert body["messages"][0]["role"] in ("system", "developer"), body
    assert text_of(body["messages"][0]["content"]) == f"You are terse. {m}", body
    assert body["messages"][-1]["role"] == "user", body
    assert text_of(body["messages"][-1]["content"]) == f"say hi {m}", body
    assert 64 in (body.get("max_tokens"), body.get("max_completion_tokens")), body
    assert body.get("temperature") == 0.25, body
    assert body.get("stop") in (["###"], "###"), body


def test_generate_content_stream_to_openai(gateway, genai_client, upstream):
    m = marker()
    chunks = list(genai_client.models.generate_content_stream(model="gpt-e2e", contents=f"stream {m}"))
    gateway.note_engine_request()

    assert chunks, "no chunks received"
    assert stream_text(chunks) == UPSTREAM_STREAM_TEXT
    assert finish_reasons(chunks) == [types.FinishReason.STOP], chunks
    assert usage_of(chunks[-1].usage_metadata) == (
        UPSTREAM_STREAM_USAGE["prompt_tokens"], UPSTREAM_STREAM_USAGE["completion_tokens"],
        UPSTREAM_STREAM_USAGE["total_tokens"])
    for c in chunks:
        for cand in c.candidates or []:
            assert cand.content is None or cand.content.role in (None, "model"), c

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    # The gateway asks the OpenAI upstream for usage so that it can fill usageMetadata.
    assert_openai_upstream(seen[0], stream=True)


def test_function_call_round_trip_to_openai(gateway, genai_client, upstream):
    m = marker()
    q = question(m)
    config = no_afc(tools=[GEMINI_WEATHER_TOOL])
    first = genai_client.models.generate_content(model="gpt-e2e", contents=[q], config=config)
    gateway.note_engine_request()
    expect_weather_call(first)
    model_turn = first.candidates[0].content
    assert model_turn.role == "model"

    second = genai_client.models.generate_content(
        model="gpt-e2e", contents=[q, model_turn, function_response()], config=config)
    gateway.note_engine_request()
    # How a functionResponse's object becomes a tool message's text is the gateway's choice;
    # the result's text must be in it.
    assert second.text.startswith(WEATHER_REPLY_PREFIX) and TOOL_RESULT in second.text, second.text

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_openai_upstream(seen[0], stream=False)
    tools = body.get("tools")
    assert isinstance(tools, list) and len(tools) == 1 and tools[0]["type"] == "function", tools
    assert tools[0]["function"]["name"] == WEATHER_TOOL, tools
    assert tools[0]["function"].get("description") == WEATHER_DESCRIPTION, tools
    params = tools[0]["function"].get("parameters") or {}
    assert str(params.get("type", "")).lower() == "object" and "city" in (params.get("properties") or {}), tools
    body = assert_openai_upstream(seen[1], stream=False)
    calls = [c for msg in body["messages"] if msg["role"] == "assistant" for c in (msg.get("tool_calls") or [])]
    assert len(calls) == 1, body["messages"]
    assert calls[0]["type"] == "function" and calls[0]["function"]["name"] == WEATHER_TOOL
    assert json.loads(calls[0]["function"]["arguments"]) == WEATHER_ARGS
    last = body["messages"][-1]
    assert last["role"] == "tool", body["messages"]
    assert last["tool_call_id"] == calls[0]["id"], body["messages"]
    assert TOOL_RESULT in text_of(last["content"]), last


# --------------------------------------------------------------------------- gemini client -> Anthropic upstream


def test_generate_content_to_anthropic(gateway, genai_client, upstream):
    m = marker()
    resp = genai_client.models.generate_content(
        model="claude-e2e", contents=f"hi {m}",
        config=types.GenerateContentConfig(system_instruction=f"You are terse. {m}", max_output_tokens=64))
    gateway.note_engine_request()

    assert resp.text == ANTHROPIC_TEXT
    assert resp.candidates[0].content.role == "model"
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert usage_of(resp.usage_metadata) == (CLAUDE_PROMPT_TOKENS, CLAUDE_COMPLETION_TOKENS,
                                             CLAUDE_PROMPT_TOKENS + CLAUDE_COMPLETION_TOKENS)

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_anthropic_upstream(seen[0], stream=False)
    assert body["max_tokens"] == 64, body
    assert text_of(body.get("system")) == f"You are terse. {m}", body
    assert [msg["role"] for msg in body["messages"]] == ["user"], body
    assert text_of(body["messages"][0]["content"]) == f"hi {m}", body


def test_generate_content_stream_to_anthropic(gateway, genai_client, upstream):
    m = marker()
    # No max_output_tokens: the gateway must still send Anthropic a max_tokens.
    chunks = list(genai_client.models.generate_content_stream(model="claude-e2e", contents=f"stream {m}"))
    gateway.note_engine_request()

    assert stream_text(chunks) == ANTHROPIC_TEXT
    assert finish_reasons(chunks) == [types.FinishReason.STOP], chunks
    assert usage_of(chunks[-1].usage_metadata) == (CLAUDE_PROMPT_TOKENS, CLAUDE_COMPLETION_TOKENS,
                                                   CLAUDE_PROMPT_TOKENS + CLAUDE_COMPLETION_TOKENS)

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert_anthropic_upstream(seen[0], stream=True)


def test_function_call_round_trip_to_anthropic(gateway, genai_client, upstream):
    m = marker()
    q = question(m)
    config = no_afc(tools=[GEMINI_WEATHER_TOOL], max_output_tokens=128)
    first = genai_client.models.generate_content(model="claude-e2e", contents=[q], config=config)
    gateway.note_engine_request()
    expect_weather_call(first)
    model_turn = first.candidates[0].content
    texts = [p.text for p in model_turn.parts if p.text]
    assert texts == [ANTHROPIC_TOOL_PREAMBLE], model_turn

    second = genai_client.models.generate_content(
        model="claude-e2e", contents=[q, model_turn, function_response()], config=config)
    gateway.note_engine_request()
    assert second.text.startswith(WEATHER_REPLY_PREFIX) and TOOL_RESULT in second.text, second.text
    assert second.candidates[0].finish_reason == types.FinishReason.STOP

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_anthropic_upstream(seen[0], stream=False)
    assert [t.get("name") for t in body.get("tools") or []] == [WEATHER_TOOL], body.get("tools")
    assert body["tools"][0].get("description") == WEATHER_DESCRIPTION, body["tools"]
    body = assert_anthropic_upstream(seen[1], stream=False)
    msgs = body["messages"]
    uses = [b for msg in msgs if msg["role"] == "assistant" and isinstance(msg["content"], list)
            for b in msg["content"] if b.get("type") == "tool_use"]
    assert len(uses) == 1 and uses[0]["name"] == WEATHER_TOOL and uses[0]["input"] == WEATHER_ARGS, msgs
    results = [b for b in msgs[-1]["content"] if isinstance(b, dict) and b.get("type") == "tool_result"] \
        if msgs[-1]["role"] == "user" and isinstance(msgs[-1]["content"], list) else []
    assert len(results) == 1 and results[0]["tool_use_id"] == uses[0]["id"], msgs
    assert TOOL_RESULT in text_of(results[0].get("content")), results


# --------------------------------------------------------------------------- openai client -> Gemini upstream


def test_chat_to_gemini_non_stream(gateway, client, upstream):
    m = marker()
    resp = client.chat.completions.create(
        model="gemini-e2e", max_tokens=64,
        messages=[{"role": "system", "content": f"You are terse. {m}"}, {"role": "user", "content": f"hi {m}"}])
    gateway.note_engine_request()

    assert resp.object == "chat.completion"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == GEMINI_TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == GEMINI_USAGE["promptTokenCount"]
    assert resp.usage.completion_tokens == GEMINI_USAGE["candidatesTokenCount"]
    assert resp.usage.total_tokens == GEMINI_USAGE["totalTokenCount"]
    assert resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == GEMINI_USAGE["cachedContentTokenCount"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_gemini_upstream(seen[0], stream=False)
    assert gemini_text(body["systemInstruction"]) == f"You are terse. {m}", body
    assert len(body["contents"]) == 1 and body["contents"][0]["role"] == "user", body
    assert gemini_text(body["contents"][0]) == f"hi {m}", body
    assert body["generationConfig"]["maxOutputTokens"] == 64, body


def test_chat_to_gemini_stream_with_usage(gateway, client, upstream):
    m = marker()
    chunks = list(client.chat.completions.create(
        model="gemini-e2e", messages=[{"role": "user", "content": m}], stream=True,
        stream_options={"include_usage": True}))
    gateway.note_engine_request()

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == GEMINI_TEXT
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks), chunks
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, last
    assert last.usage.prompt_tokens == GEMINI_STREAM_USAGE["promptTokenCount"]
    assert last.usage.completion_tokens == GEMINI_STREAM_USAGE["candidatesTokenCount"]
    assert last.usage.total_tokens == GEMINI_STREAM_USAGE["totalTokenCount"]
    assert all(c.usage is None for c in chunks[:-1]), chunks

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert_gemini_upstream(seen[0], stream=True)


def test_chat_to_gemini_tool_round_trip(gateway, client, upstream):
    m = marker()
    q = {"role": "user", "content": f"What is the weather in Paris? {m}"}
    first = client.chat.completions.create(model="gemini-e2e", messages=[q], tools=[OPENAI_WEATHER_TOOL])
    gateway.note_engine_request()

    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and len(choice.message.tool_calls) == 1, choice.message
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id
    assert call.function.name == WEATHER_TOOL
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    # Gemini's thoughts count as completion tokens (OpenAI's reasoning tokens).
    assert first.usage.prompt_tokens == GEMINI_TOOL_USAGE["promptTokenCount"]
    assert first.usage.total_tokens == GEMINI_TOOL_USAGE["totalTokenCount"]

    second = client.chat.completions.create(
        model="gemini-e2e", tools=[OPENAI_WEATHER_TOOL],
        messages=openai_tool_followup(q, choice.message.content, call.id, call.function.name, call.function.arguments))
    gateway.note_engine_request()
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == WEATHER_REPLY_PREFIX + TOOL_RESULT

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_gemini_upstream(seen[0], stream=False)
    decls = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    assert [d["name"] for d in decls] == [WEATHER_TOOL], body.get("tools")
    assert decls[0].get("description") == WEATHER_DESCRIPTION, decls
    body = assert_gemini_upstream(seen[1], stream=False)
    roles = [c["role"] for c in body["contents"]]
    assert roles == ["user", "model", "user"], body["contents"]
    calls = [p["functionCall"] for p in body["contents"][1]["parts"] if "functionCall" in p]
    assert calls and calls[0]["name"] == WEATHER_TOOL and calls[0].get("args") == WEATHER_ARGS, body["contents"]
    responses = [p["functionResponse"] for p in body["contents"][2]["parts"] if "functionResponse" in p]
    assert len(responses) == 1 and responses[0]["name"] == WEATHER_TOOL, body["contents"]
    assert isinstance(responses[0]["response"], dict), responses


def test_chat_to_gemini_strict_tool_schema(gateway, client, upstream):
    """An OpenAI strict-mode tool: `parameters` is full JSON Schema (`additionalProperties`),
    which Gemini's `parameters` Schema does not take; the mock rejects unknown Schema fields
    as Gemini does, so the call only succeeds if the gateway sends Gemini what it accepts."""
    m = marker()
    strict_tool = {"type": "function", "function": {
        "name": WEATHER_TOOL, "description": WEATHER_DESCRIPTION, "strict": True,
        "parameters": dict(WEATHER_SCHEMA, additionalProperties=False)}}
    resp = client.chat.completions.create(
        model="gemini-e2e", messages=[{"role": "user", "content": f"Weather in Paris? {m}"}], tools=[strict_tool],
        tool_choice="required")
    gateway.note_engine_request()

    assert resp.choices[0].finish_reason == "tool_calls"
    assert json.loads(resp.choices[0].message.tool_calls[0].function.arguments) == WEATHER_ARGS
    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_gemini_upstream(seen[0], stream=False)
    (decl,) = [d for t in body["tools"] for d in t.get("functionDeclarations") or []]
    assert decl["name"] == WEATHER_TOOL, decl
    schema = decl.get("parameters") or decl.get("parametersJsonSchema")
    assert isinstance(schema, dict) and "city" in schema.get("properties", {}), decl
    assert body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode") == "ANY", body


def test_chat_to_gemini_thought_signature_round_trip(gateway, client, upstream):
    """The thought signature of Gemini's function call travels to the OpenAI client the way
    Google's own OpenAI-compatible endpoint carries it (`extra_content.google.thought_signature`
    on the tool call), and back to Gemini unchanged when the client returns the call."""
    m = marker()
    q = {"role": "user", "content": f"What is the weather in Paris? {m}"}
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-e2e", messages=[q], tools=[OPENAI_WEATHER_TOOL])
    gateway.note_engine_request()

    (call,) = json.loads(raw.http_response.content)["choices"][0]["message"]["tool_calls"]
    assert call["extra_content"]["google"]["thought_signature"] == GEMINI_THOUGHT_SIGNATURE, call
    second = client.chat.completions.create(
        model="gemini-e2e", tools=[OPENAI_WEATHER_TOOL],
        messages=[q, {"role": "assistant", "content": None, "tool_calls": [call]},
                  {"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT}])
    gateway.note_engine_request()
    assert second.choices[0].message.content == WEATHER_REPLY_PREFIX + TOOL_RESULT

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    assert_gemini_upstream(seen[1], stream=False)
    assert seen[1]["thought_signatures"] == [GEMINI_THOUGHT_SIGNATURE], seen[1]["thought_signatures"]


# --------------------------------------------------------------------------- errors on the Gemini route


def test_unknown_model_is_404(gateway, genai_client, upstream):
    with pytest.raises(genai_errors.ClientError) as info:
        genai_client.models.generate_content(model="no-such-model-e2e", contents="hi")
    assert info.value.code == 404
    assert info.value.status == "NOT_FOUND"
    assert_gemini_error(info.value.details, 404, "NOT_FOUND")
    assert info.value.response.headers.get("x-request-id")

    with pytest.raises(genai_errors.ClientError) as info:
        list(genai_client.models.generate_content_stream(model="no-such-model-e2e", contents="hi"))
    assert info.value.code == 404
    assert_gemini_error(info.value.details, 404, "NOT_FOUND")


def test_wrong_key_is_401(gateway, upstream):
    m = marker()
    bad = gateway.gemini_client(api_key="sk-not-a-real-key-000000")
    with pytest.raises(genai_errors.ClientError) as info:
        bad.models.generate_content(model="gemini-e2e", contents=m)
    assert info.value.code == 401
    assert info.value.status == "UNAUTHENTICATED"
    assert_gemini_error(info.value.details, 401, "UNAUTHENTICATED")

    data = json.dumps({"contents": [{"role": "user", "parts": [{"text": m}]}]}).encode()
    for path, key in (("/v1beta/models/gemini-e2e:generateContent", None),
                      ("/v1beta/models/gemini-e2e:generateContent?key=sk-not-a-real-key-000000", None),
                      ("/v1beta/models/gpt-e2e:streamGenerateContent?alt=sse", "sk-not-a-real-key-000000")):
        status, headers, raw = gemini_post(gateway, path, data, key=key)
        assert status == 401, (path, raw)
        assert_gemini_error(json.loads(raw), 401, "UNAUTHENTICATED")
        assert headers.get("x-request-id")
    assert upstream.requests_containing(m) == [], "an unauthenticated request reached the upstream"


def test_missing_contents_is_400(gateway, upstream):
    m = marker()
    data = json.dumps({"systemInstruction": {"parts": [{"text": m}]}}).encode()
    # Translated (the gateway must understand the body, so it rejects it itself)...
    status, headers, raw = gemini_post(gateway, "/v1beta/models/gpt-e2e:generateContent", data)
    assert status == 400, raw
    assert_gemini_error(json.loads(raw), 400, "INVALID_ARGUMENT")
    assert headers.get("x-request-id")
    assert upstream.requests_containing(m) == [], "a malformed request reached the upstream"
    # ...and to Gemini (rejected by the gateway or by Gemini, in the same shape).
    status, headers, raw = gemini_post(gateway, "/v1beta/models/gemini-e2e:generateContent", data)
    assert status == 400, raw
    assert_gemini_error(json.loads(raw), 400, "INVALID_ARGUMENT")


def test_invalid_json_is_400(gateway):
    for model in ("gemini-e2e", "gpt-e2e"):
        status, headers, raw = gemini_post(gateway, f"/v1beta/models/{model}:generateContent", b'{"contents": [')
        assert status == 400, raw
        assert_gemini_error(json.loads(raw), 400, "INVALID_ARGUMENT")
        assert headers.get("x-request-id")


# --------------------------------------------------------------------------- after shutdown (runs last)


def test_zzz_gemini_requests_logged(gateway):
    """Runs after `test_zz_shutdown_flushes_logs_and_no_secrets` (see conftest's ordering)."""
    rows = request_log_rows(gateway, "gemini-e2e")
    ok = [r for r in rows if r["status"] == 200]
    assert ok, f"no successful gemini-e2e request was logged: {rows}"
    assert all(r["provider"] == "gem" for r in ok), ok
    # Gemini's usageMetadata, in the log's terms, for plain and streamed requests alike.
    assert any(not r["stream"] and r["prompt_tokens"] == GEMINI_USAGE["promptTokenCount"]
               and r["completion_tokens"] == GEMINI_USAGE["candidatesTokenCount"] for r in ok), ok
    assert any(r["stream"] and r["prompt_tokens"] == GEMINI_STREAM_USAGE["promptTokenCount"]
               and r["completion_tokens"] == GEMINI_STREAM_USAGE["candidatesTokenCount"] for r in ok), ok
