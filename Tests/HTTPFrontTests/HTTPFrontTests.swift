import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OrchestratorCore
import Providers
import Synchronization
import Testing

@testable import HTTPFront

/// A chat service answering from a closure and recording what it was asked.
final class FakeChatService: ChatService {
    let received = Mutex<[(InboundRequest, Principal)]>([])
    let answer: @Sendable (InboundRequest) async throws(GatewayError) -> ChatResult

    init(_ answer: @escaping @Sendable (InboundRequest) async throws(GatewayError) -> ChatResult) {
        self.answer = answer
    }

    func chat(_ request: InboundRequest, principal: Principal, logger: Logger) async throws(GatewayError) -> ChatResult {
        received.withLock { $0.append((request, principal)) }
        return try await answer(request)
    }

    let rejections = Mutex<[RejectedRequest]>([])

    func recordRejected(_ rejection: RejectedRequest) async {
        rejections.withLock { $0.append(rejection) }
    }

    func models(for principal: Principal) -> [ModelInfo] {
        ["a-model", "b-model"].filter { principal.mayUse(model: $0) }.map { ModelInfo(id: $0) }
    }
}

struct AlwaysReady: ReadinessProbe {
    let ready: Bool
    func isReady() async -> Bool { ready }
}

struct EmptyConfigStore: ConfigStore {
    func syncFromFile(_ settings: GatewaySettings) async throws -> StoredConfiguration { StoredConfiguration() }
    func apply(_ changes: [ConfigChange]) async throws -> ConfigChangeResult {
        throw ConfigChangeError(.invalid, "read-only test store")
    }
    func loadVersionedConfiguration() async throws -> (version: Int64, configuration: StoredConfiguration) {
        (0, try await loadConfiguration())
    }
    func configurationVersion() async throws -> Int64 { 0 }
    func loadConfiguration() async throws -> StoredConfiguration {
        StoredConfiguration(providers: [
            StoredProvider(
                id: "p1", config: ProviderConfig(name: "openai", type: .openai, baseURL: "https://api.openai.com/v1"),
                source: .file, createdAtMillis: 0, updatedAtMillis: 0,
                keys: [StoredUpstreamKey(id: "k1", secret: "sk-very-secret-upstream-9876", enabled: true)])
        ])
    }
}

let clientKey = "sk-client-abcdef-123"
let route = RouteInfo(provider: "upstream-a", upstreamModel: "m-1", attempts: 2, overhead: .microseconds(3456))

struct StaticHealth: HealthReporting {
    func healthReport() -> HealthReport {
        HealthReport(status: "ok", providers: [
            .init(name: "openai", type: "openai", enabled: true, routable: true, lastCheckAt: nil, lastCheckError: nil,
                  targets: [.init(provider: "openai", model: "gpt", state: "closed", consecutiveFailures: 0, successRate: 1,
                                  latencyP50Ms: 12.5, latencyP95Ms: 40, samples: 10, lastError: nil, lastCheckAt: nil)],
                  keys: [.init(provider: "openai", id: "k1", last4: "9876", state: "active", coolingForMs: nil, lastError: nil)])
        ])
    }
}
let adminKey = "admin-key-xyz-789"

func completion(_ text: String = "hi") -> ChatCompletion {
    ChatCompletion(
        id: "c1", created: 1, model: "m",
        choices: [.init(index: 0, message: ChatMessage(role: .assistant, content: .text(text)), finishReason: "stop")],
        usage: Usage(promptTokens: 1, completionTokens: 1))
}

func makeApp(
    service: FakeChatService, keys: [String] = [clientKey], adminKey: String? = adminKey, loopback: Bool = true,
    maxBodyBytes: Int = 4096, ready: Bool = true,
    codecs: [APIStyle: any InboundCodec] = [.openai: OpenAIInboundCodec()]
) -> some ApplicationProtocol {
    var settings = ServerSettings()
    settings.maxBodyBytes = maxBodyBytes
    let router = GatewayServer.router(
        settings: settings,
        dependencies: dependencies(service, keys: keys, adminKey: adminKey, loopback: loopback, ready: ready, codecs: codecs))
    return Application(router: router)
}

/// The whole server: the NIO data plane ahead of the router, as the daemon runs it.
func makeServer(service: FakeChatService) -> some ApplicationProtocol {
    var settings = ServerSettings()
    settings.port = 0
    return GatewayServer.application(
        settings: settings, dependencies: dependencies(service), logger: Logger(label: "test"))
}

