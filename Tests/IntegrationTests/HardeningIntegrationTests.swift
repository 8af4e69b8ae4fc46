import Foundation
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Testing

@testable import Balancing
@testable import orchestratord

/// Input the JSON decoder would accept but the gateway refuses, on every route that
/// takes a JSON body, and upstream answers that echo the key they were sent.
struct HardeningIntegrationTests {
    static let client = "sk-test-client-000111"
    static let admin = "admin-hardening-key-0001"

    /// Each route with the credential header its clients send.
    static let routes: [(path: String, auth: (String, String))] = [
        ("/v1/chat/completions", ("Authorization", "Bearer \(client)")),
        ("/v1/embeddings", ("Authorization", "Bearer \(client)")),
        ("/v1/responses", ("Authorization", "Bearer \(client)")),
        ("/v1/messages", ("x-api-key", client)),
        ("/v1/messages/count_tokens", ("x-api-key", client)),
        ("/v1beta/models/chat:generateContent", ("x-goog-api-key", client)),
        ("/admin/providers", ("Authorization", "Bearer \(admin)")),
        ("/admin/keys", ("Authorization", "Bearer \(admin)")),
        ("/admin/config/import", ("Authorization", "Bearer \(admin)")),
    ]

    @Test func strictJSONIsEnforcedOnEveryRouteThatTakesABody() async throws {
        let deep = #"{"model":"chat","x":"# + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}"
        // (body, the param an OpenAI-shaped error names, words its message holds)
        let cases: [([UInt8], String?, String)] = [
            (Array(#"{"model":"chat","model":"other","messages":[]}"#.utf8), "model", "Duplicate key 'model'"),
            (Array(#"{"model":"chat","input":{"a":1,"a":2}}"#.utf8), "input.a", "Duplicate key 'a' in 'input'"),
            (Array(#"{"model":"chat","x":"a\u0000b"}"#.utf8), "x", "NUL"),
            (Array(#"{"model":"chat","x":"\ud800"}"#.utf8), "x", "unpaired UTF-16 surrogate"),
            (Array(#"{"model":"chat","x":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), "x", "not valid UTF-8"),
            (Array(deep.utf8), "x", "deeper than 128 levels"),
            (Array(#"{"model":"chat","x":[1,]}"#.utf8), nil, "expected a JSON value at byte 23"),
        ]
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion()) }) { upstream in
            let yaml = gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL, extra: "admin: { key: \"\(Self.admin)\" }")
            try await withGateway(yaml) { _, url in
                for (path, auth) in Self.routes {
                    for (body, param, words) in cases {
                        let reply = try await Client.post(url + path, bytes: body, headers: [auth])
                        let label = "\(path) \(String(decoding: body.prefix(60), as: UTF8.self))"
                        #expect(reply.status == 400, "\(label): \(reply.status) \(reply.body)")
                        #expect(reply.body.contains(words), "\(label): \(reply.body)")
                        // Anthropic's and Google's error shapes have no param; nor has a config
                        // import's UTF-8 check, which runs before the document is read as JSON or YAML.
                        let utf8Import = path == "/admin/config/import" && words == "not valid UTF-8"
                        if !path.hasPrefix("/v1/messages") && !path.hasPrefix("/v1beta") && !utf8Import {
                            #expect(reply.json?["error"]?["param"] == (param.map(JSONValue.string) ?? .null), "\(label): \(reply.body)")
                        }
                    }
                }
                #expect(upstream.requests.isEmpty, "nothing refused reaches an upstream")
                let health = try await Client.get(url + "/healthz", headers: [])
                #expect(health.status == 200)
            }
        }
    }

    /// An upstream that puts the gateway's key into its error message, param, type or
    /// mid-stream error event: the key is scrubbed before any client, log line or log row
    /// sees it — even a key without a recognisable prefix.
    @Test func anUpstreamEchoingItsKeyNeverLeaksIt() async throws {
        let secret = "plainsecretvalue123456"
        let capture = LogCapture()
        try await MockUpstream.withServer({ request in
            let body = request.bodyString
            if body.contains("\"stream\":true") {
                let opening = OpenAIFixtures.chunks(["Hel"], usage: false).prefix(2)
                return .sse(opening + [#"{"error":{"message":"quota for \#(secret) exceeded","type":"\#(secret)_error"}}"#], terminate: false)
            }
            if body.contains("boom") {
                return .json(500, #"{"error":{"message":"backend for \#(secret) crashed","type":"\#(secret)"}}"#)
            }
            if body.contains("filtered") {
                return .json(
                    400, #"{"error":{"message":"refused for key \#(secret)","code":"content_filter","param":"\#(secret)"}}"#)
            }
            return .json(401, #"{"error":{"message":"Key \#(secret) is not valid","code":"invalid_api_key"}}"#)
        }) { upstream in
            let yaml = """
                admin: { key: "\(Self.admin)" }
                keys:
                  - { name: tester, key: "\(Self.client)", log_bodies: true }
                providers:
                  - { name: echo, type: openai, base_url: "\(upstream.baseURL)/v1", api_keys: ["\(secret)"] }
                models:
                  - name: chat
                    targets: [{ provider: echo, model: up-1 }]
                routing: { max_attempts: 1, timeout_s: 20 }
                """
            try await withGateway(yaml, capture: capture) { gateway, url in
                let filtered = try await Client.post(
                    url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"filtered"}]}"#)
                #expect(filtered.status == 400 && filtered.json?["error"]?["code"] == "content_filter", "\(filtered.body)")
                #expect(filtered.json?["error"]?["param"] == "[REDACTED]")
                let anthropic = try await Client.post(
                    url + "/v1/messages", #"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"boom"}]}"#,
                    headers: [("x-api-key", Self.client)])
                #expect(anthropic.status == 502 && anthropic.body.contains("[REDACTED]"), "\(anthropic.body)")
                let stream = try await Client.post(
                    url + "/v1/chat/completions", #"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
                #expect(stream.body.contains("Hel") && stream.body.contains("[REDACTED]"), "\(stream.body)")
                // Last: a 401 switches the key off.
                let rejected = try await Client.post(url + "/v1/chat/completions", chatRequest)
                #expect(rejected.status == 502 && rejected.body.contains("[REDACTED]"), "\(rejected.body)")
                for reply in [rejected, filtered, anthropic, stream] {
                    #expect(!reply.body.contains(secret), "\(reply.body)")
                }
                try await waitForLogRows(gateway, 4)
                let logs = try await Client.get(url + "/admin/logs", headers: [("Authorization", "Bearer \(Self.admin)")])
                #expect(logs.status == 200 && logs.json?["data"]?.arrayValue?.count == 4)
                #expect(!logs.body.contains(secret) && logs.body.contains("[REDACTED]"))
            }
        }
        let lines = capture.all
        #expect(lines.contains { $0.contains("upstream attempt failed") })
        #expect(!lines.contains { $0.contains(secret) })
    }

    /// The audit every integration test runs (see `withGateway`) does find a leak, in a
    /// log line or in an answer, and knows where a configuration keeps its secrets.
    @Test func theSecretAuditFindsWhatLeaks() throws {
        let planted = "sk-planted-secret-1234"
        let inALine = SecretAudit(secrets: [planted])
        #expect(inALine.findings(logLines: ["info upstream said \(planted)"]) == [
            "secret sk-pla… leaked into a log line: info upstream said \(planted)"
        ])
        let inAnAnswer = SecretAudit(secrets: [planted])
        inAnAnswer.record("GET /admin/x → 200", headers: HTTPHeaders([("x-echo", planted)]), body: "{}")
        #expect(inAnAnswer.findings(logLines: []) == ["secret sk-pla… leaked into the answer to GET /admin/x → 200"])
        let clean = SecretAudit(secrets: [planted])
        clean.record("GET /admin/x → 200", headers: HTTPHeaders(), body: #"{"key":"****1234"}"#)
        #expect(clean.findings(logLines: ["info nothing here"]).isEmpty)

        let yaml = """
            admin: { key: "admin-key-in-file-01" }
            database: { url: "mysql://orch:db-password-02@127.0.0.1:3306/orch" }
            keys: [{ name: k, key: "sk-client-in-file-03" }]
            providers:
              - name: p
                type: openai
                base_url: "http://127.0.0.1:9/v1"
                api_keys: ["sk-upstream-in-file-04"]
                headers: { X-Api-Key: "header-secret-05", X-Team: "blue" }
                http_proxy: "http://user:proxy-password-06@127.0.0.1:3128"
            """
        let settings = try ConfigLoader(environment: [:]).load(yaml: yaml)
        let found = SecretAudit.secrets(of: settings, environment: ["ORCH_SECRET_KEY": "secret-box-key-07"])
        #expect(found == [
            "admin-key-in-file-01", "db-password-02", "sk-client-in-file-03", "sk-upstream-in-file-04", "header-secret-05",
            "proxy-password-06", "secret-box-key-07",
        ])
        let registered = SecretAudit(secrets: [])
        SecretAudit.$current.withValue(registered) {
            registered.registerSecrets(
                inAdminRequest: "http://127.0.0.1:1/admin/providers",
                body: ByteBuffer(string: #"{"name":"n","api_keys":["sk-posted-08","****abcd"],"headers":{"Authorization":"Bearer x-09"}}"#))
        }
        #expect(registered.findings(logLines: ["sk-posted-08"]).count == 1, "an api_keys value posted to the admin API")
        #expect(registered.findings(logLines: ["Bearer x-09"]).count == 1, "a secret header value posted to the admin API")
        #expect(registered.findings(logLines: ["****abcd"]).isEmpty, "a masked value sent back is no secret")
    }

    /// Found by the audit's sweep of `/metrics`: a negative duration in a timer (two
    /// instants from different clocks) made swift-prometheus trap while rendering.
    @Test func negativeDurationsNeverReachTheMetrics() {
        _ = Telemetry.bootstrapped
        RequestMetrics().record(
            RequestLogEntry(
                requestID: "r", timestampMillis: 0, keyID: "k", keyName: "k", apiStyle: "openai", model: "negative-clock",
                provider: "p", stream: true, status: 200, attempts: 1, latencyMillis: -5, timeToFirstTokenMillis: -3,
                attemptDetails: [AttemptRecord(provider: "p", model: "m", keyID: nil, status: 200, error: nil, latencyMs: -2)]))
        let text = Telemetry.render()
        #expect(text.contains(#"orchestrator_request_duration_seconds_count{model="negative-clock"} 1"#))
    }
}
