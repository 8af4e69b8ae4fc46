import Foundation
public import NIOCore

/// One API style's inbound wire format: its requests in, its responses, stream events
/// and errors out. Implemented in `Providers` and injected into `HTTPFront`.
public protocol InboundCodec: Sendable {
    var style: APIStyle { get }

    /// What the codec's route asks for (chat unless it says otherwise).
    var operation: APIOperation { get }

    /// Decodes and validates a chat request body.
    /// - Throws: a 400 ``GatewayError`` whose `param` names the offending field.
    func decodeChatRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest

    /// Decodes a request whose route also carries part of it (Gemini's model and stream
    /// flag are in the path). By default the route adds nothing.
    func decodeChatRequest(_ body: ByteBuffer, route: RouteParameters) throws(GatewayError) -> ChatRequest

    /// ``decodeChatRequest(_:route:)``, and where the body's top-level `model` value lies
    /// in its readable bytes when the codec's decoder saw it (see
    /// ``InboundRequest/modelValue``). By default, nowhere.
    func decodeChatRequestLocatingModel(_ body: ByteBuffer, route: RouteParameters) throws(GatewayError)
        -> (request: ChatRequest, modelValue: Range<Int>?)

    /// A fresh encoder for one response stream to `request`, which may depend on the
    /// route (Gemini streams as SSE only with `alt=sse`). By default, by its chat request.
    func makeStreamEncoder(for request: InboundRequest) -> any InboundStreamEncoder

    /// Encodes a canonical completion as this style's response body.
    func encodeCompletion(_ completion: ChatCompletion) throws(GatewayError) -> ByteBuffer

    /// A fresh encoder for one response stream to `request`.
    func makeStreamEncoder(for request: ChatRequest) -> any InboundStreamEncoder

    /// The error body for a non-streaming error response.
    func encodeError(_ error: GatewayError) -> ByteBuffer

    /// Decodes a token-counting request (`/v1/messages/count_tokens`): a chat request
    /// without the fields only generation needs.
    func decodeTokenCountRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest
}

extension InboundCodec {
    public var operation: APIOperation { .chat }

    public func decodeChatRequest(_ body: ByteBuffer, route: RouteParameters) throws(GatewayError) -> ChatRequest {
        try decodeChatRequest(body)
    }

    public func decodeChatRequestLocatingModel(_ body: ByteBuffer, route: RouteParameters) throws(GatewayError)
        -> (request: ChatRequest, modelValue: Range<Int>?)
    {
        (try decodeChatRequest(body, route: route), nil)
    }

    public func makeStreamEncoder(for request: InboundRequest) -> any InboundStreamEncoder {
        makeStreamEncoder(for: request.chat)
    }

    public func decodeTokenCountRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest {
        try decodeChatRequest(body)
    }
}

/// Encodes one response stream in an inbound style. Stateful: some styles frame the
/// whole stream (Anthropic's `message_start` … `message_stop`), not just each chunk.
public protocol InboundStreamEncoder: Sendable {
    /// Encodes a canonical chunk as framed events; nil when it carries nothing this style shows.
    mutating func encode(_ chunk: ChatCompletionChunk) throws(GatewayError) -> ByteBuffer?

    /// Bytes that end a successful stream (`data: [DONE]` for OpenAI), given what was
    /// encoded; raw pass-through parts carry their own ending.
    mutating func finish() -> ByteBuffer?

    /// The event that ends a stream which failed after it started.
    func encodeError(_ error: GatewayError) -> ByteBuffer

    /// The response's `Content-Type`.
    var contentType: String { get }

    /// Frames already in this style (same-style pass-through) as they go to the client;
    /// unchanged unless the client asked for another framing of the same events.
    mutating func encodeRaw(_ frames: ByteBuffer) -> ByteBuffer
}

extension InboundStreamEncoder {
    public var contentType: String { "text/event-stream" }

    public mutating func encodeRaw(_ frames: ByteBuffer) -> ByteBuffer { frames }
}

/// Rough token counts for when an upstream reports no usage, or a stream is cut short.
public enum TokenEstimator {
    /// About four characters of English per token, at least one token for non-empty text.
    public static func tokens(forCharacters count: Int) -> Int {
        count == 0 ? 0 : max(1, (count + 3) / 4)
    }

    /// Estimated prompt tokens of a request: its message texts plus a few per message.
    public static func promptTokens(_ request: ChatRequest) -> Int {
        var chars = 0
        for message in request.messages {
            chars += message.content?.plainText.count ?? 0
            for call in message.toolCalls ?? [] { chars += call.function.name.count + call.function.arguments.count }
        }
        return tokens(forCharacters: chars) + 3 * request.messages.count
    }

    /// Estimated input tokens of a request, its tool definitions included (what
    /// `/v1/messages/count_tokens` answers when no upstream counts for it).
    public static func inputTokens(_ request: ChatRequest) -> Int {
        var chars = 0
        for tool in request.tools ?? [] {
            guard let function = tool.function else { continue }
            chars += function.name.count + (function.description?.count ?? 0)
            if let parameters = function.parameters, let schema = try? JSONCoding.encodeString(parameters) {
                chars += schema.count
            }
        }
        return promptTokens(request) + tokens(forCharacters: chars)
    }
}

/// Scrubs secrets out of text before it reaches a log line or a client.
public enum Redaction {
    /// Replaces bearer tokens, `api-key`/`x-api-key`/`x-goog-api-key` header values,
    /// `key=` query parameters and `sk-…`-style keys with `[REDACTED]`.
    public static func scrub(_ text: String) -> String {
        var out = text
        for pattern in patterns {
            out = out.replacingOccurrences(of: pattern, with: "$1[REDACTED]", options: [.regularExpression, .caseInsensitive])
        }
        return out
    }

    /// `scrub(text)`, and every occurrence of `secret` (the upstream key a call used)
    /// replaced too: an upstream may echo its key in a shape no pattern knows.
    public static func scrub(_ text: String, secret: String?) -> String {
        var out = scrub(text)
        if let secret, secret.utf8.count >= 4, out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: "[REDACTED]")
        }
        return out
    }

    private static let patterns = [
        #"(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"#,
        #"((?:x-api-key|api-key|x-goog-api-key|authorization)["']?\s*[:=]\s*["']?)[^\s"',}]{6,}"#,
        #"([?&]key=)[^&\s"']+"#,
        #"()\bsk-[A-Za-z0-9_-]{8,}"#,
    ]
}

extension GatewayError {
    /// This error with `secret` (the upstream key of the call that failed) scrubbed out
    /// of every text a client or a log line sees: message, type, code and param.
    public func redacting(_ secret: String?) -> GatewayError {
        guard let secret, secret.utf8.count >= 4 else { return self }
        func clean(_ text: String) -> String {
            text.contains(secret) ? text.replacingOccurrences(of: secret, with: "[REDACTED]") : text
        }
        var copy = self
        copy.message = clean(message)
        copy.type = clean(type)
        copy.code = code.map(clean)
        copy.param = param.map(clean)
        return copy
    }
}