/// What both test servers are built on: `service`, and a client directory of `keys`
/// that may use the `a-*` models.
private func dependencies(
    _ service: FakeChatService, keys: [String] = [clientKey], adminKey: String? = adminKey, loopback: Bool = true,
    ready: Bool = true, codecs: [APIStyle: any InboundCodec] = [.openai: OpenAIInboundCodec()]
) -> GatewayServer.Dependencies {
    let directory = ClientKeyDirectory(
        entries: keys.map {
            .init(keyHash: KeyHashing.sha256Hex($0), principal: Principal(keyID: "id-\($0)", name: "name", allowedModels: ["a-*"]))
        })
    return .init(
        chat: service, codecs: codecs, access: AccessPolicy(directory: directory, adminKey: adminKey, loopbackOnly: loopback),
        readiness: AlwaysReady(ready: ready), configStore: EmptyConfigStore(), health: StaticHealth())
}

let chatBody = ByteBuffer(string: #"{"model":"a-model","messages":[{"role":"user","content":"hello"}]}"#)
let streamBody = ByteBuffer(string: #"{"model":"a-model","stream":true,"messages":[{"role":"user","content":"hello"}]}"#)
let authorized: HTTPFields = [.authorization: "Bearer \(clientKey)", .contentType: "application/json"]

func json(_ buffer: ByteBuffer) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
}

/// `/v1/messages` on the router (embedders that mount it without the data plane).
struct MessagesRouteTests {
    let codecs: [APIStyle: any InboundCodec] = [.openai: OpenAIInboundCodec(), .anthropic: AnthropicInboundCodec()]
    let headers: HTTPFields = [
        HTTPField.Name("x-api-key")!: clientKey, .contentType: "application/json",
        HTTPField.Name("anthropic-beta")!: "tools-2024-04-04",
    ]
    let body = ByteBuffer(string: #"{"model":"a-model","max_tokens":10,"messages":[{"role":"user","content":"hello"}]}"#)

    @Test func messagesAreAnsweredInAnthropicsFormat() async throws {
        let service = FakeChatService { _ throws(GatewayError) in .completion(.canonical(completion("hello back")), route) }
        try await makeApp(service: service, codecs: codecs).test(.router) { client in
            try await client.execute(uri: "/v1/messages", method: .post, headers: headers, body: body) { response in
                #expect(response.status == .ok)
                let message = try json(response.body)
                #expect(message["type"] == "message")
                #expect(message["content"] == [["type": "text", "text": "hello back"]])
                #expect(message["stop_reason"] == "end_turn")
                #expect(response.headers[HTTPField.Name("x-request-id")!] != nil)
            }
        }
        let (request, _) = try #require(service.received.withLock { $0.first })
        #expect(request.style == .anthropic)
        #expect(request.chat.maxTokens == 10)
        #expect(request.forwardedHeaders[HTTPField.Name("anthropic-beta")!] == "tools-2024-04-04")
        #expect(request.forwardedHeaders[.authorization] == nil && request.forwardedHeaders[HTTPField.Name("x-api-key")!] == nil)
    }

    @Test func streamsAreAnthropicEventSequences() async throws {
        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "tok"))])
        let service = FakeChatService { _ throws(GatewayError) in
            .stream(ChatStream { emit in try await emit(.chunk(chunk)) }, route)
        }
        let streamBody = ByteBuffer(string: #"{"model":"a-model","stream":true,"max_tokens":10,"messages":[{"role":"user","content":"hello"}]}"#)
        try await makeApp(service: service, codecs: codecs).test(.router) { client in
            try await client.execute(uri: "/v1/messages", method: .post, headers: headers, body: streamBody) { response in
                #expect(response.headers[.contentType] == "text/event-stream")
                let names = String(buffer: response.body).split(separator: "\n").filter { $0.hasPrefix("event: ") }
                #expect(
                    names == [
                        "event: message_start", "event: content_block_start", "event: content_block_delta",
                        "event: content_block_stop", "event: message_delta", "event: message_stop",
                    ])
            }
        }
    }

    @Test func errorsAndUnknownRoutesHaveAnthropicsShape() async throws {
        let service = FakeChatService { _ throws(GatewayError) in throw .modelNotFound("a-model") }
        try await makeApp(service: service, codecs: codecs).test(.router) { client in
            try await client.execute(uri: "/v1/messages", method: .post, headers: headers, body: body) { response in
                #expect(response.status == .notFound)
                let decoded = try json(response.body)
                #expect(decoded["error"]?["type"] == "not_found_error")
            }
            try await client.execute(uri: "/v1/messages", method: .get, headers: headers) { response in
                #expect(response.status == .notFound)
                let decoded = try json(response.body)
                #expect(decoded["type"] == "error")
            }
            try await client.execute(uri: "/v1/messages", method: .post, headers: [.contentType: "application/json"], body: body) {
                response in
                #expect(response.status == .unauthorized)
                let decoded = try json(response.body)
                #expect(decoded["error"]?["type"] == "authentication_error")
            }
            let count = ByteBuffer(string: #"{"model":"a-model","messages":[{"role":"user","content":"hello there"}]}"#)
            try await client.execute(uri: "/v1/messages/count_tokens", method: .post, headers: headers, body: count) { response in
                #expect(response.status == .ok)
                let decoded = try json(response.body)
                #expect((decoded["input_tokens"]?.intValue ?? 0) > 0)
            }
            try await client.execute(uri: "/v1/chat/completions", method: .get, headers: authorized) { response in
                let decoded = try json(response.body)
                #expect(decoded["error"]?["code"] == "unknown_route", "OpenAI's shape elsewhere")
            }
        }
    }
}

