"""End-to-end tests, through the official `openai` client, of:

- `POST /v1/embeddings` routed to an OpenAI (`embed-e2e`), a Gemini (`gemini-embed-e2e`)
  and an Azure OpenAI (`azure-embed-e2e`) upstream, in float and base64 encodings;
- `POST /v1/responses` (the Responses API) passed through to OpenAI (`responses-e2e`) and
  Azure OpenAI (`azure-e2e`), streaming and not;
- `/v1/chat/completions` routed to Azure OpenAI (`azure-e2e`).

Every request that reaches the engine is noted with `gateway.note_engine_request()`, for
the request-log row count that `test_zz_shutdown_flushes_logs_and_no_secrets` checks.
"""

from __future__ import annotations

import base64
import json
import struct
from urllib.parse import parse_qs, urlsplit

import openai
import pytest

from conftest import (
    AZURE_API_VERSION,
    AZURE_CONTENT_FILTER_RESULTS,
    AZURE_DEPLOYMENT,
    AZURE_EMBED_DEPLOYMENT,
    AZURE_PROMPT_FILTER_RESULTS,
    AZURE_RESPONSES_TEXT,
    AZURE_TEXT,
    EMBED_SALT_AZURE,
    EMBED_SALT_GEMINI,
    EMBED_SALT_OPENAI,
    GEMINI_EMBED_DIMS,
    GEMINI_EMBED_MODEL,
    OPENAI_EMBED_DIMS,
    OPENAI_EMBED_MODEL,
    RESPONSES_STREAM_PIECES,
    RESPONSES_TEXT,
    RESPONSES_USAGE,
    UPSTREAM_KEY,
    UPSTREAM_MODEL,
    UPSTREAM_STREAM_USAGE,
    UPSTREAM_USAGE,
    embedding_prompt_tokens,
    embedding_vector,
)
from helpers import assert_no_client_key, assert_openai_error_body, assert_openai_upstream, marker, parse_sse, raw_post

EMBEDDINGS_PATH = "/v1/embeddings"
RESPONSES_PATH = "/v1/responses"
GEMINI_EMBED_PATH = f"/gemini/v1beta/models/{GEMINI_EMBED_MODEL}:batchEmbedContents"
AZURE_CHAT_PATH = f"/azure/openai/deployments/{AZURE_DEPLOYMENT}/chat/completions"
AZURE_EMBED_PATH = f"/azure/openai/deployments/{AZURE_EMBED_DEPLOYMENT}/embeddings"
AZURE_RESPONSES_PATH = "/azure/openai/v1/responses"

# The Responses API's stream, event by event, for a one-message answer.
RESPONSES_EVENT_TYPES = (
    ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    + ["response.output_text.delta"] * len(RESPONSES_STREAM_PIECES)
    + ["response.output_text.done", "response.content_part.done", "response.output_item.done",
       "response.completed"])


# --------------------------------------------------------------------------- helpers


def assert_azure_upstream(rec: dict, path: str, *, api_version: bool = True) -> dict:
    """A request to the `az` (Azure OpenAI) provider: the key in `api-key`, never in
    `Authorization`; deployments' routes carry `?api-version=`. Returns the body."""
    url = urlsplit(rec["path"])
    assert url.path == path, rec["path"]
    if api_version:
        assert parse_qs(url.query).get("api-version") == [AZURE_API_VERSION], rec["path"]
    headers = rec["headers"]
    assert headers.get("api-key") == UPSTREAM_KEY, headers
    assert "authorization" not in headers, headers
    assert_no_client_key(rec)
    body = rec["body"]
    assert isinstance(body, dict), rec["raw"]
    return body


