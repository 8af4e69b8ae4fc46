-- wrk script: non-streaming OpenAI chat completion (model "bench").
-- The request path comes from the URL given to wrk.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-client"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"hello"}]}'
