-- wrk script: non-streaming Anthropic Messages request (model "bench"), which
-- orchestratord translates for the OpenAI-style mock and back. direct and nginx-proxy
-- get the same bytes on the mock's OpenAI path, which ignores them.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "sk-bench-client"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = '{"model":"bench","max_tokens":256,"messages":[{"role":"user","content":"hello"}]}'
