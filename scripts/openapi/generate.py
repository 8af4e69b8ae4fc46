#!/usr/bin/env python3
"""Builds the Orchestrator OpenAPI 3.1 document and writes OpenAPIDocument.swift.

This script is the document's source: edit it, then run
    python3 scripts/openapi/generate.py            # rewrites Sources/HTTPFront/OpenAPI/OpenAPIDocument.swift
    python3 scripts/openapi/generate.py --json     # prints the document
    python3 scripts/openapi/generate.py --check    # fails if the Swift file is not what this script writes
The test command runs --check; OpenAPITests checks the document against the router.
"""
import copy
import json
import sys

REF = lambda name: {"$ref": f"#/components/schemas/{name}"}
RESP = lambda name: {"$ref": f"#/components/responses/{name}"}
HDR = lambda name: {"$ref": f"#/components/headers/{name}"}
PARAM = lambda name: {"$ref": f"#/components/parameters/{name}"}


def nullable(schema):
    """`schema` or null."""
    if "$ref" in schema or "oneOf" in schema or "anyOf" in schema or "allOf" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    s = copy.deepcopy(schema)
    t = s.get("type")
    if isinstance(t, list):
        if "null" not in t:
            s["type"] = t + ["null"]
    elif t is not None:
        s["type"] = [t, "null"]
    else:
        return {"anyOf": [schema, {"type": "null"}]}
    if "enum" in s and None not in s["enum"]:
        s["enum"] = s["enum"] + [None]
    return s


def patchify(schema):
    """A merge-patch view of `schema`: members optional and nullable, nested objects patched the same way
    (arrays and alternatives are replaced whole, so they stay as they are)."""
    s = copy.deepcopy(schema)
    if "$ref" in s:
        s = copy.deepcopy(schemas[s["$ref"].split("/")[-1]])
    if s.get("type") == "object" and "properties" in s:
        s.pop("required", None)
        s["properties"] = {k: v if v.get("readOnly") else nullable(patchify(v)) for k, v in s["properties"].items()}
        if isinstance(s.get("additionalProperties"), dict):
            s["additionalProperties"] = nullable(patchify(s["additionalProperties"]))
    return s


def obj(props, required=(), additional=None, description=None, **extra):
    s = {"type": "object"}
    if description:
        s["description"] = description
    if required:
        s["required"] = list(required)
    s["properties"] = props
    if additional is not None:
        s["additionalProperties"] = additional
    s.update(extra)
    return s


def string(description=None, **kw):
    s = {"type": "string"}
    if description:
        s["description"] = description
    s.update(kw)
    return s


def integer(description=None, **kw):
    s = {"type": "integer"}
    if description:
        s["description"] = description
    s.update(kw)
    return s


def number(description=None, **kw):
    s = {"type": "number"}
    if description:
        s["description"] = description
    s.update(kw)
    return s


def boolean(description=None, **kw):
    s = {"type": "boolean"}
    if description:
        s["description"] = description
    s.update(kw)
    return s


def array(items, description=None, **kw):
    s = {"type": "array", "items": items}
    if description:
        s["description"] = description
    s.update(kw)
    return s


INT32_MAX = 2147483647
# A name: 1-200 characters, no control characters, no leading or trailing whitespace.
NAME_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,198}[^\s\x00-\x1f\x7f-\x9f])?$"
# A provider's name also has no "/" (it separates provider/model).
PROVIDER_NAME_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f/]([^\x00-\x1f\x7f-\x9f/]{0,198}[^\s\x00-\x1f\x7f-\x9f/])?$"
URL_PATTERN = r"^https?://[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?){0,3}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]+){0,6}/?$"
PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
PROXY_PATTERN = r"^$|^(http|socks5h?)://([A-Za-z0-9._~-]+(:[A-Za-z0-9._~*-]*)?@)?[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?:" + PORT + r"/?$"
RFC3339_PATTERN = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])$"
WINDOW_PATTERN = r"^(([1-9][0-9]{0,2}|[1-8][0-9]{3}|9[0-5][0-9]{2}|9600)h|([1-9][0-9]?|[1-3][0-9]{2}|400)d)$"

schemas = {}
responses = {}
headers = {}
parameters = {}

# ---------------------------------------------------------------- errors
schemas["Error"] = obj(
    {
        "error": obj(
            {
                "message": string("Human-readable message; never contains a secret."),
                "type": string(
                    "Error class: `invalid_request_error`, `authentication_error`, `permission_error`, "
                    "`rate_limit_error`, `upstream_error`, `timeout_error`, `service_unavailable`, `internal_error`."),
                "param": string("The request field, query parameter or document path at fault.", type=["string", "null"]),
                "code": string(
                    "Machine-readable code (`model_not_found`, `invalid_api_key`, `missing_api_key`, "
                    "`admin_key_not_configured`, `conflict`, `precondition_failed`, `request_too_large`, "
                    "`database_unavailable`, …).",
                    type=["string", "null"]),
            },
            required=["message", "type", "param", "code"],
        )
    },
    required=["error"],
    description="The error body of the OpenAI-style routes and of `/admin`.",
)
schemas["AnthropicError"] = obj(
    {
        "type": string(enum=["error"]),
        "error": obj(
            {
                "type": string(
                    "`invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`, "
                    "`request_too_large`, `rate_limit_error`, `api_error`, `overloaded_error`, `timeout_error`."),
                "message": string(),
            },
            required=["type", "message"],
        ),
    },
    required=["type", "error"],
    description="The error body of `/v1/messages*` (Anthropic's shape).",
)
schemas["GeminiError"] = obj(
    {
        "error": obj(
            {
                "code": integer("The HTTP status."),
                "message": string(),
                "status": string(
                    "Google's canonical status name (`INVALID_ARGUMENT`, `UNAUTHENTICATED`, `PERMISSION_DENIED`, "
                    "`NOT_FOUND`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL`, …)."),
            },
            required=["code", "message", "status"],
        )
    },
    required=["error"],
    description="The error body of `/v1beta/*` (Gemini's shape).",
)

headers["XRequestId"] = {
    "description": "The request id: a valid incoming `x-request-id` (`[A-Za-z0-9._:-]{1,128}`) echoed, else a new one. On every response.",
    "required": True,
    "schema": string(pattern=r"^[A-Za-z0-9._:-]{1,128}$"),
}
headers["RetryAfter"] = {
    "description": "Whole seconds to wait before retrying (sent when known).",
    "required": False,
    "schema": integer(minimum=0),
}
headers["ETag"] = {
    "description": "The entity's version, a strong tag (`\"1718000000000\"`). Send it back in `If-Match`.",
    "required": True,
    "schema": string(pattern=r'^"-?[0-9]+"$'),
}
headers["Location"] = {
    "description": "The new entity's URL (`/admin/{collection}/{name or id}`, percent-encoded).",
    "required": True,
    "schema": string(),
}
headers["XOrchestratorProvider"] = {
    "description": "The provider that served the request.",
    "required": False,
    "schema": string(),
}
headers["XOrchestratorAttempts"] = {
    "description": "Upstream attempts made (retries and failovers included).",
    "required": False,
    "schema": string(pattern=r"^[0-9]+$"),
}
headers["XOrchestratorOverheadMs"] = {
    "description": "Time the gateway itself spent on the request, in milliseconds.",
    "required": False,
    "schema": string(),
}

for _kind, _what in (("Requests", "requests"), ("Tokens", "tokens")):
    headers[f"RateLimitLimit{_kind}"] = {
        "description": f"The client key's {_what} per minute (only for keys with `{'rpm' if _what == 'requests' else 'tpm'}`).",
        "required": False, "schema": string(pattern=r"^[0-9]+$")}
    headers[f"RateLimitRemaining{_kind}"] = {
        "description": f"The {_what} the key may still use now.", "required": False, "schema": string(pattern=r"^[0-9]+$")}
    headers[f"RateLimitReset{_kind}"] = {
        "description": f"Until the key's {_what} allowance is full again, as OpenAI writes it (`20ms`, `6.5s`, `1m30s`).",
        "required": False, "schema": string()}
RATE_LIMIT_HEADERS = {
    f"x-ratelimit-{part}-{what}": HDR(f"RateLimit{part.capitalize()}{what.capitalize()}")
    for what in ("requests", "tokens") for part in ("limit", "remaining", "reset")
}

RID = {"x-request-id": HDR("XRequestId")}


def err(description, schema="Error", retry_after=False):
    h = dict(RID)
    if retry_after:
        h["Retry-After"] = HDR("RetryAfter")
    return {"description": description, "headers": h, "content": {"application/json": {"schema": REF(schema)}}}


responses["BadRequest"] = err("Malformed JSON, a missing or invalid field (`param` names it), or an invalid query parameter.")
responses["Unauthorized"] = err(
    "No key, an unknown, disabled or expired key; on `/admin` also when no admin key is configured (`admin_key_not_configured`).")
responses["Forbidden"] = err("The key is valid but may not do this (a client key on `/admin`, or a model the key may not use).")
responses["NotFound"] = err("No such entity, model or route.")
responses["Conflict"] = err("A name or secret is already taken, or the provider is still used by a model.")
responses["PreconditionFailed"] = err("`If-Match` names no current version of the entity (it changed since it was read, or the tag is weak or malformed).")
responses["PayloadTooLarge"] = err("The body is larger than `server.max_body_bytes`.")
responses["HeadersTooLarge"] = err(
    "More than 128 header fields, one over 16 KiB, or over 32 KiB in all (`request_header_fields_too_large`); "
    "the connection is closed after the answer.")
