import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Persistence
import Synchronization
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
    let gateway = try await Gateway.build(settings: settings, environment: environment, logger: capture.logger(level: .trace))
    let audit = SecretAudit(secrets: SecretAudit.secrets(of: settings, environment: environment))
    try await SecretAudit.$current.withValue(audit) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await gateway.run(handleSignals: false) }
            let port = await gateway.waitUntilListening()
            let url = "http://127.0.0.1:\(port)"
            do {
                try await body(gateway, url)
                await audit.sweep(url, adminKey: settings.admin.key)
            } catch {
                await gateway.shutdown()
                try? await group.waitForAll()
                throw error
            }
            await gateway.shutdown()
            try await group.waitForAll()
        }
    }
    audit.check(logLines: capture.all)
}

/// Checks that no secret a gateway was configured with ever reaches one of its log lines
/// or one of its HTTP answers, for every gateway the integration suite starts.
///
/// `withGateway` registers the secrets of the configuration (client, admin and upstream
/// keys, upstream secrets in headers and proxy URLs, the database password and the
/// secret-box key); every request made through ``Client`` inside it is recorded; at the
/// end of each test the admin and metrics routes are read once more, and all of it, with
/// every log line at trace level, is searched. Tests that hand the gateway secrets
/// through the admin API register them with `SecretAudit.current?.register`.
final class SecretAudit: Sendable {
    @TaskLocal static var current: SecretAudit?

    private struct State {
        var secrets: Set<String>
        var answers: [(source: String, text: String)] = []
    }

    private let state: Mutex<State>

    init(secrets: Set<String>) { state = Mutex(State(secrets: secrets)) }

    /// Adds a secret; a masked value sent back unchanged (`****abcd`) is none.
    func register(_ secret: String) {
        guard !secret.hasPrefix("****") else { return }
        state.withLock { _ = $0.secrets.insert(secret) }
    }

    /// Records an answer from the gateway: its status line, headers and body.
    func record(_ source: String, headers: HTTPHeaders, body: String) {
        let text = headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n") + "\n\n" + body
        state.withLock { $0.answers.append((source, text)) }
    }

    /// Reads every admin collection, the logs, audit, health, stats, the config export
    /// and the metrics, so that what the test left behind is searched too.
    func sweep(_ url: String, adminKey: String?) async {
        var paths = ["/metrics", "/healthz", "/readyz", "/v1/models"]
        if adminKey != nil {
            paths += [
                "/admin/providers", "/admin/models", "/admin/keys", "/admin/logs?limit=200", "/admin/audit?limit=200",
                "/admin/health", "/admin/stats", "/admin/config/export", "/admin/config/export?format=json",
            ]
        }
        let headers = adminKey.map { [("Authorization", "Bearer \($0)")] } ?? []
        for path in paths {
            _ = try? await Client.send(.GET, url + path, headers: headers)
        }
    }

    /// A description of every secret found in `logLines` or in the recorded answers.
    func findings(logLines: [String]) -> [String] {
        let (secrets, answers) = state.withLock { ($0.secrets, $0.answers) }
        var found: [String] = []
        for secret in secrets.sorted() where secret.utf8.count >= 6 {
            if let line = logLines.first(where: { $0.contains(secret) }) {
                found.append("secret \(secret.prefix(6))… leaked into a log line: \(line.prefix(300))")
            }
            if let answer = answers.first(where: { $0.text.contains(secret) }) {
                found.append("secret \(secret.prefix(6))… leaked into the answer to \(answer.source)")
            }
        }
        return found
    }

    /// Records a test issue for every finding; and, when `ORCH_SECRET_AUDIT_FILE` is set,
    /// appends what was searched to it (the test command prints the totals).
    func check(logLines: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for finding in findings(logLines: logLines) {
            Issue.record(Comment(rawValue: finding), sourceLocation: sourceLocation)
        }
        let (secrets, answers) = state.withLock { ($0.secrets.count, $0.answers.count) }
        if let file = ProcessInfo.processInfo.environment["ORCH_SECRET_AUDIT_FILE"], !file.isEmpty {
            let line = "gateways=1 secrets=\(secrets) log_lines=\(logLines.count) answers=\(answers)\n"
            // O_APPEND: tests run in parallel, and each line must land whole.
            let fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            if fd >= 0 {
                _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                close(fd)
            }
        }
    }

