import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Persistence
import Testing

@testable import orchestratord

/// Runs a real gateway on an ephemeral loopback port with `yaml` as its config file,
/// calls `body`, then shuts it down gracefully.
func withGateway(
    _ yaml: String, environment: [String: String] = [:], capture: LogCapture = LogCapture(),
    _ body: @Sendable (Gateway, String) async throws -> Void
) async throws {
    var settings = try ConfigLoader(environment: environment).load(yaml: yaml)
    settings.server.port = 0
    if settings.database.url == DatabaseSettings().url { settings.database.url = "sqlite::memory:" }
    let gateway = try await Gateway.build(settings: settings, environment: environment, logger: capture.logger(level: .debug))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await gateway.run(handleSignals: false) }
        let port = await gateway.waitUntilListening()
        do {
            try await body(gateway, "http://127.0.0.1:\(port)")
        } catch {
            await gateway.shutdown()
            try? await group.waitForAll()
            throw error
        }
        await gateway.shutdown()
        try await group.waitForAll()
    }
}

/// Waits until the log writer has written `count` rows (they are written asynchronously).
/// Checks every 100 ms, at most `tries` times, until `check` holds; whether it did.
func eventually(tries: Int = 60, _ check: () async throws -> Bool) async throws -> Bool {
    for attempt in 0..<tries {
        if try await check() { return true }
        if attempt < tries - 1 { try await Task.sleep(for: .milliseconds(100)) }
    }
    return false
}

func waitForLogRows(_ gateway: Gateway, _ count: Int, timeout: Duration = .seconds(10)) async throws {
    let deadline = ContinuousClock.now + timeout
    while gateway.logWriter.rowsWritten < count {
        if ContinuousClock.now > deadline {
            Issue.record("only \(gateway.logWriter.rowsWritten) of \(count) log rows were written")
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A small HTTP client for talking to the gateway.
struct Client {
    static let shared = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init())

    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) }
    }

    static func post(_ url: String, _ body: String, headers: [(String, String)] = [("Authorization", "Bearer sk-test-client-000111")])
        async throws -> Reply
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    static func get(_ url: String, headers: [(String, String)] = [("Authorization", "Bearer sk-test-client-000111")]) async throws
        -> Reply
    {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }
}

/// A config with two OpenAI-compatible upstreams and a mock provider.
func gatewayConfig(primary: String, secondary: String, extra: String = "") -> String {
    """
    keys:
      - { name: tester, key: "sk-test-client-000111", log_bodies: false }
    providers:
      - { name: primary, type: openai, base_url: "\(primary)/v1", api_keys: ["sk-upstream-secret-aaaa"] }
      - { name: secondary, type: openai, base_url: "\(secondary)/v1", api_keys: ["sk-upstream-secret-bbbb"] }
      - { name: demo, type: mock, mock: { reply: "mock says hi" } }
    models:
      - name: chat
        targets:
          - { provider: primary, model: up-model-1, priority: 0 }
          - { provider: secondary, model: up-model-2, priority: 1 }
        price: { input_per_mtok: 1.0, output_per_mtok: 2.0 }
      - name: demo-model
        targets: [{ provider: demo, model: mock-1 }]
    routing: { max_attempts: 3, backoff_initial_ms: 1, backoff_max_ms: 5, timeout_s: 20 }
    \(extra)
    """
}

let chatRequest = #"{"model":"chat","messages":[{"role":"user","content":"hello"}]}"#
let streamRequest = #"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hello"}]}"#