responses["UnprocessableEntity"] = err("The upstream refused the request as unprocessable (passed through).")
responses["RateLimited"] = err(
    "Rate limited: the client key's limit (`rate_limit_exceeded` for `rpm`/`tpm`, `tokens_limit_exceeded` for a request "
    "larger than `tpm`, `concurrency_limit_exceeded`), its budget (`insufficient_quota`, type `insufficient_quota`), or "
    "every upstream attempt answered 429 (the smallest `Retry-After` is sent).", retry_after=True)
responses["RateLimited"]["headers"].update(RATE_LIMIT_HEADERS)
responses["InternalError"] = err("An unexpected gateway error.")
responses["BadGateway"] = err("Every attempt failed, or an upstream answered with something unreadable.")
responses["ServiceUnavailable"] = err(
    "No healthy upstream (`no_available_target`), the gateway is serving `server.max_in_flight` requests already "
    "(`overloaded`), or the database is unreachable (`database_unavailable`).", retry_after=True)
responses["DatabaseUnavailable"] = err("The database did not answer (`database_unavailable`).", retry_after=True)
responses["GatewayTimeout"] = err("The request deadline (`routing.timeout_s`) passed or every attempt timed out.")
responses["UpstreamClientError"] = err("Another client error status an upstream answered with, passed through as is.")
responses["AnthropicError"] = err(
    "An error in Anthropic's shape (same statuses as the OpenAI-style routes).", schema="AnthropicError", retry_after=True)
responses["GeminiError"] = err(
    "An error in Gemini's shape (same statuses as the OpenAI-style routes).", schema="GeminiError", retry_after=True)

parameters["XRequestIdHeader"] = {
    "name": "x-request-id",
    "in": "header",
    "required": False,
    "description": "A request id to echo back (`[A-Za-z0-9._:-]{1,128}`); anything else is replaced by a new one.",
    "schema": string(),
}
parameters["IfMatch"] = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The `ETag` as read (strong comparison; `*` matches any version; of a list the highest version counts). "
    "A stale, weak or malformed tag is 412. Without it the write is unconditional.",
    "schema": string(),
}

# ---------------------------------------------------------------- admin documents
READ_ONLY_NOTE = ("Unknown fields are refused (400, `param` names the field); `null` for an optional field means its default. "
                  "Accepted back and ignored: `id`, `source`, `created_at`, `updated_at`, `prefix`, `usage`, `last_used_at`.")


def read_only_props():
    return {
        "id": {"readOnly": True, "description": "Ignored on input."},
        "source": {"readOnly": True, "description": "Ignored on input."},
        "created_at": {"readOnly": True, "description": "Ignored on input."},
        "updated_at": {"readOnly": True, "description": "Ignored on input."},
        "prefix": {"readOnly": True, "description": "Ignored on input."},
        "usage": {"readOnly": True, "description": "Ignored on input."},
        "last_used_at": {"readOnly": True, "description": "Ignored on input."},
    }


provider_types = ["openai", "azure", "anthropic", "gemini", "bedrock", "cohere", "mock"]
key_strategies = ["round_robin", "random", "least_used"]
strategies = ["weighted_random", "round_robin", "least_latency"]

schemas["Price"] = obj(
    {
        "input_per_mtok": number("USD per million prompt tokens.", minimum=0, maximum=1e9),
        "output_per_mtok": number("USD per million completion tokens.", minimum=0, maximum=1e9),
        "cached_input_per_mtok": number("USD per million cached prompt tokens (default: the input price).", minimum=0, maximum=1e9),
    },
    required=["input_per_mtok", "output_per_mtok"],
    additional=False,
    description="Prices in USD per million tokens.",
)
schemas["MockSettings"] = obj(
    {
        "reply": string("The assistant text every completion answers with."),
        "latency_ms": integer("Delay before the response.", minimum=0, maximum=INT32_MAX),
        "failure_rate": number("Probability (0–1) that a call fails with a retryable 503.", minimum=0, maximum=1),
    },
    additional=False,
    description="Canned behaviour of a `mock` provider.",
)

provider_input_props = {
    "name": string("Unique provider name: 1–200 characters, no `/`, no control characters, no surrounding spaces.",
                   minLength=1, maxLength=200, pattern=PROVIDER_NAME_PATTERN),
    "type": string("Provider type.", enum=provider_types),
    "base_url": string("Upstream base URL (`http://` or `https://`). Default per type: openai `https://api.openai.com/v1`, "
                       "anthropic `https://api.anthropic.com`, gemini `https://generativelanguage.googleapis.com/v1beta`, "
                       "cohere `https://api.cohere.com`; required for azure and bedrock; free text for mock."),
    "api_keys": {
        "description": "Upstream keys (secrets). A list of strings replaces the pool; the masked list read back "
        "(`[{\"id\",\"last4\",…}]`) is ignored, and without the field the stored keys stay.",
        "oneOf": [
            array(string(minLength=1)),
            array(obj({"id": string(), "last4": string(), "enabled": boolean(), "state": string()}), minItems=1,
                  description="The masked list as read (ignored)."),
        ],
    },
    "key_strategy": string("How keys of the pool are picked (default `round_robin`).", enum=key_strategies),
    "headers": obj({}, additional=string(), description="Extra upstream headers. Values read back masked (`****abcd`) keep the stored value."),
    "http_proxy": string("Optional upstream proxy: `http://[user:pass@]host:port`, `socks5://host:port` or `socks5h://…`; empty for none. "
                         "A password read back masked (`****`) keeps the stored one.", pattern=PROXY_PATTERN),
    "timeout_s": number("Per-attempt timeout until the response head, seconds (default 120).", minimum=0.001, maximum=1e9),
    "stream_idle_timeout_s": number("Longest silence between stream chunks, seconds (default 120).", minimum=0.001, maximum=1e9),
    "rpm": integer("Upstream requests-per-minute cap (0 = none).", minimum=0, maximum=INT32_MAX),
    "tpm": integer("Upstream tokens-per-minute cap (0 = none).", minimum=0, maximum=INT32_MAX),
    "tls": obj({"ca_file": string("Path of a readable PEM file on the gateway host with extra trusted CAs; empty for none.")},
               additional=False),
    "enabled": boolean("Default true."),
    "api_version": string("Azure `api-version` (required for azure)."),
    "azure_auth": string("Azure only: `api_key` (the `api-key` header, default) or `entra` (bearer token).", enum=["api_key", "entra"]),
    "fetch_image_urls": boolean("Gemini only: fetch http(s) image URLs and send them inline (default false)."),
    "region": string("Bedrock AWS region (required for bedrock)."),
    "access_key_id": string("Bedrock access key id."),
    "secret_access_key": string("Bedrock secret access key (never read back; omitted keeps the stored one)."),
    "session_token": string("Bedrock session token (never read back; omitted keeps the stored one)."),
    "mock": REF("MockSettings"),
}
provider_input_props.update(read_only_props())

provider_rules = [
    {"if": {"properties": {"type": {"const": "azure"}}, "required": ["type"]},
     "then": {"required": ["api_version", "base_url"]},
     "else": {"not": {"required": ["azure_auth"]}}},
    {"if": {"properties": {"type": {"const": "bedrock"}}, "required": ["type"]},
     "then": {"required": ["region", "base_url"]}},
    {"if": {"properties": {"type": {"const": "gemini"}}, "required": ["type"]},
     "else": {"not": {"required": ["fetch_image_urls"]}}},
    {"if": {"properties": {"type": {"const": "mock"}}, "required": ["type"]},
     "else": {"not": {"required": ["mock"]}, "properties": {"base_url": {"pattern": URL_PATTERN}}}},
]

pi = obj(copy.deepcopy(provider_input_props), required=["name", "type"], additional=False,
         description="A provider entry of the config file. " + READ_ONLY_NOTE)
pi["allOf"] = copy.deepcopy(provider_rules)
schemas["ProviderInput"] = pi
schemas["ProviderCreate"] = {
    "allOf": [REF("ProviderInput"), {"properties": {"name": {"not": {"const": "batch"}}}}],
    "description": "A provider entry of the config file; `batch` is reserved as a name here (not in imports or batch upserts).",
}

pr = obj(copy.deepcopy(provider_input_props), required=["type"], additional=False,
         description="A provider entry replacing the stored one. `name` may be omitted; if sent it must equal the path's. "
         + READ_ONLY_NOTE)
pr["allOf"] = copy.deepcopy(provider_rules)
schemas["ProviderReplace"] = pr

schemas["ProviderPatch"] = obj(
    patchify(obj(provider_input_props))["properties"], additional=False,
    description="A JSON merge patch (RFC 7396) of the provider document: `null` removes a field (back to its default). "
    "The merged document must be a valid provider entry with the same name. `api_keys` (strings) replaces the key pool.")

schemas["ProviderKey"] = obj(
    {
        "id": string("The key's id (for `/admin/providers/{name}/keys/{id}`)."),
        "last4": string("The secret's last four characters."),
        "enabled": boolean(),
        "state": string("`active`, or `disabled` (switched off, or refused by the upstream)."),
    },
    required=["id", "last4", "enabled", "state"],
)
schemas["Provider"] = obj(
    {
        "id": string(),
        "name": string(),
        "type": string(enum=provider_types),
        "base_url": string(),
        "key_strategy": string(enum=key_strategies),
        "headers": obj({}, additional=string(), description="Values of secret-looking headers masked (`****abcd`)."),
        "http_proxy": string("Password masked (`****`)."),
        "timeout_s": number(),
        "stream_idle_timeout_s": number(),
        "rpm": integer(),
        "tpm": integer(),
        "tls": obj({"ca_file": string()}, required=["ca_file"]),
        "enabled": boolean(),
        "source": string("`file`: from the config file (upserted at every start); `api`: created or last changed through the admin API.",
                         enum=["file", "api"]),
        "created_at": string(format="date-time"),
        "updated_at": string(format="date-time"),
        "api_keys": array(REF("ProviderKey"), description="The key pool, masked."),
        "api_version": string("Present when set."),
        "azure_auth": string("Azure providers only.", enum=["api_key", "entra"]),
        "fetch_image_urls": boolean("Gemini providers only."),
        "region": string("Present when set."),
        "access_key_id": string("Present when set."),
        "mock": obj({"reply": string(), "latency_ms": integer(), "failure_rate": number()},
                    required=["reply", "latency_ms", "failure_rate"], description="Mock providers only."),
    },
    required=["id", "name", "type", "base_url", "key_strategy", "headers", "http_proxy", "timeout_s",
              "stream_idle_timeout_s", "rpm", "tpm", "tls", "enabled", "source", "created_at", "updated_at", "api_keys"],
    description="A provider as the admin API shows it: config field names plus id, source and times; never a secret.",
)

