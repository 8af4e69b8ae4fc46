"""Fixtures for the end-to-end suite: a mock upstream and a real `orchestratord` process
configured against it.

The mock upstream serves, on one port:

- OpenAI under `/v1`: chat completions, embeddings and the Responses API;
- Anthropic Messages under `/anthropic/v1`;
- Gemini (Google AI, v1beta) under `/gemini/v1beta`: generateContent,
  streamGenerateContent, batchEmbedContents, embedContent, countTokens;
- Azure OpenAI under `/azure`: deployments' chat completions and embeddings
  (`?api-version=`), and the v1 Responses API.

The gateway binary comes from `ORCH_BIN` (default `<repo>/.build/debug/orchestratord`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

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

# The Gemini mock (`/gemini/v1beta/models/{model}:{method}`), in the Gemini API's camelCase
# REST JSON. With function declarations in the request and no functionResponse in the last
# turn it calls WEATHER_TOOL with WEATHER_ARGS (one functionCall part carrying
# GEMINI_THOUGHT_SIGNATURE); once the functionResponse is there it answers
# WEATHER_REPLY_PREFIX + <the response's text>.
GEMINI_UPSTREAM_MODEL = "gemini-upstream-1"
GEMINI_EMBED_MODEL = "gemini-embedding-upstream"
GEMINI_TEXT = "Hello from the Gemini mock."
GEMINI_STREAM_PIECES = ["Hello", " from", " the", " Gemini", " mock."]
assert "".join(GEMINI_STREAM_PIECES) == GEMINI_TEXT
GEMINI_USAGE = {"promptTokenCount": 13, "candidatesTokenCount": 8, "totalTokenCount": 21,
                "cachedContentTokenCount": 4,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 13}]}
GEMINI_STREAM_USAGE = {"promptTokenCount": 13, "candidatesTokenCount": 5, "totalTokenCount": 18,
                       "cachedContentTokenCount": 4,
                       "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 13}]}
# A function call comes from a "thinking" turn: thoughts count in the total.
GEMINI_TOOL_USAGE = {"promptTokenCount": 21, "candidatesTokenCount": 5, "thoughtsTokenCount": 12,
                     "totalTokenCount": 38}
GEMINI_THOUGHT_SIGNATURE = "c2lnLWUyZQ=="  # base64 of b"sig-e2e"
# A top-level field no client library knows, on every non-stream answer and on the last
# stream chunk: a pass-through must keep it.
GEMINI_EXTRA_FIELD = "e2eUpstreamExtra"
# Any text in the contents containing this makes the mock answer 429 RESOURCE_EXHAUSTED.
GEMINI_RATE_LIMIT_TRIGGER = "E2E_GEMINI_RATE_LIMIT"


def gemini_model_version(model: str) -> str:
    """The `modelVersion` the Gemini mock reports for `model`."""
    return f"{model}-e2e-001"


# Azure OpenAI (`/azure/openai/deployments/{deployment}/...?api-version=`, `/azure/openai/v1/responses`).
AZURE_API_VERSION = "2024-10-21"
AZURE_DEPLOYMENT = "azure-deploy-1"
AZURE_EMBED_DEPLOYMENT = "azure-embed-deploy"
AZURE_RESPONSE_MODEL = "gpt-4o-2024-08-06"  # Azure answers with the deployed model's name
AZURE_EMBED_RESPONSE_MODEL = "text-embedding-3-small"
AZURE_TEXT = "Hello from the Azure mock."
AZURE_STREAM_PIECES = ["Hello", " from", " the", " Azure", " mock."]
assert "".join(AZURE_STREAM_PIECES) == AZURE_TEXT
AZURE_CONTENT_FILTER_RESULTS = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
AZURE_PROMPT_FILTER_RESULTS = [{"prompt_index": 0, "content_filter_results": dict(
    AZURE_CONTENT_FILTER_RESULTS, jailbreak={"filtered": False, "detected": False})}]

# Embeddings. Vectors are a function of (salt, text, dimensions) so a test can work out what
# each upstream returns; every value is k/128, exact in float32.
OPENAI_EMBED_MODEL = "text-embedding-upstream"
OPENAI_EMBED_DIMS = 12   # without `dimensions` (OpenAI and Azure)
GEMINI_EMBED_DIMS = 10   # without `outputDimensionality`
EMBED_MAX_DIMS = 64
EMBED_SALT_OPENAI = "openai"
EMBED_SALT_AZURE = "azure"
EMBED_SALT_GEMINI = "gemini"


def embedding_vector(text: str, dims: int, salt: str) -> list[float]:
    """The vector the mock returns for `text` (the first `dims` values of an endless sequence)."""
    digest = b""
    counter = 0
    while len(digest) < dims:
        digest += hashlib.sha256(f"{salt}|{counter}|{text}".encode()).digest()
        counter += 1
    return [(b - 128) / 128 for b in digest[:dims]]


def embedding_prompt_tokens(texts: list[str]) -> int:
    """The `usage.prompt_tokens` the OpenAI and Azure mocks report for these inputs."""
    return sum(len(t.split()) + 2 for t in texts)


# The Responses API (`/v1/responses`, `/azure/openai/v1/responses`).
RESPONSES_TEXT = "Hello from the Responses mock."
RESPONSES_STREAM_PIECES = ["Hello", " from", " the", " Responses", " mock."]
assert "".join(RESPONSES_STREAM_PIECES) == RESPONSES_TEXT
AZURE_RESPONSES_TEXT = "Hello from the Azure Responses mock."
AZURE_RESPONSES_STREAM_PIECES = ["Hello", " from", " the", " Azure", " Responses", " mock."]
assert "".join(AZURE_RESPONSES_STREAM_PIECES) == AZURE_RESPONSES_TEXT
RESPONSES_USAGE = {"input_tokens": 14, "input_tokens_details": {"cached_tokens": 2},
                   "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 23}

LISTEN_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- upstream


def text_of(content) -> str:
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


def _camel(name: str) -> str:
    """`max_output_tokens` -> `maxOutputTokens` (the Gemini API reads JSON in either spelling)."""
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _gemini_error(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


def _unknown_name(where: str, name: str) -> str:
    # The Gemini API's wording for a field its proto does not have.
    return f'Invalid JSON payload received. Unknown name "{name}" at \'{where}\': Cannot find field.'


_GEMINI_REQUEST_FIELDS = {"model", "contents", "tools", "toolConfig", "safetySettings", "systemInstruction",
                          "generationConfig", "cachedContent", "labels", "serviceTier", "store"}
_GEMINI_GENERATION_CONFIG_FIELDS = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "candidateCount",
    "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty",
    "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers", "responseModalities", "speechConfig",
    "thinkingConfig", "mediaResolution", "imageConfig", "audioTimestamp", "enableAffectiveDialog",
    "routingConfig", "modelSelectionConfig"}
_GEMINI_PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
                     "codeExecutionResult"}
_GEMINI_PART_META = {"thought", "thoughtSignature", "videoMetadata", "partMetadata", "mediaResolution"}
_GEMINI_TOOL_FIELDS = {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution",
                       "urlContext", "computerUse", "fileSearch", "googleMaps", "retrieval", "enterpriseWebSearch"}
_GEMINI_FUNCTION_DECLARATION_FIELDS = {"name", "description", "parameters", "parametersJsonSchema", "response",
                                       "responseJsonSchema", "behavior"}
# The OpenAPI subset the `parameters` Schema accepts (JSON Schema's `additionalProperties`,
# `$schema`, `strict`… are not in it: the API rejects them).
_GEMINI_SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
                         "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
                         "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
                         "maximum"}
_BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2,3}={0,2})?")
_GEMINI_FUNCTION_CALLING_MODES = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}


def _check_gemini_schema(schema, where: str) -> str | None:
    if not isinstance(schema, dict):
        return f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Schema)"
    for key, value in schema.items():
        if _camel(key) not in _GEMINI_SCHEMA_FIELDS:
            return _unknown_name(where, key)
        if key == "properties":
            if not isinstance(value, dict):
                return f"Invalid value at '{where}.properties'"
            for name, sub in value.items():
                problem = _check_gemini_schema(sub, f"{where}.properties[{name}].value")
                if problem:
                    return problem
        elif key == "items":
            problem = _check_gemini_schema(value, f"{where}.items")
            if problem:
                return problem
        elif _camel(key) == "anyOf":
            for i, sub in enumerate(value if isinstance(value, list) else [None]):
                problem = _check_gemini_schema(sub, f"{where}.any_of[{i}]")
                if problem:
                    return problem
    return None


def _check_gemini_part(part, where: str) -> str | None:
    if not isinstance(part, dict):
        return f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part)"
    data = []
    for key in part:
        name = _camel(key)
        if name in _GEMINI_PART_DATA:
            data.append(name)
        elif name not in _GEMINI_PART_META:
            return _unknown_name(where, key)
    if len(data) != 1:
        return f"{where}: a part must hold exactly one of text, inlineData, functionCall, functionResponse…" \
               f" (got {data or 'none'})"
    value = part.get(data[0], part.get({"inlineData": "inline_data", "functionCall": "function_call",
                                         "functionResponse": "function_response"}.get(data[0], data[0])))
    if data[0] == "text" and not isinstance(value, str):
        return f"Invalid value at '{where}.text' (TYPE_STRING)"
    if data[0] == "inlineData" and not (isinstance(value, dict) and isinstance(value.get("data"), str)
                                        and isinstance(value.get("mimeType", value.get("mime_type")), str)):
        return f"{where}.inline_data: mimeType and base64 data are required"
    if data[0] == "functionCall":
        if not (isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]):
            return f"{where}.function_call.name: Field required"
        if "args" in value and not isinstance(value["args"], dict):
            return f"Invalid value at '{where}.function_call.args' (type.googleapis.com/google.protobuf.Struct)"
        for key in value:
            if key not in ("name", "args", "id"):
                return _unknown_name(f"{where}.function_call", key)
    if data[0] == "functionResponse":
        if not (isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]):
            return f"{where}.function_response.name: Field required"
        if not isinstance(value.get("response"), dict):
            return (f"Invalid value at '{where}.function_response.response' "
                    f"(type.googleapis.com/google.protobuf.Struct), {json.dumps(value.get('response'))}")
        for key in value:
            if _camel(key) not in ("name", "response", "id", "willContinue", "scheduling", "parts"):
                return _unknown_name(f"{where}.function_response", key)
    signature = part.get("thoughtSignature", part.get("thought_signature"))
    # Bytes in proto JSON: standard or URL-safe base64, padded or not (so Google's documented
    # dummy "skip_thought_signature_validator" is acceptable too).
    if signature is not None and not (isinstance(signature, str) and _BASE64_RE.fullmatch(signature)):
        return f"Invalid value at '{where}.thought_signature' (TYPE_BYTES), Base64 decoding failed"
    return None


def _check_gemini_content(content, where: str, roles=("user", "model", "function")) -> str | None:
    if not isinstance(content, dict):
        return f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content)"
    for key in content:
        if key not in ("role", "parts"):
            return _unknown_name(where, key)
    role = content.get("role")
    if role is not None and role not in roles:
        return f"Please use a valid role: {', '.join(roles[:2])}."
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        return f"{where}.parts must not be empty."
    for j, part in enumerate(parts):
        problem = _check_gemini_part(part, f"{where}.parts[{j}]")
        if problem:
            return problem
    return None


def _check_gemini_request(body) -> str | None:
    """What the Gemini API would reject in a generateContent body (None when acceptable)."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received."
    for key in body:
        if _camel(key) not in _GEMINI_REQUEST_FIELDS:
            return _unknown_name("", key).replace(" at ''", "")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for i, content in enumerate(contents):
        problem = _check_gemini_content(content, f"contents[{i}]")
        if problem:
            return problem
    system = body.get("systemInstruction", body.get("system_instruction"))
    if system is not None:
        problem = _check_gemini_content(system, "system_instruction", roles=("user", "system", "model"))
        if problem:
            return problem
    config = body.get("generationConfig", body.get("generation_config"))
    if config is not None:
        if not isinstance(config, dict):
            return "Invalid value at 'generation_config'"
        for key, value in config.items():
            if _camel(key) not in _GEMINI_GENERATION_CONFIG_FIELDS:
                return _unknown_name("generation_config", key)
            if _camel(key) in ("maxOutputTokens", "candidateCount", "topK", "seed") and (
                    not isinstance(value, int) or isinstance(value, bool)):
                return f"Invalid value at 'generation_config.{key}' (TYPE_INT32), {json.dumps(value)}"
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid value at 'tools'"
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                return f"Invalid value at 'tools[{i}]'"
            for key in tool:
                if _camel(key) not in _GEMINI_TOOL_FIELDS:
                    return _unknown_name(f"tools[{i}]", key)
            decls = tool.get("functionDeclarations", tool.get("function_declarations"))
            for j, decl in enumerate(decls or []):
                where = f"tools[{i}].function_declarations[{j}]"
                if not isinstance(decl, dict) or not isinstance(decl.get("name"), str) or not decl["name"]:
                    return f"{where}.name: Field required"
                for key in decl:
                    if _camel(key) not in _GEMINI_FUNCTION_DECLARATION_FIELDS:
                        return _unknown_name(where, key)
                if "parameters" in decl:
                    problem = _check_gemini_schema(decl["parameters"], f"{where}.parameters")
                    if problem:
                        return problem
    tool_config = body.get("toolConfig", body.get("tool_config"))
    if tool_config is not None:
        fcc = tool_config.get("functionCallingConfig", tool_config.get("function_calling_config")) \
            if isinstance(tool_config, dict) else None
        if fcc is not None and (not isinstance(fcc, dict)
                                or fcc.get("mode", "MODE_UNSPECIFIED") not in _GEMINI_FUNCTION_CALLING_MODES):
            return f"Invalid value at 'tool_config.function_calling_config.mode', {json.dumps(fcc)}"
    return None