    /// The secrets in a configuration.
    static func secrets(of settings: GatewaySettings, environment: [String: String]) -> Set<String> {
        var secrets = Set<String>()
        if let key = settings.admin.key { secrets.insert(key) }
        for key in settings.keys { secrets.insert(key.key) }
        for provider in settings.providers {
            secrets.formUnion(provider.apiKeys)
            if let secret = provider.secretAccessKey { secrets.insert(secret) }
            for (name, value) in provider.headers where isSecretHeader(name) { secrets.insert(value) }
            if let password = password(in: provider.httpProxy) { secrets.insert(password) }
        }
        if let password = password(in: settings.database.url) { secrets.insert(password) }
        for name in ["ORCH_ADMIN_KEY", "ORCH_SECRET_KEY"] {
            if let value = environment[name], !value.isEmpty { secrets.insert(value) }
        }
        return secrets
    }

    /// Header names whose values the admin API masks, and so are secrets.
    static func isSecretHeader(_ name: String) -> Bool {
        let name = name.lowercased()
        return ["auth", "key", "token", "secret", "cookie", "password"].contains { name.contains($0) }
    }

    /// Registers the upstream secrets in an admin request's JSON body: `api_keys`,
    /// `secret_access_key`, secret header values, a proxy password, and the `key` of a
    /// provider key being added.
    func registerSecrets(inAdminRequest url: String, body: ByteBuffer) {
        guard let path = URLComponents(string: url)?.path, path.hasPrefix("/admin/providers") || path.hasPrefix("/admin/config"),
            let document = try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
        else { return }
        let addsProviderKey = path.hasPrefix("/admin/providers/") && path.hasSuffix("/keys")
        func walk(_ value: JSONValue) {
            if let array = value.arrayValue { array.forEach(walk) }
            guard case .object(let members) = value else { return }
            for (name, member) in members {
                switch name {
                case "api_keys": member.arrayValue?.compactMap(\.stringValue).forEach(register)
                case "secret_access_key": member.stringValue.map(register)
                case "http_proxy": member.stringValue.flatMap(Self.password(in:)).map(register)
                case "key" where addsProviderKey: member.stringValue.map(register)
                case "headers":
                    if case .object(let headers) = member {
                        for (header, value) in headers where Self.isSecretHeader(header) { value.stringValue.map(register) }
                    }
                default: walk(member)
                }
            }
        }
        walk(document)
    }

    /// The password of `scheme://user:password@host…`.
    static func password(in url: String) -> String? {
        guard let components = URLComponents(string: url), let password = components.password, !password.isEmpty else {
            return nil
        }
        return password.removingPercentEncoding ?? password
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
        try await send(.POST, url, body: ByteBuffer(string: body), headers: headers)
    }

    static func post(_ url: String, bytes: [UInt8], headers: [(String, String)] = [("Authorization", "Bearer sk-test-client-000111")])
        async throws -> Reply
    {
        try await send(.POST, url, body: ByteBuffer(bytes: bytes), headers: headers)
    }

    static func get(_ url: String, headers: [(String, String)] = [("Authorization", "Bearer sk-test-client-000111")]) async throws
        -> Reply
    {
        try await send(.GET, url, headers: headers)
    }

    /// Sends any request (a body goes as `application/json`); the answer is recorded for
    /// the ``SecretAudit`` of the gateway being tested.
    static func send(
        _ method: HTTPMethod, _ url: String, body: ByteBuffer? = nil, headers: [(String, String)],
        timeout: TimeAmount = .seconds(30)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            SecretAudit.current?.registerSecrets(inAdminRequest: url, body: body)
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                request.headers.add(name: "Content-Type", value: "application/json")
            }
            request.body = .bytes(body)
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 32 << 20)
        let reply = Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
        SecretAudit.current?.record("\(method) \(url) → \(reply.status)", headers: response.headers, body: reply.body)
        return reply
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