target_props = {
    "provider": string("A provider's name (must exist).", minLength=1),
    "model": string("The upstream model (Azure: the deployment name).", minLength=1),
    "weight": integer("Relative weight inside its priority tier (default 1).", minimum=0, maximum=INT32_MAX),
    "priority": integer("Tier: lower first (default 0).", minimum=0, maximum=INT32_MAX),
    "capabilities": array(string(enum=["tools", "vision", "json"]),
                          description="What the target can do; omitted = all. A request needing a missing one skips it."),
    "extra_body": obj({}, description="Merged one level deep into the upstream body (the target wins); may not set "
                      "`model`, `messages`, `stream`, `contents` or `input`.",
                      **{"not": {"anyOf": [{"required": [k]} for k in ["model", "messages", "stream", "contents", "input"]]}}),
    "max_tokens_default": integer("`max_tokens` for upstreams that require one.", minimum=1, maximum=INT32_MAX),
    "price": REF("Price"),
}
schemas["TargetInput"] = obj(copy.deepcopy(target_props), required=["provider", "model"], additional=False)
model_input_props = {
    "name": string("The alias clients send: 1–200 characters, no control characters, no surrounding spaces.",
                   minLength=1, maxLength=200, pattern=NAME_PATTERN),
    "strategy": string("Per-model override of `routing.strategy`.", enum=strategies),
    "targets": array(REF("TargetInput"), minItems=1),
    "price": REF("Price"),
}
model_input_props.update(read_only_props())
schemas["ModelInput"] = obj(copy.deepcopy(model_input_props), required=["name", "targets"], additional=False,
                            description="A model entry of the config file. " + READ_ONLY_NOTE)
schemas["ModelReplace"] = obj(copy.deepcopy(model_input_props), required=["targets"], additional=False,
                              description="A model entry replacing the stored one; `name` may be omitted, if sent it must equal the path's. "
                              + READ_ONLY_NOTE)
schemas["ModelPatch"] = obj(
    patchify(obj(model_input_props))["properties"], additional=False,
    description="A JSON merge patch (RFC 7396) of the model document (`targets` is replaced as a whole).")

target_out = copy.deepcopy(target_props)
for k in ("provider", "model"):
    target_out[k] = string()
target_out["price"] = REF("PriceOut")
target_out["extra_body"] = obj({})
target_out["capabilities"] = array(string(enum=["tools", "vision", "json"]))
target_out["weight"] = integer()
target_out["priority"] = integer()
target_out["max_tokens_default"] = integer()
schemas["PriceOut"] = obj(
    {"input_per_mtok": number(), "output_per_mtok": number(), "cached_input_per_mtok": number()},
    required=["input_per_mtok", "output_per_mtok"])
schemas["Target"] = obj(target_out, required=["provider", "model", "weight", "priority"])
schemas["Model"] = obj(
    {
        "id": string(),
        "name": string(),
        "source": string(enum=["file", "api"]),
        "created_at": string(format="date-time"),
        "updated_at": string(format="date-time"),
        "targets": array(REF("Target")),
        "strategy": string("Present when set.", enum=strategies),
        "price": REF("PriceOut"),
    },
    required=["id", "name", "source", "created_at", "updated_at", "targets"],
    description="A model alias as the admin API shows it.",
)

key_input_props = {
    "name": string("Unique key name: 1–200 characters, no control characters, no surrounding spaces.",
                   minLength=1, maxLength=200, pattern=NAME_PATTERN),
    "models": array(string(), description="Model aliases (or `provider/model`) the key may use; `*` = all (default `[\"*\"]`)."),
    "rpm": integer("Requests per minute (0 = unlimited).", minimum=0, maximum=INT32_MAX),
    "tpm": integer("Tokens per minute (0 = unlimited).", minimum=0, maximum=INT32_MAX),
    "max_concurrency": integer("Concurrent requests (0 = unlimited).", minimum=0, maximum=INT32_MAX),
    "budget_usd": number("Spend limit per period in USD (0 = none).", minimum=0, maximum=1e9),
    "budget_tokens": integer("Token limit per period (0 = none).", minimum=0, maximum=1000000000000000),
    "budget_period": string("Budget period, UTC (default `monthly`).", enum=["daily", "monthly", "total"]),
    "expires_at": string("RFC 3339 time, such as `2027-12-31T00:00:00Z` (no fractional seconds); null or absent: never.",
                         type=["string", "null"], format="date-time", pattern=RFC3339_PATTERN),
    "enabled": boolean("Default true."),
    "log_bodies": boolean("Whether request and response bodies are logged (default false)."),
    "metadata": obj({}, additional=string(), description="Free string labels."),
}
key_input_props.update(read_only_props())
kc = copy.deepcopy(key_input_props)
kc["key"] = string("The secret, at least 16 characters; omitted: one is generated (`sk-orch-…`, 48 characters).", minLength=16)
schemas["KeyCreate"] = obj(kc, required=["name"], additional=False, description="A client key entry of the config file. " + READ_ONLY_NOTE)
schemas["KeyReplace"] = obj(copy.deepcopy(key_input_props), additional=False,
                            description="A key's new settings. `name` may be omitted; if sent it must equal the stored name. "
                            "A key's secret cannot change: `key` is refused (400). " + READ_ONLY_NOTE)
kp = patchify(obj(key_input_props))["properties"]
kp["key"] = {"type": "null", "description": "Only `null` is accepted (a key's secret cannot change)."}
schemas["KeyPatch"] = obj(kp, additional=False, description="A JSON merge patch (RFC 7396) of the key document.")
schemas["Key"] = obj(
    {
        "id": string(),
        "name": string(),
        "prefix": string("The secret's first characters, to recognise it."),
        "models": array(string()),
        "rpm": integer(),
        "tpm": integer(),
        "max_concurrency": integer(),
        "budget_usd": number(),
        "budget_tokens": integer(),
        "budget_period": string(enum=["daily", "monthly", "total"]),
        "expires_at": string(format="date-time", type=["string", "null"]),
        "enabled": boolean(),
        "log_bodies": boolean(),
        "metadata": obj({}, additional=string()),
        "source": string(enum=["file", "api"]),
        "created_at": string(format="date-time"),
        "updated_at": string(format="date-time"),
        "usage": obj({"tokens": integer(), "cost_usd": number()}, required=["tokens", "cost_usd"],
                     description="Use in the current budget period."),
        "last_used_at": string(format="date-time", type=["string", "null"]),
    },
    required=["id", "name", "prefix", "models", "rpm", "tpm", "max_concurrency", "budget_usd", "budget_tokens",
              "budget_period", "expires_at", "enabled", "log_bodies", "metadata", "source", "created_at", "updated_at",
              "usage", "last_used_at"],
    description="A client key as the admin API shows it (never its secret).",
)
schemas["KeyCreated"] = {
    "allOf": [REF("Key"), obj({"key": string("The secret, shown this once (stored only as a hash).")}, required=["key"])],
    "description": "The new key, with its secret once.",
}


def page(item):
    return obj(
        {"data": array(REF(item)),
         "next_cursor": string("Pass as `cursor` for the next page; null on the last page.", type=["string", "null"])},
        required=["data", "next_cursor"])


schemas["ProviderPage"] = page("Provider")
schemas["ModelPage"] = page("Model")
schemas["KeyPage"] = page("Key")

schemas["BatchOperation"] = {
    "oneOf": [
        obj({"op": string(enum=["upsert"]), "provider": REF("ProviderInput")}, required=["op", "provider"],
            description="Create the provider, or replace the one of that name."),
        obj({"op": string(enum=["enable", "disable", "delete"]), "name": string("An existing provider (or one upserted earlier in the batch, for enable/disable).", minLength=1)},
            required=["op", "name"]),
    ]
}
schemas["BatchRequest"] = obj({"operations": array(REF("BatchOperation"), minItems=1)}, required=["operations"],
                              description="Applied all or nothing.")
schemas["BatchResult"] = obj(
    {"results": array(obj({"op": string(enum=["upsert", "enable", "disable", "delete"]), "name": string()},
                          required=["op", "name"]))},
    required=["results"])

schemas["ProviderCheck"] = obj(
    {
        "provider": string(),
        "ok": boolean("Whether at least one key (or the keyless provider) answered."),
        "latency_ms": number("Latency of the first success.", type=["number", "null"]),
        "checked_at": string(format="date-time"),
        "keys": array(obj(
            {"id": string(type=["string", "null"]), "last4": string(type=["string", "null"]), "ok": boolean(),
             "latency_ms": number(type=["number", "null"]), "error": string(type=["string", "null"])},
            required=["id", "last4", "ok", "latency_ms", "error"])),
    },
    required=["provider", "ok", "latency_ms", "checked_at", "keys"],
    description="One probe per key, now; an upstream refusing a key (401/403) disables it.",
)
schemas["ProviderKeyAdd"] = obj({"key": string("The upstream secret.", minLength=1)}, required=["key"])
schemas["ProviderKeyUpdate"] = obj({"enabled": boolean("Enabling also clears a refusal.")}, required=["enabled"])