def _gemini_parts(content) -> list[dict]:
    return [p for p in (content.get("parts") or []) if isinstance(p, dict)] if isinstance(content, dict) else []


def _gemini_texts(body: dict) -> list[str]:
    """Every text of a generateContent body (contents and system instruction)."""
    out = []
    for content in list(body.get("contents") or []) + [body.get("systemInstruction") or {}]:
        out += [p["text"] for p in _gemini_parts(content) if isinstance(p.get("text"), str)]
    return out


def _gemini_function_response(body: dict) -> dict | None:
    """The functionResponse in the last (user) turn, if there is one."""
    last = body["contents"][-1]
    if last.get("role", "user") not in ("user", "function"):
        return None
    for part in _gemini_parts(last):
        fr = part.get("functionResponse", part.get("function_response"))
        if isinstance(fr, dict):
            return fr
    return None


def gemini_response_text(response) -> str:
    """The text in a functionResponse's `response` object: its one string value (or `output`,
    `result`, `content`, `text`), else its JSON."""
    if isinstance(response, str):
        return response
    if isinstance(response, list):
        return "".join(gemini_response_text(r) for r in response) if all(
            isinstance(r, (str, dict)) for r in response) else json.dumps(response)
    if isinstance(response, dict):
        for key in ("output", "result", "content", "text"):
            if key in response and isinstance(response[key], (str, list)):
                return gemini_response_text(response[key])
        if response.get("type") == "text" and isinstance(response.get("text"), str):
            return response["text"]
        if len(response) == 1:
            (only,) = response.values()
            if isinstance(only, (str, dict, list)):
                return gemini_response_text(only)
    return json.dumps(response, separators=(",", ":"), sort_keys=True)


