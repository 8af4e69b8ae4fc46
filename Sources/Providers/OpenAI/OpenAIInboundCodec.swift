public import NIOCore
public import OrchestratorCore

/// The OpenAI chat completions wire format on the inbound side.
public struct OpenAIInboundCodec: InboundCodec {
    public let style: APIStyle = .openai

    public init() {}

    public func decodeChatRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest {
        try decodeChatRequestLocatingModel(body, route: RouteParameters()).request
    }

    public func decodeChatRequestLocatingModel(_ body: ByteBuffer, route: RouteParameters) throws(GatewayError)
        -> (request: ChatRequest, modelValue: Range<Int>?)
    {
        let decoded = try ChatRequest.decodeLocatingModel(from: body)
        try decoded.request.validate()
        return decoded
    }

    public func encodeCompletion(_ completion: ChatCompletion) throws(GatewayError) -> ByteBuffer {
        do {
            return try JSONCoding.encode(completion)
        } catch {
            throw .internalError("Could not encode the completion.")
        }
    }

    public func makeStreamEncoder(for request: ChatRequest) -> any InboundStreamEncoder {
        OpenAIStreamEncoder(includeUsage: request.wantsStreamUsage)
    }

    public func encodeError(_ error: GatewayError) -> ByteBuffer {
        (try? JSONCoding.encode(OpenAIErrorBody(error))) ?? ByteBuffer(string: #"{"error":{"message":"error"}}"#)
    }
}

/// OpenAI `chat.completion.chunk` events, each framed as `data: …`, ended by `data: [DONE]`.
public struct OpenAIStreamEncoder: InboundStreamEncoder {
    let includeUsage: Bool

    public init(includeUsage: Bool) {
        self.includeUsage = includeUsage
    }

    public mutating func encode(_ chunk: ChatCompletionChunk) throws(GatewayError) -> ByteBuffer? {
        if chunk.isUsageOnly && !includeUsage { return nil }
        var chunk = chunk
        if !includeUsage { chunk.usage = nil }
        do {
            return SSEWriter.frame(jsonBytes: try JSONCoding.encode(chunk))
        } catch {
            throw .internalError("Could not encode a stream chunk.")
        }
    }

    /// The pass-through path drops the upstream's `[DONE]` (it ends the upstream's
    /// stream, not necessarily the client's), so it is always written here.
    public mutating func finish() -> ByteBuffer? {
        ByteBuffer(string: "data: [DONE]\n\n")
    }

    public func encodeError(_ error: GatewayError) -> ByteBuffer {
        SSEWriter.frame(jsonBytes: OpenAIInboundCodec().encodeError(error))
    }
}

/// `{"error":{"message","type","param","code"}}`, OpenAI's error body (also used by `/admin`).
public struct OpenAIErrorBody: Encodable, Sendable {
    struct Inner: Encodable, Sendable {
        var message: String
        var type: String
        var param: String?
        var code: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            try c.encode(message, forKey: AnyCodingKey("message"))
            try c.encode(type, forKey: AnyCodingKey("type"))
            try c.encode(param, forKey: AnyCodingKey("param"))
            try c.encode(code, forKey: AnyCodingKey("code"))
        }
    }
    var error: Inner

    public init(_ error: GatewayError) {
        self.error = Inner(message: error.message, type: error.type, param: error.param, code: error.code)
    }
}