# Health
schemas["HealthReport"] = obj(
    {
        "status": string("`degraded` when a circuit is not closed or a key is not active.", enum=["ok", "degraded"]),
        "providers": array(obj(
            {
                "name": string(),
                "type": string(),
                "enabled": boolean(),
                "routable": boolean("Whether this build routes to it."),
                "last_check_at": string(format="date-time", description="Absent before the first active check."),
                "last_check_error": string("Absent when the last check passed."),
                "targets": array(obj(
                    {
                        "provider": string(),
                        "model": string("Upstream model."),
                        "state": string("Circuit state.", enum=["closed", "open", "half_open"]),
                        "consecutive_failures": integer(),
                        "success_rate": number(minimum=0, maximum=1, description="Absent without samples."),
                        "latency_p50_ms": number(description="Absent without samples."),
                        "latency_p95_ms": number(description="Absent without samples."),
                        "samples": integer(),
                        "last_error": string(),
                        "last_check_at": string(format="date-time"),
                    },
                    required=["provider", "model", "state", "consecutive_failures", "samples"])),
                "keys": array(obj(
                    {
                        "provider": string(),
                        "id": string(),
                        "last4": string(),
                        "state": string(enum=["active", "cooling", "disabled"]),
                        "cooling_for_ms": integer(description="Present while cooling."),
                        "last_error": string(),
                    },
                    required=["provider", "id", "last4", "state"])),
            },
            required=["name", "type", "enabled", "routable", "targets", "keys"])),
    },
    required=["status", "providers"],
)

# Logs
log_summary_props = {
    "id": string(),
    "request_id": string(),
    "time": string(format="date-time"),
    "key_id": string(),
    "key_name": string(),
    "api_style": string("Inbound API style (`openai`, `anthropic`, `gemini`)."),
    "model": string("The model as requested."),
    "provider": string(type=["string", "null"]),
    "upstream_model": string(type=["string", "null"]),
    "stream": boolean(),
    "status": integer(),
    "attempts": integer(),
    "latency_ms": integer(),
    "ttft_ms": integer("Time to first token (streams).", type=["integer", "null"]),
    "prompt_tokens": integer(),
    "completion_tokens": integer(),
    "cached_tokens": integer(),
    "tokens_estimated": boolean("Counts estimated (a stream cut short, or no upstream usage)."),
    "cost_usd": number(),
    "error": string(type=["string", "null"]),
    "upstream_request_id": string(type=["string", "null"]),
}
log_required = list(log_summary_props.keys())
schemas["LogSummary"] = obj(copy.deepcopy(log_summary_props), required=log_required, description="One request-log row.")
detail_props = copy.deepcopy(log_summary_props)
detail_props["attempts_detail"] = array(obj(
    {"provider": string(), "model": string(), "key_id": string(type=["string", "null"]), "status": integer(),
     "error": string(type=["string", "null"]), "latency_ms": integer()},
    required=["provider", "model", "key_id", "status", "error", "latency_ms"]))
detail_props["request_body"] = string("Only when the key logs bodies (cut to the configured size).", type=["string", "null"])
detail_props["response_body"] = string("Only when the key logs bodies.", type=["string", "null"])
schemas["LogDetail"] = obj(detail_props, required=log_required + ["attempts_detail", "request_body", "response_body"],
                           description="One request log with its attempts.")
schemas["LogPage"] = page("LogSummary")

# Audit
schemas["AuditEntry"] = obj(
    {
        "id": string(),
        "time": string(format="date-time"),
        "actor": string("`admin:` and the start of the admin key's hash."),
        "action": string("`create`, `replace`, `patch`, `delete`, `add_key`, `enable_key`, `disable_key`, `remove_key`, `batch`, `import`."),
        "resource": string(enum=["providers", "models", "keys"]),
        "entity": string("The entity's name."),
        "before": {"type": ["object", "null"], "description": "The document before (null on creation)."},
        "after": {"type": ["object", "null"], "description": "The document after (null on deletion)."},
    },
    required=["id", "time", "actor", "action", "resource", "entity", "before", "after"],
)
schemas["AuditPage"] = page("AuditEntry")

# Config transfer
schemas["KeyImport"] = copy.deepcopy(schemas["KeyCreate"])
schemas["KeyImport"]["description"] = (
    "A key entry. A new key gets a generated secret unless `key` is given; an existing key (same name) is updated "
    "and may not carry `key`. " + READ_ONLY_NOTE)
schemas["ConfigImport"] = obj(
    {
        "providers": array(REF("ProviderInput")),
        "models": array(REF("ModelInput")),
        "keys": array(REF("KeyImport")),
    },
    additional=False,
    description="The providers, models and keys sections of the config file. Merged by name (create or update; "
    "nothing is deleted); omitted upstream keys and masked values keep the stored ones. All or nothing.",
)
schemas["ConfigExport"] = obj(
    {
        "providers": array(obj({"name": string(), "type": string()}, required=["name", "type"])),
        "models": array(obj({"name": string(), "targets": array(obj({}))}, required=["name", "targets"])),
        "keys": array(obj({"name": string()}, required=["name"])),
    },
    required=["providers", "models", "keys"],
    description="The entries as the config file holds them (no ids, times or key pools), secrets left out or masked.",
)
schemas["ImportResult"] = obj(
    {
        "dry_run": boolean(),
        "changes": array(obj(
            {"resource": string(enum=["providers", "models", "keys"]), "name": string(),
             "action": string(enum=["create", "update", "unchanged"])},
            required=["resource", "name", "action"])),
        "created_keys": array(obj({"name": string(), "key": string("The new key's secret, shown once.")}, required=["name", "key"]),
                              description="Present when changes were applied."),
    },
    required=["dry_run", "changes"],
)

# Stats
NUMN = {"type": ["number", "null"]}
schemas["StatsRow"] = obj(
    {
        "requests": integer(),
        "errors": integer(),
        "errors_by_class": obj(
            {k: integer() for k in ["client", "rate_limited", "upstream", "timeout", "cancelled"]},
            required=["client", "rate_limited", "upstream", "timeout", "cancelled"]),
        "success_rate": number("Null without requests.", type=["number", "null"]),
        "tokens": obj({k: integer() for k in ["prompt", "completion", "cached", "total"]},
                      required=["prompt", "completion", "cached", "total"]),
        "cost_micros": integer("Cost in micro-dollars."),
        "cost_usd": number(),
        "latency_ms": obj({k: dict(NUMN) for k in ["avg", "p50", "p95", "p99"]}, required=["avg", "p50", "p95", "p99"]),
        "ttft_ms": obj(dict({"count": integer()}, **{k: dict(NUMN) for k in ["avg", "p50", "p95", "p99"]}),
                       required=["count", "avg", "p50", "p95", "p99"]),
    },
    required=["requests", "errors", "errors_by_class", "success_rate", "tokens", "cost_micros", "cost_usd", "latency_ms", "ttft_ms"],
    description="Counters over a set of requests.",
)
schemas["StatsGroupRow"] = {
    "allOf": [
        REF("StatsRow"),
        obj({"provider": string(), "model": string(), "key": string("Key id."), "key_name": string("With `group_by=key`.")}),
        {"oneOf": [{"required": ["provider"]}, {"required": ["model"]}, {"required": ["key"]}]},
    ],
    "description": "A row per group: the counters plus the group's `provider`, `model` or `key` (and `key_name`).",
}
schemas["Stats"] = obj(
    {
        "window": string(),
        "since": string(format="date-time"),
        "until": string(format="date-time"),
        "group_by": string(enum=["provider", "model", "key"]),
        "data": array(REF("StatsGroupRow")),
        "totals": REF("StatsRow"),
    },
    required=["window", "since", "until", "group_by", "data", "totals"],
)
schemas["StatsTimeline"] = obj(
    {
        "window": string(),
        "bucket": string(),
        "since": string(format="date-time"),
        "until": string(format="date-time"),
        "data": array({"allOf": [REF("StatsRow"), obj({"start": string(format="date-time"), "start_ms": integer()},
                                                       required=["start", "start_ms"])]}),
    },
    required=["window", "bucket", "since", "until", "data"],
)

# ---------------------------------------------------------------- public API shapes
schemas["ChatContentPart"] = {
    "oneOf": [
        obj({"type": string(enum=["text"]), "text": string()}, required=["type", "text"], additional=True),
        obj({"type": string(enum=["image_url"]),
             "image_url": {"oneOf": [string("URL or data: URL."),
                                     obj({"url": string("http(s) URL or `data:` URL."), "detail": string(enum=["auto", "low", "high"])},
                                         required=["url"], additional=True)]}},
            required=["type", "image_url"], additional=True),
        obj({"type": string("Another part type (`input_audio`, `file`, …), passed on to OpenAI-style upstreams.",
                            **{"not": {"enum": ["text", "image_url"]}})}, required=["type"], additional=True),
    ]
}
schemas["ToolCall"] = obj(
    {"id": string(), "type": string(enum=["function"]),
     "function": obj({"name": string(), "arguments": string("JSON text.")}, required=["name", "arguments"], additional=True)},
    required=["id", "function"], additional=True)
