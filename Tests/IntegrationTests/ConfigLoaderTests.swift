import Foundation
import OrchestratorCore
import Testing

@testable import orchestratord

struct ConfigLoaderTests {
    func problems(_ yaml: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try ConfigLoader(environment: env).load(yaml: yaml)
            return []
        } catch {
            return error.problems
        }
    }

    /// Nested aliases ("billion laughs"): a few hundred bytes that would expand to 10⁹
    /// values are refused at once, not walked.
    static let aliasBomb = """
        a: &a [x, x, x, x, x, x, x, x, x, x]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
        g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
        h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
        providers: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
        """

    @Test func aliasBombsAreRefused() throws {
        let found = problems(Self.aliasBomb)
        #expect(found.count == 1 && found.first?.contains("aliases") == true, "\(found)")
        // Aliases within reason still work.
        let shared = """
            providers: [{ name: a, type: mock }]
            models:
              - { name: m1, targets: &targets [{ provider: a, model: x }] }
              - { name: m2, targets: *targets }
            """
        #expect(problems(shared) == [])
        #expect(try ConfigLoader(environment: [:]).load(yaml: shared).models.map(\.targets.count) == [1, 1])
    }

    @Test func emptyConfigIsValid() throws {
        let settings = try ConfigLoader(environment: [:]).load(yaml: "")
        #expect(settings == GatewaySettings())
        #expect(settings.server.port == 8000 && settings.database.url == "sqlite://./data/orchestrator.db")
    }

    @Test func fullExampleParses() throws {
        let yaml = """
            server:   { host: 127.0.0.1, port: 8100, max_body_bytes: 1048576, cors_origins: ["https://a.example"] }
            admin:    { key: "${ADMIN}" }
            database: { url: "sqlite:///tmp/x.db", log_retention_days: 7 }
            redis:    { url: "redis://127.0.0.1:6379/0" }
            routing:  { strategy: round_robin, max_attempts: 4, backoff_initial_ms: 100, backoff_max_ms: 1000, timeout_s: 60 }
            health:   { check_interval_s: 0, failure_threshold: 5, cooldown_s: 10 }
            keys:
              - { name: team-a, key: "${TEAM_A_KEY}", models: ["gpt-*"], rpm: 600, tpm: 200000, max_concurrency: 20,
                  budget_usd: 100, budget_tokens: 0, budget_period: monthly, expires_at: "2027-12-31T00:00:00Z",
                  enabled: true, log_bodies: false, metadata: { team: a } }
            providers:
              - name: openai
                type: openai
                base_url: https://api.openai.com/v1
                api_keys: ["${OPENAI_API_KEY}", "${OPENAI_API_KEY_2:-sk-fallback}"]
                key_strategy: least_used
                headers: { OpenAI-Organization: org-1 }
                timeout_s: 30
                stream_idle_timeout_s: 60
                rpm: 100
                tls: { ca_file: "" }
                enabled: true
              - { name: claude, type: anthropic, base_url: https://api.anthropic.com, api_keys: ["k"] }
              - { name: az, type: azure, base_url: "https://x.openai.azure.com", api_version: "2024-10-21", api_keys: ["k2"] }
              - { name: demo, type: mock, mock: { reply: "hi", latency_ms: 5, failure_rate: 0.5 } }
            models:
              - name: gpt-4o-mini
                strategy: least_latency
                targets:
                  - { provider: openai, model: gpt-4o-mini, weight: 3, priority: 0 }
                  - { provider: claude, model: claude-3-5-haiku-latest, weight: 1, priority: 1,
                      capabilities: [tools, vision, json], extra_body: { top_k: 40, nested: { a: "1" } },
                      max_tokens_default: 4096,
                      price: { input_per_mtok: 0.80, output_per_mtok: 4.00, cached_input_per_mtok: 0.08 } }
                price: { input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075 }
            """
        let settings = try ConfigLoader(environment: ["ADMIN": "adm", "TEAM_A_KEY": "sk-a", "OPENAI_API_KEY": "sk-o"]).load(yaml: yaml)
        #expect(settings.server.port == 8100 && settings.server.corsOrigins == ["https://a.example"])
        #expect(settings.admin.key == "adm")
        #expect(settings.redis?.url == "redis://127.0.0.1:6379/0")
        #expect(settings.routing.strategy == .roundRobin && settings.routing.maxAttempts == 4 && settings.routing.timeoutSeconds == 60)
        #expect(settings.health.failureThreshold == 5)
        let key = try #require(settings.keys.first)
        #expect(key.key == "sk-a" && key.models == ["gpt-*"] && key.maxConcurrency == 20 && key.metadata == ["team": "a"])
        #expect(key.expiresAt == ISO8601DateFormatter().date(from: "2027-12-31T00:00:00Z"))
        let openai = settings.providers[0]
        #expect(openai.apiKeys == ["sk-o", "sk-fallback"] && openai.keyStrategy == .leastUsed)
        #expect(openai.headers == ["OpenAI-Organization": "org-1"] && openai.timeoutSeconds == 30 && openai.rpm == 100)
        #expect(settings.providers[2].apiVersion == "2024-10-21")
        #expect(settings.providers[3].mock?.failureRate == 0.5)
        let target = settings.models[0].targets[1]
        #expect(target.capabilities == [.tools, .vision, .json])
        #expect(target.extraBody == ["top_k": 40, "nested": ["a": "1"]])
        #expect(target.maxTokensDefault == 4096 && target.price?.cachedInputPerMTok == 0.08)
        #expect(settings.models[0].strategy == .leastLatency && settings.models[0].price?.inputPerMTok == 0.15)
    }

    @Test func everyProblemIsListedByPath() {
        let yaml = """
            server: { port: 99999, colour: blue }
            routing: { strategy: fastest }
            keys:
              - { name: a, key: "" }
            providers:
              - { name: p1, type: openai, base_url: "https://x", api_keys: ["${MISSING_KEY}"] }
              - { name: p1, type: openai, base_url: "ftp://x" }
              - { name: p3, type: opena1 }
              - { name: p4, type: azure, base_url: "https://x" }
            models:
              - { name: m, targets: [{ provider: ghost, model: x, weight: heavy }] }
              - { name: empty, targets: [] }
            """
        let found = problems(yaml)
        let expected = [
            "server.port: must be between 0 and 65535",
            "server.colour: unknown field",
            "routing.strategy: unknown strategy \"fastest\" (expected one of: weighted_random, round_robin, least_latency)",
            "keys[0].key: must not be empty",
            "providers[0].api_keys[0]: environment variable MISSING_KEY is not set",
            "providers[1].base_url: must be an http:// or https:// URL",
            "providers[2].type: unknown type \"opena1\"",
            "providers[3].api_version: is required for type azure",
            "models[0].targets[0].weight: expected an integer, got \"heavy\"",
            "models[1].targets: needs at least one target",
            "providers[1].name: duplicate name \"p1\" (first at providers[0])",
            "models[0].targets[0].provider: unknown provider \"ghost\"",
        ]
        for problem in expected {
            #expect(found.contains(problem), "missing: \(problem)\nfound: \(found)")
        }
    }

    @Test func geminiAndAzureFields() throws {
        let settings = try ConfigLoader(environment: [:]).load(
            yaml: """
                providers:
                  - { name: g, type: gemini, api_keys: ["k"], fetch_image_urls: true }
                  - { name: z, type: azure, base_url: "https://r.openai.azure.com", api_version: "2024-10-21", azure_auth: entra }
                """)
        #expect(settings.providers[0].baseURL == "https://generativelanguage.googleapis.com/v1beta")
        #expect(settings.providers[0].fetchImageURLs)
        #expect(settings.providers[1].azureAuth == .entra)
        #expect(settings.providers[1].apiVersion == "2024-10-21")
        let found = problems(
            """
            providers:
              - { name: a, type: openai, base_url: "https://x", azure_auth: entra, fetch_image_urls: true }
              - { name: b, type: azure, base_url: "https://x", api_version: "v", azure_auth: token }
            """)
        #expect(found.contains("providers[0].azure_auth: only allowed for type azure"), "\(found)")
        #expect(found.contains("providers[0].fetch_image_urls: only allowed for type gemini"), "\(found)")
        #expect(found.contains { $0.hasPrefix("providers[1].azure_auth: unknown azure auth \"token\"") }, "\(found)")
    }

    @Test func environmentExpansion() throws {
        let reader = NodeReader(environment: ["A": "1", "EMPTY": ""])
        #expect(reader.expand("x${A}y", "p") == "x1y")
        #expect(reader.expand("${B:-dflt}", "p") == "dflt")
        #expect(reader.expand("${EMPTY:-dflt}", "p") == "dflt")
        #expect(reader.expand("${A:-dflt}-${A}", "p") == "1-1")
        #expect(reader.expand("plain $ text", "p") == "plain $ text")
        #expect(reader.expand("${NOPE}", "p") == nil)
        #expect(reader.expand("${A", "p") == nil)
        #expect(reader.problems.count == 2)
    }

    @Test func proxyAndCAFileAreCheckedAtLoad() {
        let bad = """
            providers:
              - { name: a, type: openai, http_proxy: "ftp://p:21", tls: { ca_file: "/nonexistent/ca.pem" } }
              - { name: b, type: openai, http_proxy: "http://proxy.internal" }
              - { name: c, type: openai, http_proxy: "socks5://10.0.0.1:1080" }
            """
        #expect(
            problems(bad) == [
                "providers[0].http_proxy: http_proxy must start with http://, socks5:// or socks5h://",
                "providers[0].tls.ca_file: cannot read /nonexistent/ca.pem",
                "providers[1].http_proxy: http_proxy needs a host and a port (for example http://proxy.internal:3128)",
            ])
    }

    @Test func invalidYAMLAndWrongShapes() {
        #expect(problems("providers: [ {").first?.hasPrefix("(file): invalid YAML") == true)
        #expect(problems("- just\n- a list") == ["(root): expected a mapping"])
        #expect(problems("providers: { name: x }") == ["providers: expected a list"])
        #expect(problems("routing: { max_attempts: 0 }") == ["routing.max_attempts: must be between 1 and 20"])
    }

    @Test func environmentAndFlagsOverrideTheFile() throws {
        let path = NSTemporaryDirectory() + "orch-cfg-\(RequestID.generate()).yaml"
        try "server: { host: 10.0.0.1, port: 1111 }\n".write(toFile: path, atomically: true, encoding: .utf8)
        let fromEnv = try Bootstrap.settings(
            configPath: path, environment: ["ORCH_PORT": "2222", "ORCH_ADMIN_KEY": "adm", "ORCH_DATABASE_URL": "sqlite::memory:"],
            overrides: .init())
        #expect(fromEnv.server.host == "10.0.0.1" && fromEnv.server.port == 2222 && fromEnv.admin.key == "adm")
        #expect(fromEnv.database.url == "sqlite::memory:")
        let fromFlags = try Bootstrap.settings(
            configPath: path, environment: ["ORCH_PORT": "2222", "ORCH_HOST": "127.0.0.2"], overrides: .init(host: "127.0.0.3", port: 3333))
        #expect(fromFlags.server.host == "127.0.0.3" && fromFlags.server.port == 3333)
        #expect(Bootstrap.configFile(nil, ["ORCH_CONFIG": "/etc/o.yaml"]) == "/etc/o.yaml")
        #expect(Bootstrap.configFile("/x.yaml", ["ORCH_CONFIG": "/etc/o.yaml"]) == "/x.yaml")
    }
}