def _gemini_signatures(body: dict) -> list:
    """The thoughtSignature (None when absent) of every functionCall part in the model turns."""
    out = []
    for content in body.get("contents") or []:
        if isinstance(content, dict) and content.get("role") == "model":
            for part in _gemini_parts(content):
                if "functionCall" in part or "function_call" in part:
                    out.append(part.get("thoughtSignature", part.get("thought_signature")))
    return out


def _has_function_declarations(body: dict) -> bool:
    return any(isinstance(t, dict) and (t.get("functionDeclarations") or t.get("function_declarations"))
               for t in body.get("tools") or [])


def _float32_base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def _openai_error(message: str, kind: str = "invalid_request_error", param=None, code=None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _responses_object(rid: str, model: str, body: dict, output: list, status: str, usage) -> dict:
    """A Responses API `response` object (echoing the request's settings, as the API does)."""
    return {
        "id": rid, "object": "response", "created_at": int(time.time()), "status": status,
        "background": False, "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "model": model, "output": output, "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": "default", "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0), "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0), "truncation": body.get("truncation", "disabled"),
        "usage": usage, "user": body.get("user"), "metadata": body.get("metadata") or {},
    }


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
        if self.path.startswith("/gemini/"):
            self._gemini(body, record)
            return
        if self.path.startswith("/azure/"):
            self._azure(body, record)
            return
        if self.path == "/broken/v1/chat/completions":
            self._send_json(500, {"error": {"message": "upstream exploded", "type": "server_error",
                                            "param": None, "code": None}})
            return
        if self.path == "/v1/embeddings":
            self._embeddings(body, record, salt=EMBED_SALT_OPENAI, model=None)
            return
        if self.path == "/v1/responses":
            self._responses(body, record, RESPONSES_TEXT, RESPONSES_STREAM_PIECES)
            return
        if self.path != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error",
                                            "param": None, "code": None}})
            return
        self._chat(body, record)

    def _chat(self, body, record: dict, azure: bool = False) -> None:
        """OpenAI chat completions; `azure` answers as Azure OpenAI does (another model name,
        content filter results on the prompt and on every choice)."""
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error",
                                            "param": None, "code": None}})
            return

        model = AZURE_RESPONSE_MODEL if azure else body.get("model", "")
        created = int(time.time())
        cid = "chatcmpl-up-" + uuid.uuid4().hex[:12]
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        if last.get("role") == "tool":
            reply = WEATHER_REPLY_PREFIX + text_of(last.get("content"))
            pieces = [WEATHER_REPLY_PREFIX, text_of(last.get("content"))]
        elif azure:
            reply, pieces = AZURE_TEXT, AZURE_STREAM_PIECES
        else:
            reply, pieces = UPSTREAM_TEXT, UPSTREAM_STREAM_PIECES
        call = None
        if body.get("tools") and last.get("role") != "tool":
            call = {"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                    "function": {"name": WEATHER_TOOL, "arguments": json.dumps(WEATHER_ARGS)}}

        if body.get("stream"):
            self._stream(body, cid, created, model, pieces, call, azure=azure)
            return
        if call is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": reply}
            finish = "stop"
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        obj = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": dict(UPSTREAM_USAGE),
        }
        if azure:
            message["refusal"] = None
            choice["content_filter_results"] = dict(AZURE_CONTENT_FILTER_RESULTS)
            obj["prompt_filter_results"] = json.loads(json.dumps(AZURE_PROMPT_FILTER_RESULTS))
            obj["system_fingerprint"] = "fp_e2e_azure"
        self._send_json(200, obj, record)

    def _stream(self, body: dict, cid: str, created: int, model: str, pieces: list[str], call: dict | None,
                azure: bool = False) -> None:
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
            choice = {"index": 0, "delta": d, "finish_reason": finish}
            if azure:
                choice["content_filter_results"] = dict(AZURE_CONTENT_FILTER_RESULTS) if d.get("content") else {}
            send(json.dumps(chunk([choice])))

        if azure:
            # Azure opens with the prompt's filter results: no choices, and empty id/object/model.
            send(json.dumps({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                             "prompt_filter_results": AZURE_PROMPT_FILTER_RESULTS}))
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

    # -- OpenAI embeddings (also Azure's)

    def _embeddings(self, body, record: dict, salt: str, model: str | None) -> None:
        """`model` is the name to answer with (None: the request's)."""
        if not isinstance(body, dict):
            self._send_json(400, _openai_error("We could not parse the JSON body of your request."), record)
            return
        if model is None:
            model = body.get("model")
            if not isinstance(model, str) or not model:
                self._send_json(400, _openai_error("you must provide a model parameter", param="model"), record)
                return
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs
                                       and all(isinstance(t, int) and not isinstance(t, bool) for t in inputs)):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(
                (isinstance(t, str) and t) or (isinstance(t, list) and t and all(isinstance(x, int) for x in t))
                for t in inputs):
            self._send_json(400, _openai_error("'$.input' is invalid.", param="input"), record)
            return
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            self._send_json(400, _openai_error(f"Invalid value for 'encoding_format': {encoding!r}",
                                               param="encoding_format"), record)
            return
        dims = body.get("dimensions", OPENAI_EMBED_DIMS)
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= EMBED_MAX_DIMS:
            self._send_json(400, _openai_error(f"Invalid value for 'dimensions': {dims!r}", param="dimensions"),
                            record)
            return
        texts = [t if isinstance(t, str) else json.dumps(t) for t in inputs]
        data = []
        for i, text in enumerate(texts):
            vector = embedding_vector(text, dims, salt)
            data.append({"object": "embedding", "index": i,
                         "embedding": vector if encoding == "float" else _float32_base64(vector)})
        tokens = sum(embedding_prompt_tokens([t]) if isinstance(t, str) else len(t) for t in inputs)
        self._send_json(200, {"object": "list", "data": data, "model": model,
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, record)

    # -- the Responses API (also Azure's)

    def _responses(self, body, record: dict, text: str, pieces: list[str]) -> None:
        if not isinstance(body, dict):
            self._send_json(400, _openai_error("We could not parse the JSON body of your request."), record)
            return
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self._send_json(400, _openai_error("Missing required parameter: 'model'.", param="model",
                                               code="missing_required_parameter"), record)
            return
        if not isinstance(body.get("input"), (str, list)) and not body.get("previous_response_id"):
            self._send_json(400, _openai_error("Missing required parameter: 'input'.", param="input",
                                               code="missing_required_parameter"), record)
            return
        rid = "resp_" + uuid.uuid4().hex
        item_id = "msg_" + uuid.uuid4().hex
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item = {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        if body.get("stream") is not True:
            self._send_json(200, _responses_object(rid, model, body, [item], "completed", dict(RESPONSES_USAGE)),
                            record)
            return

        record["events"] = events = []
        self._start_sse()
        seq = 0

        def send(name: str, obj: dict) -> None:
            nonlocal seq
            obj = {"type": name, "sequence_number": seq, **obj}
            seq += 1
            data = json.dumps(obj)
            events.append((name, data))
            self._write_chunk(f"event: {name}\ndata: {data}\n\n".encode())

        pending = _responses_object(rid, model, body, [], "in_progress", None)
        send("response.created", {"response": pending})
        send("response.in_progress", {"response": pending})
        send("response.output_item.added", {"output_index": 0, "item": dict(
            item, status="in_progress", content=[])})
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        send("response.content_part.added", {**where, "part": dict(part, text="")})
        for piece in pieces:
            send("response.output_text.delta", {**where, "delta": piece, "logprobs": []})
        send("response.output_text.done", {**where, "text": text, "logprobs": []})
        send("response.content_part.done", {**where, "part": part})
        send("response.output_item.done", {"output_index": 0, "item": item})
        send("response.completed", {"response": _responses_object(
            rid, model, body, [item], "completed", dict(RESPONSES_USAGE))})
        self._end_chunks()

    # -- Azure OpenAI

    def _azure(self, body, record: dict) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        record["query"] = query

        def error(status: int, code: str, message: str) -> None:
            self._send_json(status, {"error": {"code": code, "message": message}}, record)

        if record["headers"].get("api-key") != UPSTREAM_KEY:
            error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                              "provide a valid key for an active subscription and use a correct regional API "
                              "endpoint for your resource.")
            return
        if url.path == "/azure/openai/v1/responses":
            self._responses(body, record, AZURE_RESPONSES_TEXT, AZURE_RESPONSES_STREAM_PIECES)
            return
        match = re.fullmatch(r"/azure/openai/deployments/([^/]+)/(chat/completions|embeddings)", url.path)
        if match is None or query.get("api-version") != [AZURE_API_VERSION]:
            error(404, "404", "Resource not found")
            return
        deployment, op = match.groups()
        if (op, deployment) not in (("chat/completions", AZURE_DEPLOYMENT), ("embeddings", AZURE_EMBED_DEPLOYMENT)):
            error(404, "DeploymentNotFound", "The API deployment for this resource does not exist. If you created "
                                             "the deployment within the last 5 minutes, please wait a moment and "
                                             "try again.")
            return
        if op == "embeddings":
            self._embeddings(body, record, salt=EMBED_SALT_AZURE, model=AZURE_EMBED_RESPONSE_MODEL)
        else:
            self._chat(body, record, azure=True)

    # -- Gemini (Google AI, v1beta)

    def _gemini(self, body, record: dict) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        record["query"] = query
        headers = record["headers"]
        key = headers.get("x-goog-api-key") or (query.get("key") or [None])[0]
        if key is None:
            self._send_json(403, _gemini_error(
                403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established "
                                          "identity). Please use API Key or other form of API consumer identity "
                                          "to call this API."), record)
            return
        if key != UPSTREAM_KEY:
            self._send_json(400, _gemini_error(400, "INVALID_ARGUMENT",
                                               "API key not valid. Please pass a valid API key."), record)
            return
        match = re.fullmatch(r"/gemini/v1beta/models/([A-Za-z0-9._-]+):([A-Za-z]+)", url.path)
        method = match.group(2) if match else None
        if method not in ("generateContent", "streamGenerateContent", "countTokens", "embedContent",
                          "batchEmbedContents"):
            self._send_json(404, _gemini_error(404, "NOT_FOUND", f"no route {url.path}"), record)
            return
        model = match.group(1)
        embedding_model = "embedding" in model
        if embedding_model != (method in ("embedContent", "batchEmbedContents")):
            self._send_json(404, _gemini_error(
                404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not supported for "
                                  f"{method}. Call ListModels to see the list of available models and their "
                                  f"supported methods."), record)
            return
        if not isinstance(body, dict):
            self._send_json(400, _gemini_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."), record)
            return
        if method in ("embedContent", "batchEmbedContents"):
            self._gemini_embed(model, method, body, record)
            return
        if method == "countTokens":
            inner = body.get("generateContentRequest", body)
            problem = _check_gemini_request({k: v for k, v in inner.items() if k != "model"}) \
                if isinstance(inner, dict) else "Invalid JSON payload received."
            if problem:
                self._send_json(400, _gemini_error(400, "INVALID_ARGUMENT", problem), record)
                return
            total = sum(len(t.split()) for t in _gemini_texts(inner)) + 3
            self._send_json(200, {"totalTokens": total,
                                  "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}, record)
            return
        problem = _check_gemini_request(body)
        if problem:
            self._send_json(400, _gemini_error(400, "INVALID_ARGUMENT", problem), record)
            return
        if any(GEMINI_RATE_LIMIT_TRIGGER in t for t in _gemini_texts(body)):
            self._send_json(429, _gemini_error(
                429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."), record)
            return

        # What the client sent back of the thought signatures, for the tests to check.
        record["thought_signatures"] = _gemini_signatures(body)
        fr = _gemini_function_response(body)
        if fr is not None:
            answer = gemini_response_text(fr.get("response"))
            parts_out = [{"text": WEATHER_REPLY_PREFIX + answer}]
            pieces = [WEATHER_REPLY_PREFIX, answer]
            usage, stream_usage = GEMINI_USAGE, GEMINI_STREAM_USAGE
        elif _has_function_declarations(body):
            parts_out = [{"functionCall": {"name": WEATHER_TOOL, "args": dict(WEATHER_ARGS)},
                          "thoughtSignature": GEMINI_THOUGHT_SIGNATURE}]
            pieces = None
            usage = stream_usage = GEMINI_TOOL_USAGE
        else:
            parts_out = [{"text": GEMINI_TEXT}]
            pieces = GEMINI_STREAM_PIECES
            usage, stream_usage = GEMINI_USAGE, GEMINI_STREAM_USAGE
        rid = "e2e" + uuid.uuid4().hex[:20]

        def response(parts, finish=None, usage_metadata=None, extra=False) -> dict:
            candidate = {"content": {"parts": parts, "role": "model"}}
            if finish is not None:
                candidate["finishReason"] = finish
            candidate["index"] = 0
            obj = {"candidates": [candidate]}
            if usage_metadata is not None:
                obj["usageMetadata"] = json.loads(json.dumps(usage_metadata))
            obj["modelVersion"] = gemini_model_version(model)
            obj["responseId"] = rid
            if extra:
                obj[GEMINI_EXTRA_FIELD] = {"kept": True, "marker": rid}
            return obj

        if method == "generateContent":
            self._send_json(200, response(parts_out, "STOP", usage, extra=True), record)
            return

        # streamGenerateContent: SSE with ?alt=sse, else one JSON array written in pieces.
        if pieces is None:
            chunks = [response(parts_out, "STOP", stream_usage, extra=True)]
        else:
            chunks = [response([{"text": p}]) for p in pieces[:-1]]
            chunks.append(response([{"text": pieces[-1]}], "STOP", stream_usage, extra=True))
        record["events"] = events = [json.dumps(c) for c in chunks]
        sse = query.get("alt") == ["sse"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if sse else "application/json; charset=UTF-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "upstream-" + uuid.uuid4().hex)
        self.end_headers()
        for i, data in enumerate(events):
            if sse:
                payload = f"data: {data}\r\n\r\n".encode()
            else:
                payload = (("[" if i == 0 else ",\r\n") + data + ("]" if i == len(events) - 1 else "")).encode()
            self._write_chunk(payload)
            time.sleep(0.002)
        self._end_chunks()

    def _gemini_embed(self, model: str, method: str, body: dict, record: dict) -> None:
        def embed(req, where: str):
            """(values, None) or (None, problem)."""
            if not isinstance(req, dict):
                return None, f"Invalid value at '{where}'"
            for key in req:
                if _camel(key) not in ("model", "content", "taskType", "title", "outputDimensionality"):
                    return None, _unknown_name(where, key)
            if method == "batchEmbedContents" and req.get("model") != f"models/{model}":
                return None, (f"Model name in the request ({req.get('model')!r}) does not match the model in the "
                              f"URL (models/{model}).")
            content = req.get("content")
            problem = _check_gemini_content(content, f"{where}content")
            if problem:
                return None, problem
            texts = [p.get("text") for p in _gemini_parts(content)]
            if not all(isinstance(t, str) for t in texts):
                return None, f"{where}content: only text parts can be embedded"
            dims = req.get("outputDimensionality", req.get("output_dimensionality", GEMINI_EMBED_DIMS))
            if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= EMBED_MAX_DIMS:
                return None, f"Invalid value at '{where}output_dimensionality', {json.dumps(dims)}"
            return embedding_vector("".join(texts), dims, EMBED_SALT_GEMINI), None

        if method == "embedContent":
            values, problem = embed(body, "")
            result = {"embedding": {"values": values}}
        else:
            requests = body.get("requests")
            if not isinstance(requests, list) or not requests:
                values, problem = None, "* BatchEmbedContentsRequest.requests: requests is not specified"
            else:
                problem = None
                for key in body:
                    if key != "requests":
                        problem = _unknown_name("", key).replace(" at ''", "")
                embeddings = []
                for i, req in enumerate(requests):
                    if problem:
                        break
                    values, problem = embed(req, f"requests[{i}].")
                    embeddings.append({"values": values})
            result = {"embeddings": embeddings} if not problem else None
        if problem:
            self._send_json(400, _gemini_error(400, "INVALID_ARGUMENT", problem), record)
            return
        self._send_json(200, result, record)

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
            text = WEATHER_REPLY_PREFIX + text_of(result.get("content"))
            blocks = [{"type": "text", "text": text}]
            pieces = [WEATHER_REPLY_PREFIX, text_of(result.get("content"))]
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
    """An in-process upstream (OpenAI, Anthropic, Gemini and Azure OpenAI routes) that records
    every request: `path` (with the query), lower-cased `headers`, parsed `body`, `raw` bytes,
    and, once answered, `response` (the bytes of a JSON answer) or `events` (what a stream
    sent), plus `query` (parsed) on the Gemini and Azure routes and `thought_signatures` on
    Gemini generateContent."""

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
  - {{ name: gem, type: gemini, base_url: "http://127.0.0.1:{up}/gemini/v1beta", api_keys: ["{upstream_key}"] }}
  - {{ name: az, type: azure, base_url: "http://127.0.0.1:{up}/azure", api_version: "{azure_api_version}", api_keys: ["{upstream_key}"] }}
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
  - name: gemini-e2e
    targets:
      - {{ provider: gem, model: {gemini_model} }}
  - name: azure-e2e
    targets:
      - {{ provider: az, model: {azure_deployment} }}
  - name: embed-e2e
    targets:
      - {{ provider: up, model: {openai_embed_model} }}
  - name: gemini-embed-e2e
    targets:
      - {{ provider: gem, model: {gemini_embed_model} }}
  - name: azure-embed-e2e
    targets:
      - {{ provider: az, model: {azure_embed_deployment} }}
  - name: responses-e2e
    targets:
      - {{ provider: up, model: {upstream_model} }}
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
            anthropic_model=ANTHROPIC_UPSTREAM_MODEL, gemini_model=GEMINI_UPSTREAM_MODEL,
            gemini_embed_model=GEMINI_EMBED_MODEL, azure_api_version=AZURE_API_VERSION,
            azure_deployment=AZURE_DEPLOYMENT, azure_embed_deployment=AZURE_EMBED_DEPLOYMENT,
            openai_embed_model=OPENAI_EMBED_MODEL))
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

    def gemini_client(self, api_key: str = CLIENT_KEY, **options) -> genai.Client:
        """The official `google-genai` client pointed at the gateway (it calls
        `{base}/v1beta/models/{model}:generateContent`, key in `x-goog-api-key`)."""
        options.setdefault("timeout", 30_000)  # milliseconds
        return genai.Client(api_key=api_key, http_options=genai_types.HttpOptions(
            base_url=f"http://127.0.0.1:{self.port}", api_version="v1beta", **options))

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


@pytest.fixture(scope="session")
def genai_client(gateway) -> genai.Client:
    return gateway.gemini_client()


def pytest_collection_modifyitems(session, config, items):
    """Run the shutdown tests (`test_zz*`) after every other test, whatever the order or file,
    and among themselves by name: `test_zz_shutdown_*` stops the gateway, `test_zzz_*` read
    what it left behind."""
    last = sorted((i for i in items if i.name.startswith("test_zz")), key=lambda i: i.name)
    rest = [i for i in items if not i.name.startswith("test_zz")]
    items[:] = rest + last