schemas["ChatMessage"] = obj(
    {
        "role": string(enum=["system", "developer", "user", "assistant", "tool", "function"]),
        "content": {"description": "Text or content parts; required except for assistant messages.",
                    "oneOf": [string(), array(REF("ChatContentPart")), {"type": "null"}]},
        "name": string(),
        "tool_calls": array(REF("ToolCall")),
        "tool_call_id": string("Required for role `tool`."),
        "refusal": string(type=["string", "null"]),
        "reasoning_content": string(),
    },
    required=["role"], additional=True,
)
schemas["FunctionTool"] = obj(
    {"type": string(enum=["function"]),
     "function": obj({"name": string(), "description": string(), "parameters": obj({}, description="JSON Schema of the arguments.", additional=True),
                      "strict": boolean()}, required=["name"], additional=True)},
    required=["type", "function"], additional=True)
schemas["ChatCompletionRequest"] = obj(
    {
        "model": string("A model alias, or `provider/upstream-model`.", minLength=1),
        "messages": array(REF("ChatMessage"), minItems=1),
        "stream": boolean("Answer as server-sent events."),
        "stream_options": obj({"include_usage": boolean()}, additional=True, description="Only with `stream: true`."),
        "temperature": number(minimum=0, maximum=2),
        "top_p": number(minimum=0, maximum=1),
        "max_tokens": integer(minimum=1),
        "max_completion_tokens": integer(minimum=1),
        "n": integer(minimum=1, maximum=128),
        "stop": {"oneOf": [string(), array(string(), maxItems=4)]},
        "seed": integer(),
        "user": string(),
        "tools": array(REF("FunctionTool")),
        "tool_choice": {"oneOf": [string(enum=["none", "auto", "required"]),
                                  obj({"type": string(enum=["function"]), "function": obj({"name": string()}, required=["name"])},
                                      required=["type", "function"], additional=True)]},
        "parallel_tool_calls": boolean(),
        "response_format": obj({"type": string(enum=["text", "json_object", "json_schema"]),
                                "json_schema": obj({"name": string(), "description": string(), "schema": obj({}, additional=True),
                                                    "strict": boolean()}, required=["name"], additional=True)},
                               required=["type"], additional=True),
        "logprobs": boolean(),
        "top_logprobs": integer(minimum=0, maximum=20),
        "presence_penalty": number(minimum=-2, maximum=2),
        "frequency_penalty": number(minimum=-2, maximum=2),
        "logit_bias": obj({}, additional=True),
        "reasoning_effort": string(),
        "metadata": obj({}, additional=True),
    },
    required=["model", "messages"], additional=True,
    description="OpenAI's chat completions request. Other fields are kept and passed on to OpenAI-style upstreams.",
)
usage_schema = obj(
    {"prompt_tokens": integer(), "completion_tokens": integer(), "total_tokens": integer(),
     "prompt_tokens_details": obj({"cached_tokens": integer()}, additional=True),
     "completion_tokens_details": obj({"reasoning_tokens": integer()}, additional=True)},
    required=["prompt_tokens", "completion_tokens", "total_tokens"], additional=True)
schemas["Usage"] = usage_schema
schemas["ChatCompletion"] = obj(
    {
        "id": string(),
        "object": string(enum=["chat.completion"]),
        "created": integer(),
        "model": string(),
        "choices": array(obj(
            {"index": integer(),
             "message": obj({"role": string(), "content": string(type=["string", "null"]), "tool_calls": array(REF("ToolCall")),
                             "refusal": string(type=["string", "null"]), "reasoning_content": string()},
                            required=["role"], additional=True),
             "finish_reason": string(type=["string", "null"]),
             "logprobs": {"type": ["object", "null"]}},
            required=["index", "message"], additional=True)),
        "usage": REF("Usage"),
        "system_fingerprint": string(type=["string", "null"]),
    },
    required=["id", "object", "created", "model", "choices"], additional=True,
)
schemas["ChatCompletionChunk"] = obj(
    {
        "id": string(), "object": string(enum=["chat.completion.chunk"]), "created": integer(), "model": string(),
        "choices": array(obj({"index": integer(),
                              "delta": obj({"role": string(), "content": string(type=["string", "null"]), "tool_calls": array(obj({}, additional=True)),
                                            "reasoning_content": string()}, additional=True),
                              "finish_reason": string(type=["string", "null"])}, required=["index", "delta"], additional=True)),
        "usage": nullable(REF("Usage")),
    },
    required=["id", "object", "created", "model", "choices"], additional=True,
    description="One `data:` event of a chat completion stream.",
)
SSE_CHAT = string("Server-sent events: `data: {chat.completion.chunk}` events (see the `ChatCompletionChunk` schema), then `data: [DONE]`. "
                  "A failure after the first byte ends the stream with `data: {\"error\":{…}}`.")

schemas["EmbeddingRequest"] = obj(
    {
        "model": string(minLength=1),
        "input": {"description": "Text, texts (at most 2048, none empty), tokens or token batches.",
                  "oneOf": [string(minLength=1), array(string(minLength=1), minItems=1, maxItems=2048),
                            array(integer(), minItems=1), array(array(integer(), minItems=1), minItems=1, maxItems=2048)]},
        "encoding_format": string(enum=["float", "base64"]),
        "dimensions": integer(minimum=1),
        "user": string(),
    },
    required=["model", "input"], additional=True,
)
schemas["EmbeddingList"] = obj(
    {
        "object": string(enum=["list"]),
        "data": array(obj({"object": string(enum=["embedding"]), "index": integer(),
                           "embedding": {"oneOf": [array(number()), string("Base64 of little-endian float32s.")]}},
                          required=["index", "embedding"], additional=True)),
        "model": string(),
        "usage": obj({"prompt_tokens": integer(), "total_tokens": integer()}, additional=True),
    },
    required=["object", "data", "model"], additional=True,
)
schemas["ResponsesRequest"] = obj(
    {
        "model": string(minLength=1),
        "input": {"description": "Text or input items.", "oneOf": [string(), array(obj({}, additional=True))]},
        "instructions": string(),
        "stream": boolean(),
        "tools": array(obj({"type": string()}, required=["type"], additional=True)),
        "previous_response_id": string(),
        "max_output_tokens": integer(minimum=1),
        "temperature": number(),
        "top_p": number(),
        "text": obj({}, additional=True),
        "reasoning": obj({}, additional=True),
        "store": boolean(),
        "metadata": obj({}, additional=True),
    },
    required=["model"], additional=True,
    description="OpenAI's Responses API request; forwarded to openai/azure targets with only `model` rewritten.",
)
schemas["Response"] = obj(
    {"id": string(), "object": string(enum=["response"]), "created_at": integer(), "status": string(), "model": string(),
     "output": array(obj({}, additional=True)), "usage": obj({}, additional=True)},
    required=["id", "object"], additional=True, description="The upstream's Responses API object, unchanged.")

anthropic_block = {
    "oneOf": [
        obj({"type": string(enum=["text"]), "text": string(), "cache_control": obj({}, additional=True)}, required=["type", "text"], additional=True),
        obj({"type": string(enum=["image"]),
             "source": obj({"type": string(enum=["base64", "url"]), "media_type": string(), "data": string(), "url": string()},
                           required=["type"], additional=True)}, required=["type", "source"], additional=True),
        obj({"type": string(enum=["tool_use"]), "id": string(), "name": string(), "input": obj({}, additional=True)},
            required=["type", "id", "name", "input"], additional=True),
        obj({"type": string(enum=["tool_result"]), "tool_use_id": string(),
             "content": {"oneOf": [string(), array(obj({"type": string()}, required=["type"], additional=True))]},
             "is_error": boolean()}, required=["type", "tool_use_id"], additional=True),
        obj({"type": string("`thinking`, `redacted_thinking`, `document`, …",
                            **{"not": {"enum": ["text", "image", "tool_use", "tool_result"]}})}, required=["type"], additional=True),
    ]
}
schemas["AnthropicContentBlock"] = anthropic_block
anthropic_req_props = {
    "model": string("A model alias, or `provider/upstream-model`.", minLength=1),
    "max_tokens": integer(minimum=1),
    "system": {"oneOf": [string(), array(REF("AnthropicContentBlock"))]},
    "messages": array(obj({"role": string(enum=["user", "assistant"]),
                           "content": {"oneOf": [string(), array(REF("AnthropicContentBlock"))]}},
                          required=["role", "content"], additional=True), minItems=1),
    "stop_sequences": array(string()),
    "stream": boolean(),
    "temperature": number(minimum=0, maximum=1),
    "top_p": number(minimum=0, maximum=1),
    "top_k": integer(minimum=0),
    "tools": array(obj({"name": string(), "description": string(), "input_schema": obj({}, additional=True)},
                       required=["name"], additional=True)),
    "tool_choice": obj({"type": string(enum=["auto", "any", "tool", "none"]), "name": string(),
                        "disable_parallel_tool_use": boolean()}, required=["type"], additional=True),
    "metadata": obj({"user_id": string()}, additional=True),
    "thinking": obj({"type": string(enum=["enabled", "disabled"]), "budget_tokens": integer(minimum=1)}, additional=True),
}
schemas["MessagesRequest"] = obj(copy.deepcopy(anthropic_req_props), required=["model", "max_tokens", "messages"], additional=True,
                                 description="Anthropic's Messages API request, routed to any provider.")
schemas["CountTokensRequest"] = obj(copy.deepcopy(anthropic_req_props), required=["model", "messages"], additional=True,
                                    description="A Messages request; `max_tokens` is optional.")
