public import NIOCore
public import OrchestratorCore

/// `POST /v1/embeddings`: OpenAI's embeddings request in, the upstream's (or a
/// translated) embeddings list out; errors in OpenAI's shape.
public struct EmbeddingsInboundCodec: InboundCodec {
    public let style: APIStyle = .openai
    public let operation: APIOperation = .embeddings

    public init() {}

    public func decodeChatRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest {
        let request = try JSONCoding.decodeRequest(EmbeddingRequest.self, from: body)
        try request.validate()
        return request.routingView
    }

    public func encodeCompletion(_ completion: ChatCompletion) throws(GatewayError) -> ByteBuffer {
        // Embeddings always come back as the upstream's (or the adapter's) OpenAI bytes.
        throw .internalError("An embeddings response cannot be a chat completion.")
    }

    public func makeStreamEncoder(for request: ChatRequest) -> any InboundStreamEncoder {
        OpenAIStreamEncoder(includeUsage: false)
    }

    public func encodeError(_ error: GatewayError) -> ByteBuffer {
        OpenAIInboundCodec().encodeError(error)
    }
}

/// `POST /v1/responses`: OpenAI's Responses API, forwarded to OpenAI-style upstreams
/// with only `model` rewritten; the upstream's bytes and events come back unchanged.
public struct ResponsesInboundCodec: InboundCodec {
    public let style: APIStyle = .openai
    public let operation: APIOperation = .responses

    public init() {}

    /// The fields the gateway itself needs; everything else is the upstream's to judge.
    struct Peek: Decodable {
        var model: String
        var stream: Bool?
        var input: JSONValue?
        var instructions: String?

        enum CodingKeys: String, CodingKey {
            case model, stream, input, instructions
        }
    }

    public func decodeChatRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest {
        let peek = try JSONCoding.decodeRequest(Peek.self, from: body)
        if peek.model.isEmpty { throw .invalidRequest("model must not be empty", param: "model") }
        var text = peek.instructions.map { $0 + "\n" } ?? ""
        if let input = peek.input { Self.collectText(input, into: &text) }
        return ChatRequest(
            model: peek.model, messages: [ChatMessage(role: .user, content: .text(text))], stream: peek.stream)
    }

    /// Every string under `input` (message texts, `input_text` parts), for estimates.
    static func collectText(_ value: JSONValue, into text: inout String) {
        switch value {
        case .string(let s): text += s
        case .array(let items): for item in items { collectText(item, into: &text) }
        case .object(let fields):
            for (key, field) in fields where key == "content" || key == "text" || key == "output" { collectText(field, into: &text) }
        default: break
        }
    }

    public func encodeCompletion(_ completion: ChatCompletion) throws(GatewayError) -> ByteBuffer {
        throw .internalError("A Responses API response cannot be a chat completion.")
    }

    public func makeStreamEncoder(for request: ChatRequest) -> any InboundStreamEncoder {
        ResponsesStreamEncoder()
    }

    public func encodeError(_ error: GatewayError) -> ByteBuffer {
        OpenAIInboundCodec().encodeError(error)
    }
}

/// A Responses API stream: the upstream's events pass through as they are; a stream
/// that fails after it started ends with an `error` event, as OpenAI's does.
struct ResponsesStreamEncoder: InboundStreamEncoder {
    mutating func encode(_ chunk: ChatCompletionChunk) throws(GatewayError) -> ByteBuffer? {
        throw .internalError("A Responses API stream carries only upstream events.")
    }

    mutating func finish() -> ByteBuffer? { nil }

    func encodeError(_ error: GatewayError) -> ByteBuffer {
        var out = ByteBuffer(string: "event: error\ndata: ")
        let body =
            #"{"type":"error","code":\#(JSONCoding.quoted(error.code ?? error.type)),"message":\#(JSONCoding.quoted(error.message)),"param":\#(error.param.map(JSONCoding.quoted) ?? "null")}"#
        out.writeString(body)
        out.writeString("\n\n")
        return out
    }
}
