import HTTPTypes
import Logging
import NIOCore
import OrchestratorCore
import Synchronization

/// A transport that records requests and answers from a script.
final class ScriptedTransport: HTTPTransport {
    let requests = Mutex<[TransportRequest]>([])
    let respond: @Sendable (TransportRequest) throws -> TransportResponse

    init(_ respond: @escaping @Sendable (TransportRequest) throws -> TransportResponse) {
        self.respond = respond
    }

    func execute(_ request: TransportRequest, deadline: ContinuousClock.Instant, logger: Logger) async throws
        -> TransportResponse
    {
        requests.withLock { $0.append(request) }
        return try respond(request)
    }

    var lastBody: String { requests.withLock { $0.last?.body.map { String(buffer: $0) } ?? "" } }
}

extension TransportResponse {
    static func json(_ status: Int, _ body: String, headers: HTTPFields = [:]) -> TransportResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return TransportResponse(status: status, headers: headers, body: ErasedAsyncSequence(elements: [ByteBuffer(string: body)]))
    }

    /// Body delivered in the given pieces (to exercise chunk boundaries).
    static func sse(_ pieces: [String]) -> TransportResponse {
        TransportResponse(
            status: 200, headers: [.contentType: "text/event-stream"],
            body: ErasedAsyncSequence(elements: pieces.map { ByteBuffer(string: $0) }))
    }
}

func makeCall(
    _ json: String, style: APIStyle = .openai, provider: ProviderConfig = ProviderConfig(name: "up", type: .openai, baseURL: "http://upstream.test/v1/"),
    target: TargetConfig = TargetConfig(provider: "up", model: "real-model"), apiKey: String? = "sk-upstream",
    locatingModel: Bool = false
) throws -> ProviderCall {
    let body = ByteBuffer(string: json)
    // Located as the OpenAI inbound codec locates it (the fast decoder), or not at all.
    let (chat, modelValue) =
        locatingModel ? try ChatRequest.decodeLocatingModel(from: body) : (try JSONCoding.decodeRequest(ChatRequest.self, from: body), nil)
    return ProviderCall(
        request: InboundRequest(style: style, body: body, chat: chat, requestID: "req-1", receivedAtMillis: 0, modelValue: modelValue),
        provider: provider, target: target, apiKey: apiKey, deadline: .now + .seconds(30), logger: Logger(label: "test"))
}

func collect(_ stream: ProviderStream) async throws -> [ProviderStreamEvent] {
    var events: [ProviderStreamEvent] = []
    for try await event in stream.events { events.append(event) }
    return events
}

extension ProviderStreamEvent {
    var rawText: String? {
        if case .part(.raw(let b)) = self { return String(buffer: b) }
        return nil
    }
    var chunk: ChatCompletionChunk? {
        if case .part(.chunk(let c)) = self { return c }
        return nil
    }
    var usage: Usage? {
        if case .usage(let u) = self { return u }
        return nil
    }
}