schemas["Message"] = obj(
    {
        "id": string(), "type": string(enum=["message"]), "role": string(enum=["assistant"]),
        "content": array(REF("AnthropicContentBlock")), "model": string(),
        "stop_reason": string(type=["string", "null"]), "stop_sequence": string(type=["string", "null"]),
        "usage": obj({"input_tokens": integer(), "output_tokens": integer(), "cache_read_input_tokens": integer(),
                      "cache_creation_input_tokens": integer()}, required=["input_tokens", "output_tokens"], additional=True),
    },
    required=["id", "type", "role", "content", "model", "usage"], additional=True,
)
SSE_ANTHROPIC = string("Anthropic's event stream: `message_start`, `content_block_start`/`content_block_delta`/`content_block_stop`, "
                       "`message_delta`, `message_stop` (and `ping`); a failure after the first byte ends it with `event: error`.")

gemini_part = obj(
    {
        "text": string(), "thought": boolean(),
        "inlineData": obj({"mimeType": string(), "data": string("Base64.")}, required=["mimeType", "data"], additional=True),
        "fileData": obj({"mimeType": string(), "fileUri": string()}, required=["fileUri"], additional=True),
        "functionCall": obj({"id": string(), "name": string(), "args": obj({}, additional=True)}, required=["name"], additional=True),
        "functionResponse": obj({"id": string(), "name": string(), "response": obj({}, additional=True)}, required=["name"], additional=True),
    },
    additional=True, description="One part; snake_case spellings (`inline_data`, …) are accepted too.")
schemas["GeminiPart"] = gemini_part
schemas["GeminiContent"] = obj({"role": string(enum=["user", "model", "function"]), "parts": array(REF("GeminiPart"), minItems=1)},
                               required=["parts"], additional=True)
schemas["GenerateContentRequest"] = obj(
    {
        "contents": array(REF("GeminiContent"), minItems=1),
        "systemInstruction": REF("GeminiContent"),
        "tools": array(obj({"functionDeclarations": array(obj({"name": string(), "description": string(),
                                                                "parameters": obj({}, additional=True)}, required=["name"], additional=True))},
                           additional=True)),
        "toolConfig": obj({"functionCallingConfig": obj({"mode": string(enum=["AUTO", "ANY", "NONE", "VALIDATED"]),
                                                         "allowedFunctionNames": array(string())}, additional=True)}, additional=True),
        "generationConfig": obj({
            "temperature": number(minimum=0, maximum=2), "topP": number(minimum=0, maximum=1), "topK": integer(minimum=0),
            "maxOutputTokens": integer(minimum=1), "candidateCount": integer(minimum=1, maximum=8),
            "stopSequences": array(string()), "responseMimeType": string(), "responseSchema": obj({}, additional=True),
            "thinkingConfig": obj({}, additional=True)}, additional=True),
        "safetySettings": array(obj({}, additional=True)),
        "cachedContent": string(),
    },
    required=["contents"], additional=True,
    description="Gemini's generateContent request (camelCase or snake_case field names), routed to any provider.",
)
schemas["GenerateContentResponse"] = obj(
    {
        "candidates": array(obj({"content": REF("GeminiContent"), "finishReason": string(), "index": integer()}, additional=True)),
        "usageMetadata": obj({"promptTokenCount": integer(), "candidatesTokenCount": integer(), "totalTokenCount": integer(),
                              "cachedContentTokenCount": integer(), "thoughtsTokenCount": integer()}, additional=True),
        "modelVersion": string(),
        "responseId": string(),
    },
    additional=True,
)
schemas["ModelInfo"] = obj({"id": string(), "object": string(enum=["model"]), "created": integer(), "owned_by": string()},
                           required=["id", "object", "created", "owned_by"])
schemas["ModelList"] = obj({"object": string(enum=["list"]), "data": array(REF("ModelInfo"))}, required=["object", "data"])

# ---------------------------------------------------------------- operations
ADMIN_SEC = [{"bearer": []}, {"apiKeyHeader": []}, {"googApiKey": []}]
CLIENT_SEC = [{"bearer": []}, {"apiKeyHeader": []}, {"googApiKey": []}, {"apiKeyQuery": []}]


def ok(description, schema=None, media="application/json", extra_headers=None, content=None):
    h = dict(RID)
    if extra_headers:
        h.update(extra_headers)
    r = {"description": description, "headers": h}
    if content is not None:
        r["content"] = content
    elif schema is not None:
        r["content"] = {media: {"schema": schema}}
    return r


def no_content(description):
    return {"description": description, "headers": dict(RID)}


def op(op_id, tag, summary, description, responses_, params=(), body=None, security=ADMIN_SEC):
    o = {"tags": [tag], "operationId": op_id, "summary": summary}
    if description:
        o["description"] = description
    ps = list(params) + [PARAM("XRequestIdHeader")]
    o["parameters"] = ps
    if body is not None:
        o["requestBody"] = body
    o["security"] = security
    o["responses"] = responses_
    return o


def admin_errors(*codes):
    m = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
         412: "PreconditionFailed", 413: "PayloadTooLarge", 500: "InternalError", 503: "DatabaseUnavailable"}
    return {str(c): RESP(m[c]) for c in codes}


def json_body(schema, description=None, patch=False, required=True):
    content = {}
    if patch:
        content["application/merge-patch+json"] = {"schema": schema}
    content["application/json"] = {"schema": schema}
    b = {"required": required, "content": content}
    if description:
        b["description"] = description
    return b


def path_param(name, description, schema=None):
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or string(minLength=1, **{"not": {"enum": [".", ".."]}})}


def query(name, description, schema, required=False):
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


ETAG = {"ETag": HDR("ETag")}
LOC = {"Location": HDR("Location")}
LIST_PARAMS = [
    query("limit", "Page size, 1–200 (default 50; anything else is a 400).",
          integer(minimum=1, maximum=200, default=50)),
    query("cursor", "`next_cursor` of the previous page.", string()),
]

paths = {}

# --- public API
V1_ERRORS = {"400": RESP("BadRequest"), "401": RESP("Unauthorized"), "403": RESP("Forbidden"), "404": RESP("NotFound"),
             "413": RESP("PayloadTooLarge"), "422": RESP("UnprocessableEntity"), "429": RESP("RateLimited"),
             "431": RESP("HeadersTooLarge"), "4XX": RESP("UpstreamClientError"), "500": RESP("InternalError"), "502": RESP("BadGateway"),
             "503": RESP("ServiceUnavailable"), "504": RESP("GatewayTimeout")}


def style_errors(component):
    errors = {c: RESP(component) for c in ["400", "401", "403", "404", "413", "422", "429", "4XX", "500", "502", "503", "504"]}
    # Refused before the path is known, so in OpenAI's shape whatever the route.
    errors["431"] = RESP("HeadersTooLarge")
    return errors


ROUTE_HEADERS = {"x-orchestrator-provider": HDR("XOrchestratorProvider"), "x-orchestrator-attempts": HDR("XOrchestratorAttempts"),
                 "x-orchestrator-overhead-ms": HDR("XOrchestratorOverheadMs"), **RATE_LIMIT_HEADERS}
ROUTING_NOTE = ("The model is an alias from `models` (an exact alias wins) or `provider/upstream-model`. Candidates are tried by "
                "priority tier and weight, with retries and failover on retryable failures before the first byte. "
                "With no client key configured and the gateway bound to loopback, any caller is admitted as `anonymous`.")

paths["/v1/chat/completions"] = {"post": op(
    "createChatCompletion", "chat", "Create a chat completion",
    "OpenAI chat completions, stream and non-stream, routed to any provider. " + ROUTING_NOTE,
    dict({"200": ok("The completion (JSON), or with `stream: true` a server-sent event stream.", extra_headers=ROUTE_HEADERS,
                    content={"application/json": {"schema": REF("ChatCompletion")}, "text/event-stream": {"schema": SSE_CHAT}})},
         **V1_ERRORS),
    body=json_body(REF("ChatCompletionRequest")), security=CLIENT_SEC)}
paths["/v1/embeddings"] = {"post": op(
    "createEmbedding", "chat", "Create embeddings", "OpenAI embeddings, routed like chat. " + ROUTING_NOTE,
    dict({"200": ok("The embeddings.", REF("EmbeddingList"), extra_headers=ROUTE_HEADERS)}, **V1_ERRORS),
    body=json_body(REF("EmbeddingRequest")), security=CLIENT_SEC)}
paths["/v1/responses"] = {"post": op(
    "createResponse", "chat", "Create a model response (Responses API)",
    "OpenAI's Responses API, passed through to providers of type openai or azure (only `model` is rewritten); "
    "the upstream's body or events come back unchanged. " + ROUTING_NOTE,
    dict({"200": ok("The response object, or with `stream: true` the upstream's event stream.", extra_headers=ROUTE_HEADERS,
                    content={"application/json": {"schema": REF("Response")},
                             "text/event-stream": {"schema": string("The upstream's Responses API events; a failure after the first byte ends it with `event: error`.")}})},
         **V1_ERRORS),
    body=json_body(REF("ResponsesRequest")), security=CLIENT_SEC)}
ANTHROPIC_HEADERS = [
    {"name": "anthropic-version", "in": "header", "required": False, "description": "Forwarded to Anthropic upstreams.", "schema": string()},
    {"name": "anthropic-beta", "in": "header", "required": False, "description": "Forwarded to Anthropic upstreams.", "schema": string()},
]
paths["/v1/messages"] = {"post": op(
    "createMessage", "chat", "Create a message (Anthropic Messages API)",
    "Anthropic Messages API inbound, stream too, routed to any provider; errors in Anthropic's shape. " + ROUTING_NOTE,
    dict({"200": ok("The message, or with `stream: true` an Anthropic event stream.", extra_headers=ROUTE_HEADERS,
                    content={"application/json": {"schema": REF("Message")}, "text/event-stream": {"schema": SSE_ANTHROPIC}})},
         **style_errors("AnthropicError")),
    params=ANTHROPIC_HEADERS, body=json_body(REF("MessagesRequest")), security=CLIENT_SEC)}