struct ChatRouteTests {
    @Test func completionIsEncodedAndTheRequestPassedOn() async throws {
        let service = FakeChatService { _ throws(GatewayError) in .completion(.canonical(completion("hello back")), route) }
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: chatBody) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.headers[HTTPField.Name("x-request-id")!]?.count == 32)
                #expect(response.headers[HTTPField.Name("x-orchestrator-provider")!] == "upstream-a")
                #expect(response.headers[HTTPField.Name("x-orchestrator-attempts")!] == "2")
                #expect(response.headers[HTTPField.Name("x-orchestrator-overhead-ms")!] == "3.46")
                let decoded = try json(response.body)
                #expect(decoded["choices"]?.arrayValue?.first?["message"]?["content"] == "hello back")
            }
        }
        let (request, principal) = try #require(service.received.withLock { $0.first })
        #expect(request.chat.model == "a-model")
        #expect(String(buffer: request.body) == String(buffer: chatBody))
        #expect(principal.keyID == "id-\(clientKey)")
    }

    @Test func rawCompletionsPassThroughUnchanged() async throws {
        let raw = #"{"id":"x","object":"chat.completion","choices":[],"custom":1}"#
        let service = FakeChatService { _ throws(GatewayError) in .completion(.raw(ByteBuffer(string: raw)), route) }
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: chatBody) { response in
                #expect(String(buffer: response.body) == raw)
            }
        }
    }

    @Test func streamIsFramedAndTerminated() async throws {
        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "tok"))])
        let service = FakeChatService { _ throws(GatewayError) in
            .stream(ChatStream { emit in
                try await emit(.chunk(chunk))
                try await emit(.raw(ByteBuffer(string: "data: {\"raw\":true}\n\n")))
            }, route)
        }
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: streamBody) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/event-stream")
                #expect(response.headers[.cacheControl] == "no-cache")
                let text = String(buffer: response.body)
                #expect(text.hasPrefix("data: {"))
                #expect(text.contains(#""content":"tok""#))
                #expect(text.contains("data: {\"raw\":true}\n\n"))
                #expect(text.hasSuffix("data: [DONE]\n\n"))
            }
        }
    }

    /// On the data plane, a stream's end goes out when the producer says its last part
    /// is out, before the producer's own bookkeeping (the engine's log row) is done.
    @Test func streamEndsBeforeTheProducersBookkeeping() async throws {
        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "tok"))])
        let bookkeeping = Mutex<(started: Bool, released: Bool, done: Bool)>((false, false, false))
        let service = FakeChatService { _ throws(GatewayError) in
            .stream(ChatStream(callingAfterLast: { emit, afterLast in
                try await emit(.chunk(chunk))
                try await afterLast()
                bookkeeping.withLock { $0.started = true }
                // Held until the test has its whole response (or for 5 s, so that a
                // server that waits for this fails the test instead of hanging it).
                for _ in 0..<500 where !bookkeeping.withLock({ $0.released }) {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                bookkeeping.withLock { $0.done = true }
            }), route)
        }
        try await makeServer(service: service).test(.live) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: streamBody) {
                let text = String(buffer: $0.body)
                #expect(text.contains(#""content":"tok""#) && text.hasSuffix("data: [DONE]\n\n"))
                let state = bookkeeping.withLock { state in
                    defer { state.released = true }
                    return state
                }
                #expect(state.started && !state.done, "the end waited for the bookkeeping")
            }
            // The connection serves the next request once the producer is done.
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: streamBody) {
                #expect(String(buffer: $0.body).hasSuffix("data: [DONE]\n\n"))
            }
        }
    }

    @Test func upstreamFailureMidStreamBecomesAnErrorEvent() async throws {
        let chunk = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "partial"))])
        let service = FakeChatService { _ throws(GatewayError) in
            .stream(ChatStream { emit in
                try await emit(.chunk(chunk))
                throw GatewayError.badUpstreamResponse("connection reset", provider: "p")
            }, route)
        }
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: streamBody) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("partial"))
                #expect(text.contains(#"data: {"error":{"#))
                #expect(!text.contains("[DONE]"))
            }
        }
    }

    @Test func engineErrorsUseTheOpenAIShape() async throws {
        let service = FakeChatService { _ throws(GatewayError) in throw .modelNotFound("a-model") }
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: chatBody) { response in
                #expect(response.status == .notFound)
                let body = try json(response.body)
                #expect(body["error"]?["code"] == "model_not_found")
                #expect(body["error"]?["type"] == "invalid_request_error")
                #expect(body["error"]?["param"] == "model")
                #expect(body["error"]?["message"]?.stringValue?.isEmpty == false)
            }
        }
    }

    @Test func rateLimitsCarryRetryAfter() async throws {
        let service = FakeChatService { _ throws(GatewayError) in
            throw .upstream(status: 429, message: "slow down", provider: "p", retryAfterSeconds: 12)
        }
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: chatBody) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[HTTPField.Name("Retry-After")!] == "12")
            }
        }
    }

    @Test func badInputIs400WithParam() async throws {
        let service = FakeChatService { _ throws(GatewayError) in .completion(.canonical(completion()), route) }
        let cases: [(String, String?)] = [
            ("{", nil),
            ("not json at all", nil),
            (#"{"model":"a-model","messages":[{"role":"user","content":"x"}],"temperature":"warm"}"#, "temperature"),
            (#"{"model":"a-model","messages":[{"role":"robot","content":"x"}]}"#, "messages[0].role"),
            (#"{"model":"a-model"}"#, "messages"),
            (#"{"model":"a-model","messages":[{"role":"user","content":"x"}],"n":1000}"#, "n"),
        ]
        try await makeApp(service: service).test(.router) { client in
            for (body, param) in cases {
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: authorized, body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .badRequest, "\(body)")
                    let error = try json(response.body)["error"]
                    #expect(error?["type"] == "invalid_request_error")
                    #expect(error?["param"] == (param.map { JSONValue.string($0) } ?? .null), "\(body)")
                }
            }
        }
        #expect(service.received.withLock { $0.isEmpty }, "bad requests never reach the engine")
        let rejections = service.rejections.withLock { $0 }
        #expect(rejections.count == cases.count, "but each leaves a log row")
        #expect(rejections.allSatisfy { $0.error.status == 400 && $0.principal.keyID == "id-\(clientKey)" })
        #expect(rejections[2].model == "a-model" && rejections[0].model == nil)
    }

    @Test func oversizedBodiesAre413() async throws {
        let service = FakeChatService { _ throws(GatewayError) in .completion(.canonical(completion()), route) }
        let big = #"{"model":"a-model","messages":[{"role":"user","content":""# + String(repeating: "x", count: 5000) + #""}]}"#
        try await makeApp(service: service, maxBodyBytes: 4096).test(.live) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: ByteBuffer(string: big)) {
                response in
                #expect(response.status == .contentTooLarge)
                let decoded = try json(response.body)
                #expect(decoded["error"]?["code"] == "request_too_large")
            }
        }
        #expect(service.rejections.withLock { $0.map(\.error.status) } == [413])
    }

    @Test func modelsListHonoursTheKeysGlobs() async throws {
        let service = FakeChatService { _ throws(GatewayError) in .completion(.canonical(completion()), route) }
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get, headers: authorized) { response in
                let body = try json(response.body)
                #expect(body["object"] == "list")
                #expect(body["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["a-model"])
            }
            try await client.execute(uri: "/v1/models/a-model", method: .get, headers: authorized) { response in
                let decoded = try json(response.body)
                #expect(decoded["id"] == "a-model")
            }
            try await client.execute(uri: "/v1/models/b-model", method: .get, headers: authorized) { response in
                #expect(response.status == .notFound)
            }
            // Percent-encoded ids are decoded before the lookup.
            try await client.execute(uri: "/v1/models/a%2Dmodel", method: .get, headers: authorized) { response in
                #expect(response.status == .ok)
                let decoded = try json(response.body)
                #expect(decoded["id"] == "a-model")
            }
        }
    }
}

