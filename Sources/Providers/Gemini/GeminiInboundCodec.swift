public import NIOCore
public import OrchestratorCore

/// The Gemini API's wire format on the inbound side:
/// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`, the model
/// and the stream flag taken from the path; streams as SSE with `alt=sse`, else as a
/// JSON array sent in pieces (as Google's API does).
public struct GeminiInboundCodec: InboundCodec {
    public let style: APIStyle = .gemini

    public init() {}

    public func decodeChatRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest {
        throw .invalidRequest("Gemini requests name their model in the path: /v1beta/models/{model}:generateContent")
    }

    public func decodeChatRequest(_ body: ByteBuffer, route: RouteParameters) throws(GatewayError) -> ChatRequest {
        guard let model = route.model, !model.isEmpty else {
            throw .invalidRequest("the path must name a model: /v1beta/models/{model}:generateContent", param: "model")
        }
        let request = try JSONCoding.decodeRequest(GeminiRequest.self, from: body)
        try GeminiTranslation.validate(request)
        return GeminiTranslation.chatRequest(from: request, model: model, stream: route.stream == true)
    }

    public func encodeCompletion(_ completion: ChatCompletion) throws(GatewayError) -> ByteBuffer {
        do {
            return try JSONCoding.encode(GeminiTranslation.response(from: completion))
        } catch {
            throw .internalError("Could not encode the response.")
        }
    }

    public func makeStreamEncoder(for request: ChatRequest) -> any InboundStreamEncoder {
        GeminiStreamEncoder(sse: true)
    }

    public func makeStreamEncoder(for request: InboundRequest) -> any InboundStreamEncoder {
        GeminiStreamEncoder(sse: request.route.queryValue("alt") == "sse")
    }

    public func encodeError(_ error: GatewayError) -> ByteBuffer {
        (try? JSONCoding.encode(GeminiErrorBody(error))) ?? ByteBuffer(string: #"{"error":{"code":500,"message":"error","status":"INTERNAL"}}"#)
    }
}

/// Canonical chunks as Gemini stream responses. Text and thoughts go out as they come;
/// tool calls, which OpenAI-style upstreams stream in fragments, are gathered and sent
/// whole (as Gemini does) with the finish reason; the usage rides on the last chunk.
struct GeminiStreamEncoder: InboundStreamEncoder {
    /// `alt=sse` framing (`data: …\r\n\r\n`); else one JSON array (`[{…}\r\n,{…}]`).
    let sse: Bool
    private var wroteAny = false
    private var modelVersion: String?
    private var responseID: String?
    /// Tool calls being assembled, per choice and tool index.
    private var calls: [Int: [Int: GeminiToolCallBuilder]] = [:]
    /// A finished choice's last chunk, held for the usage that follows it.
    private var held: [Int: String] = [:]
    private var usage: Usage?

    init(sse: Bool) {
        self.sse = sse
    }

    var contentType: String { sse ? "text/event-stream" : "application/json" }

    mutating func encode(_ chunk: ChatCompletionChunk) throws(GatewayError) -> ByteBuffer? {
        modelVersion = modelVersion ?? (chunk.model.isEmpty ? nil : chunk.model)
        responseID = responseID ?? (chunk.id.isEmpty ? nil : chunk.id)
        if let usage = chunk.usage { self.usage = usage }
        var candidates: [GeminiCandidate] = []
        for choice in chunk.choices {
            var parts: [GeminiPart] = []
            if let reasoning = choice.delta.reasoningContent, !reasoning.isEmpty {
                parts.append(GeminiPart(text: reasoning, thought: true))
            }
            if let text = choice.delta.content, !text.isEmpty { parts.append(GeminiPart(text: text)) }
            for delta in choice.delta.toolCalls ?? [] {
                var builder = calls[choice.index]?[delta.index] ?? GeminiToolCallBuilder()
                builder.add(delta)
                calls[choice.index, default: [:]][delta.index] = builder
            }
            if let finish = choice.finishReason {
                held[choice.index] = finish
                if !parts.isEmpty {
                    candidates.append(GeminiCandidate(content: GeminiContent(role: "model", parts: parts), finishReason: nil, index: choice.index))
                }
                continue
            }
            if !parts.isEmpty {
                candidates.append(GeminiCandidate(content: GeminiContent(role: "model", parts: parts), finishReason: nil, index: choice.index))
            }
        }
        guard !candidates.isEmpty else { return nil }
        return try frame(GeminiResponse(candidates: candidates))
    }