paths["/v1/messages/count_tokens"] = {"post": op(
    "countMessageTokens", "chat", "Count a message's input tokens",
    "Counted by the first available target's provider when it can (Anthropic), else estimated. Errors in Anthropic's shape.",
    dict({"200": ok("The count.", obj({"input_tokens": integer(minimum=0)}, required=["input_tokens"]))},
         **style_errors("AnthropicError")),
    params=ANTHROPIC_HEADERS, body=json_body(REF("CountTokensRequest")), security=CLIENT_SEC)}
GEMINI_MODEL = path_param("model", "A model alias, or `provider/upstream-model` (the `/` may be sent as is or as `%2F`).")
paths["/v1beta/models/{model}:generateContent"] = {"post": op(
    "generateContent", "chat", "Generate content (Gemini API)",
    "Gemini's native API inbound, routed to any provider; the model comes from the path. The key may also be sent as "
    "`x-goog-api-key` or `?key=`. Errors in Gemini's shape. " + ROUTING_NOTE,
    dict({"200": ok("The response.", REF("GenerateContentResponse"), extra_headers=ROUTE_HEADERS)}, **style_errors("GeminiError")),
    params=[GEMINI_MODEL], body=json_body(REF("GenerateContentRequest")), security=CLIENT_SEC)}
paths["/v1beta/models/{model}:streamGenerateContent"] = {"post": op(
    "streamGenerateContent", "chat", "Stream generated content (Gemini API)",
    "As `generateContent`, streamed: with `alt=sse` as server-sent events (`data: {GenerateContentResponse}`), otherwise "
    "as one JSON array of responses written piece by piece. Errors in Gemini's shape.",
    dict({"200": ok("The stream.", extra_headers=ROUTE_HEADERS,
                    content={"text/event-stream": {"schema": string("With `alt=sse`: `data: {GenerateContentResponse}` events.")},
                             "application/json": {"schema": array(REF("GenerateContentResponse"))}})},
         **style_errors("GeminiError")),
    params=[GEMINI_MODEL, query("alt", "`sse` for server-sent events; otherwise a streamed JSON array.", string(enum=["sse", "json"]))],
    body=json_body(REF("GenerateContentRequest")), security=CLIENT_SEC)}

paths["/v1/models"] = {"get": op(
    "listModels", "models", "List models", "The model aliases this key may use.",
    {"200": ok("The models.", REF("ModelList")), "401": RESP("Unauthorized")}, security=CLIENT_SEC)}
paths["/v1/models/{id}"] = {"get": op(
    "getModel", "models", "Get a model", "One alias this key may use.",
    {"200": ok("The model.", REF("ModelInfo")), "401": RESP("Unauthorized"), "404": RESP("NotFound")},
    params=[path_param("id", "The model alias.")], security=CLIENT_SEC)}

# --- ops and docs
paths["/healthz"] = {"get": op(
    "getHealthz", "ops", "Liveness", "Always 200 while the process serves.",
    {"200": ok("Alive.", obj({"status": string(enum=["ok"])}, required=["status"]))}, security=[])}
paths["/readyz"] = {"get": op(
    "getReadyz", "ops", "Readiness", "200 when the database is reachable.",
    {"200": ok("Ready.", obj({"status": string(enum=["ready"])}, required=["status"])),
     "503": err("The database is not reachable (`not_ready`).")}, security=[])}
paths["/metrics"] = {"get": op(
    "getMetrics", "ops", "Prometheus metrics", "Prometheus text exposition format (`text/plain; version=0.0.4`). Labels hold no secret.",
    {"200": ok("The metrics.", string(), media="text/plain")}, security=[])}
paths["/openapi.json"] = {"get": op(
    "getOpenAPIDocument", "docs", "This OpenAPI document", None,
    {"200": ok("The OpenAPI 3.1 document.", obj({"openapi": string(), "info": obj({}), "paths": obj({})}, required=["openapi", "info", "paths"]))},
    security=[])}
paths["/docs"] = {"get": op(
    "getDocsPage", "docs", "API reference page", "A self-contained HTML page rendering `/openapi.json`.",
    {"200": ok("The page.", string(), media="text/html")}, security=[])}

# --- admin CRUD
ADMIN_NOTE = "Requires the admin key (a client key is 403)."


def crud(collection, tag, singular, out, page_schema, create_schema, replace_schema, patch_schema, ids, single, created_schema=None,
         name_desc=None):
    item = f"/admin/{collection}/{{name}}"
    name_p = path_param("name", name_desc or f"The {singular}'s name (percent-encoded).")
    paths[f"/admin/{collection}"] = {
        "get": op(f"list{ids}", tag, f"List {collection}", f"Ordered by name, paginated by cursor. {ADMIN_NOTE}",
                  dict({"200": ok(f"A page of {collection}.", REF(page_schema))}, **admin_errors(400, 401, 403, 503)),
                  params=LIST_PARAMS),
        "post": op(f"create{single}", tag, f"Create a {singular}",
                   f"Answers 201 with the new document, its `ETag` and `Location`. {ADMIN_NOTE}",
                   dict({"201": ok(f"Created.", REF(created_schema or out), extra_headers=dict(ETAG, **LOC))},
                        **admin_errors(400, 401, 403, 409, 413, 503)),
                   body=json_body(REF(create_schema))),
    }
    paths[item] = {
        "get": op(f"get{single}", tag, f"Get a {singular}", ADMIN_NOTE,
                  dict({"200": ok(f"The {singular}.", REF(out), extra_headers=ETAG)}, **admin_errors(401, 403, 404, 503)),
                  params=[name_p]),
        "put": op(f"replace{single}", tag, f"Replace a {singular}",
                  f"Replaces the whole document (fields left out take their defaults). {ADMIN_NOTE}",
                  dict({"200": ok(f"The {singular} as stored.", REF(out), extra_headers=ETAG)},
                       **admin_errors(400, 401, 403, 404, 409, 412, 413, 503)),
                  params=[name_p, PARAM("IfMatch")], body=json_body(REF(replace_schema))),
        "patch": op(f"patch{single}", tag, f"Update a {singular} (JSON merge patch)",
                    f"RFC 7396 merge patch of the document (the body must be a JSON object; the content type is not checked). "
                    f"Without `If-Match` it applies to the version read by the server. {ADMIN_NOTE}",
                    dict({"200": ok(f"The {singular} as stored.", REF(out), extra_headers=ETAG)},
                         **admin_errors(400, 401, 403, 404, 409, 412, 413, 503)),
                    params=[name_p, PARAM("IfMatch")], body=json_body(REF(patch_schema), patch=True)),
        "delete": op(f"delete{single}", tag, f"Delete a {singular}",
                     (f"409 while a model still targets it. " if collection == "providers" else "") + ADMIN_NOTE,
                     dict({"204": no_content("Deleted.")},
                          **admin_errors(*([401, 403, 404, 409, 412, 503] if collection == "providers" else [401, 403, 404, 412, 503]))),
                     params=[name_p, PARAM("IfMatch")]),
    }


crud("providers", "admin-providers", "provider", "Provider", "ProviderPage", "ProviderCreate", "ProviderReplace", "ProviderPatch",
     "Providers", "Provider")
crud("models", "admin-models", "model", "Model", "ModelPage", "ModelInput", "ModelReplace", "ModelPatch", "ModelAliases", "ModelAlias")
crud("keys", "admin-keys", "client key", "Key", "KeyPage", "KeyCreate", "KeyReplace", "KeyPatch", "Keys", "Key", created_schema="KeyCreated",
     name_desc="The key's id, or its name (the id is tried first).")
paths["/admin/keys"]["post"]["description"] = (
    "Answers 201 with the secret once, in `key` (generated when the body has none), with `ETag` and `Location` "
    "(`/admin/keys/{id}`). " + ADMIN_NOTE)
paths["/admin/keys/{name}"]["put"]["description"] = "Replaces the key's settings; its secret stays. " + ADMIN_NOTE

prov_name = path_param("name", "The provider's name.")
paths["/admin/providers/batch"] = {"post": op(
    "batchProviders", "admin-providers", "Apply provider operations in one transaction",
    "`upsert`, `enable`, `disable` and `delete` operations, all or nothing (an error names `operations[i]…` in `param`). " + ADMIN_NOTE,
    dict({"200": ok("Every operation applied.", REF("BatchResult"))}, **admin_errors(400, 401, 403, 404, 409, 412, 413, 503)),
    body=json_body(REF("BatchRequest")))}
paths["/admin/providers/{name}/check"] = {"post": op(
    "checkProvider", "admin-providers", "Probe a provider now",
    "Probes the provider with each of its keys now (each probe at most 30 s) and records the outcome like a scheduled check; "
    "a key the upstream refuses (401/403) is disabled. 400 when the provider is disabled or of a type this build cannot route. "
    "No request body. " + ADMIN_NOTE,
    dict({"200": ok("The probe results.", REF("ProviderCheck"))}, **admin_errors(400, 401, 403, 404, 503)),
    params=[prov_name])}
paths["/admin/providers/{name}/keys"] = {"post": op(
    "addProviderKey", "admin-providers", "Add an upstream key",
    "Adds one secret to the provider's key pool. Answers 201 with the whole provider document and its `ETag` (no `Location`). " + ADMIN_NOTE,
    dict({"201": ok("Added; the provider as stored.", REF("Provider"), extra_headers=ETAG)},
         **admin_errors(400, 401, 403, 404, 409, 413, 503)),
    params=[prov_name], body=json_body(REF("ProviderKeyAdd")))}