def float32(values: list[float]) -> list[float]:
    """`values` rounded to float32, as a base64 embedding carries them."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def decode_base64_embedding(s: str) -> list[float]:
    raw = base64.b64decode(s)
    assert len(raw) % 4 == 0, s
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# --------------------------------------------------------------------------- embeddings: OpenAI upstream


def test_embeddings_openai_default_encoding(gateway, client, upstream):
    """openai-python asks for base64 by default and decodes it."""
    m = marker()
    text = f"embed me {m}"
    resp = client.embeddings.create(model="embed-e2e", input=text)
    gateway.note_engine_request()

    assert resp.object == "list"
    assert len(resp.data) == 1 and resp.data[0].index == 0 and resp.data[0].object == "embedding"
    assert resp.data[0].embedding == float32(embedding_vector(text, OPENAI_EMBED_DIMS, EMBED_SALT_OPENAI))
    assert resp.usage.prompt_tokens == embedding_prompt_tokens([text])
    assert resp.usage.total_tokens == embedding_prompt_tokens([text])

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_openai_upstream(seen[0], path=EMBEDDINGS_PATH, model=OPENAI_EMBED_MODEL)
    assert body["input"] == text, body


def test_embeddings_openai_list_float_dimensions(gateway, client, upstream):
    m = marker()
    inputs = [f"first {m}", f"the second one {m}"]
    raw = client.embeddings.with_raw_response.create(
        model="embed-e2e", input=inputs, dimensions=5, encoding_format="float", user="e2e-user")
    gateway.note_engine_request()
    resp = raw.parse()

    assert raw.headers.get("x-request-id")
    assert [d.index for d in resp.data] == [0, 1]
    assert [d.embedding for d in resp.data] == [embedding_vector(t, 5, EMBED_SALT_OPENAI) for t in inputs]
    assert all(isinstance(d["embedding"], list) for d in json.loads(raw.http_response.content)["data"])
    assert resp.usage.prompt_tokens == embedding_prompt_tokens(inputs)

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_openai_upstream(seen[0], path=EMBEDDINGS_PATH, model=OPENAI_EMBED_MODEL)
    # Passed through: only `model` changes.
    sent = json.loads(raw.http_request.content)
    assert {k: v for k, v in body.items() if k != "model"} == {k: v for k, v in sent.items() if k != "model"}


def test_embeddings_openai_explicit_base64(gateway, client, upstream):
    m = marker()
    text = f"base64 please {m}"
    resp = client.embeddings.create(model="embed-e2e", input=[text], encoding_format="base64", dimensions=9)
    gateway.note_engine_request()

    # Asked for explicitly, base64 is handed to the caller as the string.
    assert isinstance(resp.data[0].embedding, str), resp.data[0]
    assert decode_base64_embedding(resp.data[0].embedding) == embedding_vector(text, 9, EMBED_SALT_OPENAI)
    assert len(upstream.requests_containing(m)) == 1


# --------------------------------------------------------------------------- embeddings: Gemini upstream


def test_embeddings_gemini_default_encoding(gateway, client, upstream):
    """Gemini answers floats; the client asked for base64 (by default), so it gets base64."""
    m = marker()
    inputs = [f"alpha {m}", f"beta gamma {m}"]
    raw = client.embeddings.with_raw_response.create(model="gemini-embed-e2e", input=inputs, dimensions=6)
    gateway.note_engine_request()
    resp = raw.parse()

    data = json.loads(raw.http_response.content)["data"]
    assert all(isinstance(d["embedding"], str) for d in data), data
    assert [d.index for d in resp.data] == [0, 1]
    assert [d.embedding for d in resp.data] == [float32(embedding_vector(t, 6, EMBED_SALT_GEMINI)) for t in inputs]
    # Gemini reports no usage: the gateway estimates it.
    assert resp.usage.prompt_tokens > 0, resp.usage
    assert resp.usage.total_tokens >= resp.usage.prompt_tokens, resp.usage

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    rec = seen[0]
    assert rec["path"] == GEMINI_EMBED_PATH, rec["path"]
    assert rec["headers"].get("x-goog-api-key") == UPSTREAM_KEY, rec["headers"]
    assert_no_client_key(rec)
    requests = rec["body"]["requests"]
    assert len(requests) == len(inputs), rec["body"]
    for req, text in zip(requests, inputs):
        assert req["model"] == f"models/{GEMINI_EMBED_MODEL}", req
        assert req["content"]["parts"] == [{"text": text}], req
        assert req["outputDimensionality"] == 6, req


def test_embeddings_gemini_float_single_input(gateway, client, upstream):
    m = marker()
    text = f"just one {m}"
    raw = client.embeddings.with_raw_response.create(model="gemini-embed-e2e", input=text, encoding_format="float")
    gateway.note_engine_request()
    resp = raw.parse()

    assert isinstance(json.loads(raw.http_response.content)["data"][0]["embedding"], list)
    assert len(resp.data) == 1
    assert resp.data[0].embedding == embedding_vector(text, GEMINI_EMBED_DIMS, EMBED_SALT_GEMINI)
    assert resp.usage.prompt_tokens > 0

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    (req,) = seen[0]["body"]["requests"]
    assert req["content"]["parts"] == [{"text": text}], req
    assert "outputDimensionality" not in req, req


# --------------------------------------------------------------------------- embeddings: Azure upstream


def test_embeddings_azure(gateway, client, upstream):
    m = marker()
    inputs = [f"azure one {m}", f"azure two {m}"]
    resp = client.embeddings.create(model="azure-embed-e2e", input=inputs)
    gateway.note_engine_request()
    assert [d.embedding for d in resp.data] == [
        float32(embedding_vector(t, OPENAI_EMBED_DIMS, EMBED_SALT_AZURE)) for t in inputs]
    assert resp.usage.prompt_tokens == embedding_prompt_tokens(inputs)

    resp = client.embeddings.create(model="azure-embed-e2e", input=inputs[0], encoding_format="float", dimensions=4)
    gateway.note_engine_request()
    assert resp.data[0].embedding == embedding_vector(inputs[0], 4, EMBED_SALT_AZURE)

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    body = assert_azure_upstream(seen[0], AZURE_EMBED_PATH)
    assert body["input"] == inputs, body
    body = assert_azure_upstream(seen[1], AZURE_EMBED_PATH)
    assert body["input"] == inputs[0] and body["dimensions"] == 4, body


# --------------------------------------------------------------------------- embeddings: errors


def test_embeddings_unknown_model_is_404(gateway, client, upstream):
    m = marker()
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="no-such-model-e2e", input=m)
    assert info.value.status_code == 404
    assert_openai_error_body(info.value.response.json())
    assert info.value.response.headers.get("x-request-id")
    assert upstream.requests_containing(m) == []


def test_embeddings_anthropic_model_is_400(gateway, client, upstream):
    """Anthropic has no embeddings API."""
    m = marker()
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="claude-e2e", input=m)
    assert info.value.status_code == 400
    err = assert_openai_error_body(info.value.response.json())
    assert err["type"] == "invalid_request_error"
    assert upstream.requests_containing(m) == [], "an embeddings request reached the Anthropic upstream"


def test_embeddings_wrong_key_is_401(gateway, upstream):
    m = marker()
    with pytest.raises(openai.AuthenticationError) as info:
        gateway.client(api_key="sk-not-a-real-key-000000").embeddings.create(model="embed-e2e", input=m)
    assert info.value.status_code == 401
    assert_openai_error_body(info.value.response.json())
    assert upstream.requests_containing(m) == []


# --------------------------------------------------------------------------- responses: OpenAI upstream


def test_responses_non_stream(gateway, client, upstream):
    m = marker()
    raw = client.responses.with_raw_response.create(
        model="responses-e2e", input=f"hi {m}", instructions="Be brief.", max_output_tokens=64, temperature=0.5,
        metadata={"suite": "e2e"}, store=False, extra_body={"x_e2e_extra": {"big": 9007199254740993, "s": "caf\u00e9"}})
    gateway.note_engine_request()
    resp = raw.parse()

    assert raw.headers.get("x-request-id")
    assert resp.object == "response"
    assert resp.status == "completed"
    assert resp.output_text == RESPONSES_TEXT
    assert resp.usage.input_tokens == RESPONSES_USAGE["input_tokens"]
    assert resp.usage.output_tokens == RESPONSES_USAGE["output_tokens"]
    assert resp.usage.total_tokens == RESPONSES_USAGE["total_tokens"]
    assert resp.usage.input_tokens_details.cached_tokens == RESPONSES_USAGE["input_tokens_details"]["cached_tokens"]
    assert resp.usage.output_tokens_details.reasoning_tokens == \
        RESPONSES_USAGE["output_tokens_details"]["reasoning_tokens"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_openai_upstream(seen[0], path=RESPONSES_PATH, model=UPSTREAM_MODEL)
    sent = json.loads(raw.http_request.content)
    assert sent["model"] == "responses-e2e"
    assert {k: v for k, v in body.items() if k != "model"} == {k: v for k, v in sent.items() if k != "model"}
    assert json.loads(raw.http_response.content) == json.loads(seen[0]["response"])


def test_responses_stream(gateway, client, upstream):
    m = marker()
    events = list(client.responses.create(
        model="responses-e2e", input=[{"role": "user", "content": f"stream {m}"}], stream=True))
    gateway.note_engine_request()

    assert [e.type for e in events] == RESPONSES_EVENT_TYPES
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == RESPONSES_STREAM_PIECES
    final = events[-1].response
    assert final.status == "completed"
    assert final.output_text == RESPONSES_TEXT
    assert final.usage.total_tokens == RESPONSES_USAGE["total_tokens"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    body = assert_openai_upstream(seen[0], path=RESPONSES_PATH, model=UPSTREAM_MODEL)
    assert body.get("stream") is True, body
    assert [name for name, _ in seen[0]["events"]] == [e.type for e in events]


def test_responses_stream_events_unchanged(gateway, upstream):
    m = marker()
    status, headers, raw = raw_post(gateway, RESPONSES_PATH, json.dumps(
        {"model": "responses-e2e", "input": f"raw stream {m}", "stream": True}).encode())
    gateway.note_engine_request()

    assert status == 200, raw
    assert "text/event-stream" in (headers.get("content-type") or ""), dict(headers)
    assert headers.get("x-request-id")
    got = [(name, json.loads(data)) for name, data in parse_sse(raw) if data != "[DONE]"]
    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert got == [(name, json.loads(data)) for name, data in seen[0]["events"]]


def test_responses_helper_stream(gateway, client):
    with client.responses.stream(model="responses-e2e", input="helper") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    gateway.note_engine_request()
    assert text == RESPONSES_TEXT
    assert final.output_text == RESPONSES_TEXT


# --------------------------------------------------------------------------- responses: Azure upstream


def test_responses_azure(gateway, client, upstream):
    m = marker()
    resp = client.responses.create(model="azure-e2e", input=f"azure {m}", instructions="Be brief.")
    gateway.note_engine_request()
    assert resp.output_text == AZURE_RESPONSES_TEXT

    events = list(client.responses.create(model="azure-e2e", input=f"azure stream {m}", stream=True))
    gateway.note_engine_request()
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == AZURE_RESPONSES_TEXT
    assert events[-1].response.output_text == AZURE_RESPONSES_TEXT

    seen = upstream.requests_containing(m)
    assert len(seen) == 2, seen
    for rec, stream in zip(seen, (False, True)):
        body = assert_azure_upstream(rec, AZURE_RESPONSES_PATH, api_version=False)
        # On Azure's v1 API the deployment goes where OpenAI has the model.
        assert body["model"] == AZURE_DEPLOYMENT, body
        assert bool(body.get("stream")) is stream, body
    assert seen[0]["body"]["instructions"] == "Be brief."


# --------------------------------------------------------------------------- responses: errors


@pytest.mark.parametrize("model", ["claude-e2e", "gemini-e2e"])
def test_responses_needs_openai_or_azure_target(gateway, client, upstream, model):
    m = marker()
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=model, input=m)
    assert info.value.status_code == 400
    err = assert_openai_error_body(info.value.response.json())
    assert err["type"] == "invalid_request_error"
    assert info.value.response.headers.get("x-request-id")
    assert upstream.requests_containing(m) == []


def test_responses_unknown_model_is_404(gateway, client, upstream):
    m = marker()
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="no-such-model-e2e", input=m)
    assert info.value.status_code == 404
    assert_openai_error_body(info.value.response.json())
    assert upstream.requests_containing(m) == []


def test_responses_wrong_key_is_401(gateway, upstream):
    m = marker()
    with pytest.raises(openai.AuthenticationError) as info:
        gateway.client(api_key="sk-not-a-real-key-000000").responses.create(model="responses-e2e", input=m)
    assert info.value.status_code == 401
    assert_openai_error_body(info.value.response.json())
    assert upstream.requests_containing(m) == []


# --------------------------------------------------------------------------- chat completions: Azure upstream


def test_chat_azure_non_stream(gateway, client, upstream):
    m = marker()
    raw = client.chat.completions.with_raw_response.create(
        model="azure-e2e", messages=[{"role": "user", "content": f"hi {m}"}], temperature=0.5)
    gateway.note_engine_request()
    resp = raw.parse()

    assert raw.headers.get("x-request-id")
    assert resp.choices[0].message.content == AZURE_TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens == UPSTREAM_USAGE["prompt_tokens"]
    assert resp.usage.completion_tokens == UPSTREAM_USAGE["completion_tokens"]
    # Azure's content filter results reach the client.
    body = json.loads(raw.http_response.content)
    assert body["prompt_filter_results"] == AZURE_PROMPT_FILTER_RESULTS, body
    assert body["choices"][0]["content_filter_results"] == AZURE_CONTENT_FILTER_RESULTS, body
    assert resp.model_extra.get("prompt_filter_results") == AZURE_PROMPT_FILTER_RESULTS

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    up_body = assert_azure_upstream(seen[0], AZURE_CHAT_PATH)
    assert not up_body.get("stream"), up_body
    assert up_body["messages"] == [{"role": "user", "content": f"hi {m}"}], up_body
    assert up_body.get("temperature") == 0.5, up_body


def test_chat_azure_stream(gateway, client, upstream):
    m = marker()
    chunks = list(client.chat.completions.create(
        model="azure-e2e", messages=[{"role": "user", "content": m}], stream=True,
        stream_options={"include_usage": True}))
    gateway.note_engine_request()

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == AZURE_TEXT
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks), chunks
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, last
    assert last.usage.prompt_tokens == UPSTREAM_STREAM_USAGE["prompt_tokens"]
    assert last.usage.completion_tokens == UPSTREAM_STREAM_USAGE["completion_tokens"]

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    up_body = assert_azure_upstream(seen[0], AZURE_CHAT_PATH)
    assert up_body.get("stream") is True, up_body


def test_chat_azure_tool_call(gateway, client, upstream):
    m = marker()
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}
    resp = client.chat.completions.create(
        model="azure-e2e", messages=[{"role": "user", "content": f"weather {m}"}], tools=[tool])
    gateway.note_engine_request()
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.choices[0].message.tool_calls[0].function.name == "get_weather"

    seen = upstream.requests_containing(m)
    assert len(seen) == 1, seen
    assert assert_azure_upstream(seen[0], AZURE_CHAT_PATH)["tools"] == [tool]