    mutating func finish() -> ByteBuffer? {
        var candidates: [GeminiCandidate] = []
        let indices = Set(held.keys).union(calls.keys).sorted()
        for index in indices {
            let parts = (calls[index] ?? [:]).sorted { $0.key < $1.key }.map { $0.value.part }
            candidates.append(
                GeminiCandidate(
                    content: GeminiContent(role: "model", parts: parts.isEmpty ? [GeminiPart(text: "")] : parts),
                    finishReason: GeminiTranslation.geminiFinishReason(held[index]) ?? "STOP", index: index))
        }
        var out = ByteBuffer()
        if !candidates.isEmpty || usage != nil {
            var response = GeminiResponse(candidates: candidates.isEmpty ? nil : candidates)
            response.usageMetadata = usage.map(GeminiUsage.init)
            if var bytes = try? frame(response) { out.writeBuffer(&bytes) }
        }
        if !sse { out.writeString(wroteAny ? "]" : "[]") }
        return out.readableBytes > 0 ? out : nil
    }

    func encodeError(_ error: GatewayError) -> ByteBuffer {
        var out = ByteBuffer()
        write(element: GeminiInboundCodec().encodeError(error), first: !wroteAny, into: &out)
        if !sse { out.writeString("]") }
        return out
    }

    /// Same-style pass-through frames (`data: {…}` events) as they go out: unchanged for
    /// SSE clients, re-framed as array elements for the others.
    mutating func encodeRaw(_ frames: ByteBuffer) -> ByteBuffer {
        if sse { return frames }
        var out = ByteBuffer()
        var scanner = SSEScanner()
        var first = !wroteAny
        let sse = self.sse
        func element(_ event: SSEScanner.Event) -> Bool {
            Self.write(element: ByteBuffer(bytes: event.data), sse: sse, first: first, into: &out)
            first = false
            return true
        }
        try? scanner.feed(frames, element)
        scanner.finish(element)
        wroteAny = !first
        return out
    }

    private mutating func frame(_ response: GeminiResponse) throws(GatewayError) -> ByteBuffer {
        var response = response
        response.modelVersion = modelVersion
        response.responseId = responseID
        let body: ByteBuffer
        do {
            body = try JSONCoding.encode(response)
        } catch {
            throw .internalError("Could not encode a stream chunk.")
        }
        var out = ByteBuffer()
        write(element: body, first: !wroteAny, into: &out)
        wroteAny = true
        return out
    }

    private func write(element: ByteBuffer, first: Bool, into out: inout ByteBuffer) {
        Self.write(element: element, sse: sse, first: first, into: &out)
    }

    /// One response: an SSE event (`data: …\r\n\r\n`, Google's framing), or the next
    /// element of the JSON array (the array is closed by ``finish()``).
    private static func write(element: ByteBuffer, sse: Bool, first: Bool, into out: inout ByteBuffer) {
        if sse {
            out.writeString("data: ")
            out.writeImmutableBuffer(element)
            out.writeString("\r\n\r\n")
        } else {
            out.writeString(first ? "[" : ",\r\n")
            out.writeImmutableBuffer(element)
        }
    }
}

/// Assembles one streamed tool call from its deltas.
struct GeminiToolCallBuilder: Sendable {
    var id: String?
    var name = ""
    var arguments = ""
    var extra: [String: JSONValue] = [:]

    mutating func add(_ delta: ChatCompletionChunk.ToolCallDelta) {
        if let id = delta.id { self.id = id }
        if let name = delta.function?.name { self.name += name }
        if let arguments = delta.function?.arguments { self.arguments += arguments }
        for (key, value) in delta.extra { extra[key] = value }
    }

    var part: GeminiPart {
        var part = GeminiPart()
        part.functionCall = GeminiFunctionCall(id: id, name: name, args: GeminiTranslation.jsonArguments(arguments))
        part.thoughtSignature = GeminiTranslation.thoughtSignature(extra)
        return part
    }
}
