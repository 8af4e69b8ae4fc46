-- wrk script: streaming Anthropic Messages request (model "bench-stream", stream=true):
-- orchestratord reads each OpenAI-style chunk of the mock's stream and writes Anthropic
-- events (message_start, content_block_delta…, message_stop). wrk counts complete streams.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "text/event-stream"
wrk.headers["x-api-key"] = "sk-bench-client"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = '{"model":"bench-stream","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"hello"}]}'