key_id = path_param("id", "The upstream key's id (from `api_keys[].id`).")
paths["/admin/providers/{name}/keys/{id}"] = {
    "patch": op(
        "updateProviderKey", "admin-providers", "Enable or disable an upstream key",
        "The body is `{\"enabled\": true|false}` (the content type is not checked; no `If-Match`). " + ADMIN_NOTE,
        dict({"200": ok("The provider as stored.", REF("Provider"), extra_headers=ETAG)},
             **admin_errors(400, 401, 403, 404, 413, 503)),
        params=[prov_name, key_id], body=json_body(REF("ProviderKeyUpdate"), patch=True)),
    "delete": op(
        "removeProviderKey", "admin-providers", "Remove an upstream key", ADMIN_NOTE,
        dict({"204": no_content("Removed.")}, **admin_errors(401, 403, 404, 503)),
        params=[prov_name, key_id]),
}

paths["/admin/health"] = {"get": op(
    "getHealthReport", "admin-health", "Gateway and upstream health",
    "Per provider: its targets' circuit state, consecutive failures, success rate, latency p50/p95 and last check; "
    "its keys' state. " + ADMIN_NOTE,
    dict({"200": ok("The health report.", REF("HealthReport"))}, **admin_errors(401, 403)))}

TIME_SCHEMA = {"anyOf": [string(format="date-time"), string(pattern=r"^-?[0-9]{1,15}$")]}
paths["/admin/logs"] = {"get": op(
    "listLogs", "admin-logs", "List request logs", "Newest first, paginated by cursor. " + ADMIN_NOTE,
    dict({"200": ok("A page of logs.", REF("LogPage"))}, **admin_errors(400, 401, 403, 503)),
    params=[
        query("model", "The model as requested.", string()),
        query("provider", "The provider that served it.", string()),
        query("key", "The client key's id.", string()),
        query("status", "HTTP status (100–599).", integer(minimum=100, maximum=599)),
        query("request_id", "The request id a response carried in `x-request-id` (at most one row, unless clients reused an id).",
              string(pattern=r"^[A-Za-z0-9._:-]{1,128}$")),
        query("since", "From this time on (RFC 3339 or epoch milliseconds).", TIME_SCHEMA),
        query("until", "Before this time (exclusive; RFC 3339 or epoch milliseconds).", TIME_SCHEMA),
        query("limit", "Page size, 1–1000 (default 50).", integer(minimum=1, maximum=1000, default=50)),
        query("cursor", "`next_cursor` of the previous page.", string()),
    ])}
paths["/admin/logs/{id}"] = {"get": op(
    "getLog", "admin-logs", "Get one request log", "With its attempts and, when the key logs bodies, the bodies. " + ADMIN_NOTE,
    dict({"200": ok("The log.", REF("LogDetail"))}, **admin_errors(401, 403, 404, 503)),
    params=[path_param("id", "The log's id.")])}

STATS_FILTERS = [
    query("provider", "Only this provider.", string()),
    query("model", "Only this model (as requested).", string()),
    query("key", "Only this client key (id).", string()),
]
paths["/admin/stats"] = {"get": op(
    "getStats", "admin-stats", "Request statistics",
    "Requests, errors, tokens, cost and latency percentiles over a window, grouped by provider, model or key, with totals. " + ADMIN_NOTE,
    dict({"200": ok("The statistics.", REF("Stats"))}, **admin_errors(400, 401, 403, 503)),
    params=[
        query("window", "Whole hours `Nh` or days `Nd`, 1h–400d (default `24h`).", string(pattern=WINDOW_PATTERN, default="24h")),
        query("group_by", "Grouping (default `provider`).", string(enum=["provider", "model", "key"], default="provider")),
    ] + STATS_FILTERS)}
paths["/admin/stats/timeline"] = {"get": op(
    "getStatsTimeline", "admin-stats", "Request statistics over time",
    "The same counters per time bucket, for charts. " + ADMIN_NOTE,
    dict({"200": ok("The timeline.", REF("StatsTimeline"))}, **admin_errors(400, 401, 403, 503)),
    params=[
        query("window", "Whole hours `Nh` or days `Nd`, 1h–400d (default `24h`).", string(pattern=WINDOW_PATTERN, default="24h")),
        query("bucket", "Bucket size, `Nh` or `Nd` (default `1h`); at most 1000 buckets in the window.",
              string(pattern=WINDOW_PATTERN, default="1h")),
    ] + STATS_FILTERS)}

paths["/admin/audit"] = {"get": op(
    "listAudit", "admin-audit", "List audit entries", "Who changed what through the admin API, newest first. " + ADMIN_NOTE,
    dict({"200": ok("A page of entries.", REF("AuditPage"))}, **admin_errors(400, 401, 403, 503)),
    params=LIST_PARAMS + [
        query("resource", "Only this collection.", string(enum=["providers", "models", "keys"])),
        query("entity", "Only this entity (name).", string()),
    ])}

paths["/admin/config/export"] = {"get": op(
    "exportConfig", "admin-config", "Export the configuration",
    "Providers, models and keys as the config file holds them, secrets left out or masked. YAML unless `Accept` "
    "mentions json or `format=json`. " + ADMIN_NOTE,
    dict({"200": ok("The configuration.", content={"application/yaml": {"schema": REF("ConfigExport")},
                                                   "application/json": {"schema": REF("ConfigExport")}})},
         **admin_errors(401, 403, 500, 503)),
    params=[query("format", "`json` for JSON (so does an `Accept` header containing `json`); YAML otherwise.", string(enum=["json", "yaml"]))])}
paths["/admin/config/import"] = {"post": op(
    "importConfig", "admin-config", "Import a configuration",
    "A YAML or JSON document (detected from the body; the content type is not checked) with `providers`, `models` and `keys` "
    "sections, merged by name, all or nothing. With `dry_run=true` only the diff is returned. New keys' secrets come back "
    "once, in `created_keys`. " + ADMIN_NOTE,
    dict({"200": ok("The changes (applied unless a dry run).", REF("ImportResult"))},
         **admin_errors(400, 401, 403, 404, 409, 412, 413, 503)),
    params=[query("dry_run", "`true` or `1`: compute the diff, change nothing.", string(enum=["true", "false", "1", "0"]))],
    body={"required": True, "content": {"application/yaml": {"schema": REF("ConfigImport")},
                                        "application/json": {"schema": REF("ConfigImport")}}})}

doc = {
    "openapi": "3.1.0",
    "info": {
        "title": "Orchestrator",
        "version": "1.0.0",
        "description": "An LLM API gateway: one OpenAI-compatible endpoint (plus Anthropic Messages and Gemini inbound) in front of "
        "many providers and upstream keys, with load balancing, health checks, retries and failover, client keys, usage and cost "
        "accounting, and an admin API. Errors take the inbound style's shape; every response carries `x-request-id`.",
    },
    "servers": [{"url": "/"}],
    "tags": [
        {"name": "chat", "description": "Chat, embeddings and Responses in OpenAI, Anthropic and Gemini styles."},
        {"name": "models", "description": "The model aliases a key may use."},
        {"name": "admin-providers", "description": "Upstream providers and their key pools."},
        {"name": "admin-models", "description": "Model aliases and their targets."},
        {"name": "admin-keys", "description": "Client keys."},
        {"name": "admin-logs", "description": "Request logs."},
        {"name": "admin-stats", "description": "Usage, cost and latency statistics."},
        {"name": "admin-audit", "description": "The admin audit log."},
        {"name": "admin-config", "description": "Configuration export and import."},
        {"name": "admin-health", "description": "Upstream health."},
        {"name": "ops", "description": "Liveness, readiness and metrics (no key)."},
        {"name": "docs", "description": "This document and its page (no key)."},
    ],
    "paths": paths,
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`: a client key on `/v1`, the admin key on `/admin`."},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "Anthropic style."},
            "googApiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key", "description": "Gemini style."},
            "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "key", "description": "Gemini style; not accepted on `/admin`."},
        },
        "schemas": schemas,
        "responses": responses,
        "parameters": parameters,
        "headers": headers,
    },
}

def dump(value, indent=0, width=110):
    """JSON with small values kept on one line."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if len(flat) + indent <= width or not isinstance(value, (dict, list)) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [pad + json.dumps(k, ensure_ascii=False) + ": " + dump(v, indent + 2, width) for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + dump(v, indent + 2, width) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


text = dump(doc)
assert json.loads(text) == doc
assert '"""#' not in text and "\\#" not in text
if len(sys.argv) > 1 and sys.argv[1] == "--json":
    print(text)
    sys.exit(0)

indented = "\n".join(("    " + line) if line else line for line in text.split("\n"))
swift = (
    "/// The OpenAPI 3.1 document of the gateway's HTTP surface, served at `GET /openapi.json`.\n"
    "/// Generated by `scripts/openapi/generate.py`: edit that and run it, never this file.\n"
    "/// Kept in sync with the router by `OpenAPITests`.\n"
    "enum OpenAPIDocument {\n"
    "    static let json: String = #\"\"\"\n"
    + indented
    + "\n    \"\"\"#\n}\n"
)
import os

default_out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "HTTPFront", "OpenAPI", "OpenAPIDocument.swift")
if len(sys.argv) > 1 and sys.argv[1] == "--check":
    with open(default_out) as f:
        if f.read() != swift:
            sys.exit("OpenAPIDocument.swift is not what scripts/openapi/generate.py writes: run it and commit the result")
    print("OpenAPIDocument.swift is up to date")
    sys.exit(0)
out = sys.argv[1] if len(sys.argv) > 1 else default_out
with open(out, "w") as f:
    f.write(swift)
print("wrote", out, len(swift), "bytes")
