-- wrk script: streaming OpenAI chat completion (model "bench-stream", stream=true).
-- wrk reads the whole SSE body (until Content-Length / final chunk) before counting
-- the request, so req/s is "complete streams per second".
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "text/event-stream"
wrk.headers["Authorization"] = "Bearer sk-bench-client"
wrk.body = '{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"hello"}]}'
