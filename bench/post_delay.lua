-- wrk script: non-streaming OpenAI chat completion from the delayed upstream (model
-- "bench-delay"; the mock answers after 50 ms). The request path comes from the URL.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-client"
wrk.body = '{"model":"bench-delay","messages":[{"role":"user","content":"hello"}]}'