struct FrontDoorTests {
    let service = FakeChatService { _ throws(GatewayError) in .completion(.canonical(completion()), route) }

    @Test func clientAuthentication() async throws {
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: chatBody) { response in
                #expect(response.status == .unauthorized)
                let decoded = try json(response.body)
                #expect(decoded["error"]?["code"] == "missing_api_key")
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer wrong"]) { response in
                #expect(response.status == .unauthorized)
                let decoded = try json(response.body)
                #expect(decoded["error"]?["code"] == "invalid_api_key")
                #expect(!String(buffer: response.body).contains("wrong"))
            }
            for headers: HTTPFields in [
                [HTTPField.Name("x-api-key")!: clientKey], [HTTPField.Name("x-goog-api-key")!: clientKey],
                [.authorization: "bearer \(clientKey)"],
            ] {
                try await client.execute(uri: "/v1/models", method: .get, headers: headers) { response in
                    #expect(response.status == .ok)
                }
            }
            try await client.execute(uri: "/v1/models?key=\(clientKey)", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func anonymousOnlyOnLoopbackWithoutKeys() async throws {
        try await makeApp(service: service, keys: [], loopback: true).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: chatBody) { response in
                #expect(response.status == .ok)
            }
        }
        #expect(service.received.withLock { $0.last?.1 } == .anonymous)
        try await makeApp(service: service, keys: [], loopback: false).test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authorized, body: chatBody) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func adminAuthentication() async throws {
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/admin/providers", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/admin/providers", method: .get, headers: [.authorization: "Bearer \(clientKey)"]) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/admin/providers", method: .get, headers: [.authorization: "Bearer \(adminKey)"]) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(!text.contains("sk-very-secret-upstream"), "secrets are never returned")
                let provider = try json(response.body)["data"]?.arrayValue?.first
                #expect(provider?["name"] == "openai")
                #expect(provider?["api_keys"]?.arrayValue?.first?["last4"] == "9876")
                let decoded = try json(response.body)
                #expect(decoded["next_cursor"] == .null)
            }
        }
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/admin/health", method: .get, headers: [.authorization: "Bearer \(clientKey)"]) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/admin/health", method: .get, headers: [.authorization: "Bearer \(adminKey)"]) { response in
                #expect(response.status == .ok)
                let report = try json(response.body)
                #expect(report["status"] == "ok")
                let target = report["providers"]?.arrayValue?.first?["targets"]?.arrayValue?.first
                #expect(target?["latency_p50_ms"] == .double(12.5) && target?["state"] == "closed")
                #expect(report["providers"]?.arrayValue?.first?["keys"]?.arrayValue?.first?["last4"] == "9876")
            }
        }
        try await makeApp(service: service, adminKey: nil).test(.router) { client in
            try await client.execute(uri: "/admin/providers", method: .get, headers: [.authorization: "Bearer anything"]) { response in
                #expect(response.status == .unauthorized)
                let decoded = try json(response.body)
                #expect(decoded["error"]?["code"] == "admin_key_not_configured")
            }
        }
    }

    @Test func requestIDsAreEchoedOrReplaced() async throws {
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(
                uri: "/healthz", method: .get, headers: [HTTPField.Name("x-request-id")!: "my-trace:42"]
            ) { response in
                #expect(response.headers[HTTPField.Name("x-request-id")!] == "my-trace:42")
            }
            try await client.execute(
                uri: "/healthz", method: .get, headers: [HTTPField.Name("x-request-id")!: "bad id with spaces"]
            ) { response in
                let id = response.headers[HTTPField.Name("x-request-id")!]
                #expect(id != nil && id != "bad id with spaces" && RequestID.isValid(id!))
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: chatBody) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[HTTPField.Name("x-request-id")!] != nil, "errors carry the id too")
            }
        }
    }

    @Test func unknownRoutesAndOps() async throws {
        try await makeApp(service: service).test(.router) { client in
            try await client.execute(uri: "/v1/nothing", method: .get) { response in
                #expect(response.status == .notFound)
                let decoded = try json(response.body)
                #expect(decoded["error"]?["code"] == "unknown_route")
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
        try await makeApp(service: service, ready: false).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
            }
        }
    }

    @Test func credentialExtraction() {
        #expect(ClientCredential.extract(headers: [.authorization: "Bearer  abc "], query: nil) == "abc")
        #expect(ClientCredential.extract(headers: [.authorization: "Basic abc"], query: nil) == nil)
        #expect(ClientCredential.extract(headers: [.authorization: "\tbEaReR\tsk-1 "], query: nil) == "sk-1")
        for bad in ["Bearer", "Bearer   ", "Bearerabc", "Bearer-abc", "", "Bear abc"] {
            #expect(ClientCredential.extract(headers: [.authorization: bad], query: nil) == nil, "\(bad)")
        }
        #expect(ClientCredential.extract(headers: [:], query: "a=1&key=k%2Bv") == "k+v")
        #expect(ClientCredential.extract(headers: [:], query: "monkey=1") == nil)
        // Non-ASCII tokens come back whole (they are then simply unknown keys).
        #expect(ClientCredential.extract(headers: [.authorization: "Bearer ключ-é"], query: nil) == "ключ-é")
        #expect(ClientCredential.extract(headers: [.authorization: "Bearer\u{00A0}abc"], query: nil) == nil)
        // The other styles, in order; an unusable Authorization falls through to them.
        #expect(ClientCredential.extract(headers: [.xAPIKey: "anthropic-style"], query: nil) == "anthropic-style")
        #expect(ClientCredential.extract(headers: [.xGoogAPIKey: "gemini-style"], query: "key=q") == "gemini-style")
        #expect(ClientCredential.extract(headers: [.authorization: "Basic x", .xAPIKey: "k"], query: nil) == "k")
        // A repeated field: the first one counts, never the two joined into one token.
        var twice = HTTPFields()
        twice.append(HTTPField(name: .authorization, value: "Bearer first"))
        twice.append(HTTPField(name: .authorization, value: "Bearer second"))
        #expect(ClientCredential.extract(headers: twice, query: nil) == "first")
    }

    @Test func firstValueReadsOneFieldOfSeveral() {
        var fields: HTTPFields = [.contentType: "application/json"]
        fields.append(HTTPField(name: .accept, value: "a"))
        fields.append(HTTPField(name: .accept, value: "b"))
        #expect(fields.firstValue(.accept) == "a")
        #expect(fields[.accept] == "a, b")
        #expect(fields.firstValue(HTTPField.Name("Content-Type")!) == "application/json")
        #expect(fields.firstValue(.authorization) == nil)
        #expect(HTTPFields().firstValue(.accept) == nil)
    }
}

struct RequestTargetTests {
    @Test func theQueryStartsAtTheFirstQuestionMark() throws {
        func split(_ target: String) -> (String, String?) {
            guard let start = RequestHead.queryStart(in: target) else { return (target, nil) }
            return (String(target[..<start]), String(target[target.index(after: start)...]))
        }
        #expect(split("/v1/chat/completions") == ("/v1/chat/completions", nil))
        #expect(split("/v1beta/models/m:streamGenerateContent?alt=sse&key=k") == ("/v1beta/models/m:streamGenerateContent", "alt=sse&key=k"))
        #expect(split("/v1/chat/completions?") == ("/v1/chat/completions", ""))
        #expect(split("/v1/a?b?c") == ("/v1/a", "b?c"))
        #expect(split("?x") == ("", "x"))
        #expect(split("") == ("", nil))
        // Multi-byte UTF-8 before the query: the index is a byte offset, not a character count.
        #expect(split("/v1/mödel/ü?q=é") == ("/v1/mödel/ü", "q=é"))
    }
}
