public import NIOCore
public import OrchestratorCore

/// The Anthropic Messages API on the inbound side (`POST /v1/messages`): requests in
/// Anthropic's format, answers as `message` objects and Anthropic event streams, errors
/// as `{"type":"error","error":{"type","message"}}`.
public struct AnthropicInboundCodec: InboundCodec {
    public let style: APIStyle = .anthropic

    public init() {}

    public func decodeChatRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest {
        try decode(body, forTokenCount: false)
    }

    /// `count_tokens` takes the request without `max_tokens`.
    public func decodeTokenCountRequest(_ body: ByteBuffer) throws(GatewayError) -> ChatRequest {
        try decode(body, forTokenCount: true)
    }

    private func decode(_ body: ByteBuffer, forTokenCount: Bool) throws(GatewayError) -> ChatRequest {
        try JSONCoding.validateRequest(body)
        // The common shape straight from the bytes; anything else, and every error, the slow way.
        var request: AnthropicRequest
        if let fast = body.withUnsafeReadableBytes({ AnthropicRequestFastDecoder.decode($0) }) {
            request = fast
        } else {
            request = try JSONCoding.decodeValidatedRequest(AnthropicRequest.self, from: body)
        }
        if forTokenCount, request.maxTokens == nil { request.maxTokens = 1 }
        try AnthropicTranslation.validate(request)
        return AnthropicTranslation.chatRequest(from: request)
    }

    public func encodeCompletion(_ completion: ChatCompletion) throws(GatewayError) -> ByteBuffer {
        do {
            return try JSONCoding.encode(AnthropicTranslation.response(from: completion))
        } catch {
            throw .internalError("Could not encode the message.")
        }
    }

    public func makeStreamEncoder(for request: ChatRequest) -> any InboundStreamEncoder {
        AnthropicStreamEncoder(estimatedInputTokens: TokenEstimator.promptTokens(request))
    }

    public func encodeError(_ error: GatewayError) -> ByteBuffer {
        var out: [UInt8] = []
        Self.appendError(error, to: &out)
        return ByteBuffer(bytes: out)
    }

    /// Anthropic's error `type` for a status (https://docs.anthropic.com/en/api/errors).
    static func errorType(_ error: GatewayError) -> String {
        // An upstream's own Anthropic error type (from a stream's error event) is kept.
        if error.code == "upstream_stream_error", knownErrorTypes.contains(error.type) { return error.type }
        switch error.status {
        case 400, 422: return "invalid_request_error"
        case 401: return "authentication_error"
        case 402: return "billing_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        case 504: return "timeout_error"
        case 500..<600: return "api_error"
        default: return "invalid_request_error"
        }
    }

    static let knownErrorTypes: Set<String> = [
        "invalid_request_error", "authentication_error", "billing_error", "permission_error", "not_found_error",
        "request_too_large", "rate_limit_error", "api_error", "overloaded_error", "timeout_error",
    ]

    static func appendError(_ error: GatewayError, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"type":"error","error":{"type":"#.utf8)
        JSONCoding.appendQuoted(errorType(error), to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONCoding.appendQuoted(error.message, to: &out)
        out.append(contentsOf: "}}".utf8)
    }
}

/// Canonical chunks → the Anthropic event sequence: `message_start`, for each piece of
/// output a `content_block_start` / `content_block_delta`… / `content_block_stop`
/// (thinking, text, one `tool_use` block per tool call), then `message_delta` with the
/// stop reason and usage, and `message_stop`.
///
/// A text or thinking block is stopped when the next block starts. Tool blocks stay open
/// until output other than tool calls starts or the message ends, so fragments of
/// parallel calls that an upstream interleaves still land in their own block (Anthropic
/// clients accumulate by index and finalize a block at its stop). A new `id` on an
/// index already seen starts a new call, as some compatible servers reuse indices.
struct AnthropicStreamEncoder: InboundStreamEncoder {
    let estimatedInputTokens: Int
    private var started = false
    private var encodedAny = false
    private var nextIndex = 0
    /// The open text or thinking block.
    private var open: (index: Int, kind: Kind)?
    /// Open tool blocks, in the order they started.
    private var openTools: [(call: Int, block: Int, id: String?)] = []
    private var sawToolCall = false
    private var finishReason: String?
    private var usage: Usage?
    /// Output characters seen, for an estimate when the upstream reports no usage.
    private var outputCharacters = 0

    private enum Kind: Equatable {
        case text, thinking
    }

    init(estimatedInputTokens: Int) {
        self.estimatedInputTokens = estimatedInputTokens
    }

    mutating func encode(_ chunk: ChatCompletionChunk) throws(GatewayError) -> ByteBuffer? {
        encodedAny = true
        var out: [UInt8] = []
        if !started { start(id: chunk.id, model: chunk.model, into: &out) }
        if let usage = chunk.usage { self.usage = usage }
        for choice in chunk.choices where choice.index == 0 {
            let delta = choice.delta
            if let reasoning = delta.reasoningContent, !reasoning.isEmpty {
                ensureOpen(.thinking, into: &out)
                blockDelta(type: "thinking_delta", field: "thinking", value: reasoning, into: &out)
                outputCharacters += reasoning.count
            }
            if case .array(let blocks)? = delta.extra[AnthropicTranslation.thinkingBlocksKey] {
                for block in blocks { carry(block, into: &out) }
            }
            for text in [delta.content, delta.refusal] {
                guard let text, !text.isEmpty else { continue }
                ensureOpen(.text, into: &out)
                blockDelta(type: "text_delta", field: "text", value: text, into: &out)
                outputCharacters += text.count
            }
            for call in delta.toolCalls ?? [] { toolCall(call, into: &out) }
            if let finish = choice.finishReason { finishReason = finish }
        }
        return out.isEmpty ? nil : ByteBuffer(bytes: out)
    }

    mutating func finish() -> ByteBuffer? {
        // Raw pass-through parts carry their own message_stop.
        guard encodedAny else { return nil }
        var out: [UInt8] = []
        if !started { start(id: "", model: "", into: &out) }
        closeAll(into: &out)
        let final = usage.map(AnthropicUsage.init)
        let outputTokens = final?.outputTokens ?? TokenEstimator.tokens(forCharacters: outputCharacters)
        let stop = AnthropicTranslation.stopReason(finishReason, hasToolCalls: sawToolCall)
        var body: [UInt8] = []
        body.append(contentsOf: #"{"type":"message_delta","delta":{"stop_reason":"#.utf8)
        JSONCoding.appendQuoted(stop, to: &body)
        body.append(contentsOf: #","stop_sequence":null},"usage":{"output_tokens":\#(outputTokens)"#.utf8)
        if let final {
            body.append(
                contentsOf:
                    #","input_tokens":\#(final.inputTokens ?? 0),"cache_read_input_tokens":\#(final.cacheReadInputTokens ?? 0),"cache_creation_input_tokens":\#(final.cacheCreationInputTokens ?? 0)"#
                    .utf8)
        }
        body.append(contentsOf: "}}".utf8)
        Self.event("message_delta", body, into: &out)
        Self.event("message_stop", Array(#"{"type":"message_stop"}"#.utf8), into: &out)
        return ByteBuffer(bytes: out)
    }

    func encodeError(_ error: GatewayError) -> ByteBuffer {
        var body: [UInt8] = []
        AnthropicInboundCodec.appendError(error, to: &body)
        var out: [UInt8] = []
        Self.event("error", body, into: &out)
        return ByteBuffer(bytes: out)
    }

    private mutating func start(id: String, model: String, into out: inout [UInt8]) {
        started = true
        var body: [UInt8] = []
        body.append(contentsOf: #"{"type":"message_start","message":{"id":"#.utf8)
        JSONCoding.appendQuoted(AnthropicTranslation.messageID(id), to: &body)
        body.append(contentsOf: #","type":"message","role":"assistant","content":[],"model":"#.utf8)
        JSONCoding.appendQuoted(model, to: &body)
        body.append(
            contentsOf:
                #","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":\#(estimatedInputTokens),"output_tokens":0}}}"#
                .utf8)
        Self.event("message_start", body, into: &out)
    }

    /// One tool-call delta: a new call opens its block, fragments go to their call's block.
    private mutating func toolCall(_ call: ChatCompletionChunk.ToolCallDelta, into out: inout [UInt8]) {
        sawToolCall = true
        let block: Int
        if let existing = openTools.last(where: { $0.call == call.index }), call.id == nil || call.id == existing.id {
            block = existing.block
        } else {
            closeTextOrThinking(into: &out)
            block = nextIndex
            nextIndex += 1
            openTools.append((call.index, block, call.id))
            var start: [UInt8] = []
            start.append(contentsOf: #"{"type":"content_block_start","index":\#(block),"content_block":{"type":"tool_use","id":"#.utf8)
            JSONCoding.appendQuoted(call.id ?? "toolu_\(block)", to: &start)
            start.append(contentsOf: #","name":"#.utf8)
            JSONCoding.appendQuoted(call.function?.name ?? "", to: &start)
            start.append(contentsOf: #","input":{}}}"#.utf8)
            Self.event("content_block_start", start, into: &out)
        }
        if let arguments = call.function?.arguments, !arguments.isEmpty {
            outputCharacters += arguments.count
            var body: [UInt8] = []
            body.append(contentsOf: #"{"type":"content_block_delta","index":\#(block),"delta":{"type":"input_json_delta","partial_json":"#.utf8)
            JSONCoding.appendQuoted(arguments, to: &body)
            body.append(contentsOf: "}}".utf8)
            Self.event("content_block_delta", body, into: &out)
        }
    }

    /// A thinking block an upstream carried in `thinking_blocks`: the signature of the
    /// thinking being streamed, or a redacted block of its own.
    private mutating func carry(_ block: JSONValue, into out: inout [UInt8]) {
        switch block["type"]?.stringValue {
        case "thinking":
            guard let signature = block["signature"]?.stringValue, !signature.isEmpty else { return }
            ensureOpen(.thinking, into: &out)
            blockDelta(type: "signature_delta", field: "signature", value: signature, into: &out)
        case "redacted_thinking":
            guard let data = block["data"]?.stringValue else { return }
            closeAll(into: &out)
            let index = nextIndex
            nextIndex += 1
            var start: [UInt8] = []
            start.append(contentsOf: #"{"type":"content_block_start","index":\#(index),"content_block":{"type":"redacted_thinking","data":"#.utf8)
            JSONCoding.appendQuoted(data, to: &start)
            start.append(contentsOf: "}}".utf8)
            Self.event("content_block_start", start, into: &out)
            Self.stop(index, into: &out)
        default:
            break
        }
    }

    private mutating func ensureOpen(_ kind: Kind, into out: inout [UInt8]) {
        if let open, open.kind == kind, openTools.isEmpty { return }
        closeAll(into: &out)
        let index = nextIndex
        nextIndex += 1
        open = (index, kind)
        let block = kind == .text ? #"{"type":"text","text":""}"# : #"{"type":"thinking","thinking":"","signature":""}"#
        Self.event(
            "content_block_start", Array(#"{"type":"content_block_start","index":\#(index),"content_block":\#(block)}"#.utf8),
            into: &out)
    }

    private mutating func closeTextOrThinking(into out: inout [UInt8]) {
        guard let open else { return }
        self.open = nil
        Self.stop(open.index, into: &out)
    }

    private mutating func closeAll(into out: inout [UInt8]) {
        closeTextOrThinking(into: &out)
        for tool in openTools { Self.stop(tool.block, into: &out) }
        openTools = []
    }

    private func blockDelta(type: String, field: String, value: String, into out: inout [UInt8]) {
        guard let open else { return }
        var body: [UInt8] = []
        body.append(contentsOf: #"{"type":"content_block_delta","index":\#(open.index),"delta":{"type":"#.utf8)
        JSONCoding.appendQuoted(type, to: &body)
        body.append(contentsOf: ",".utf8)
        JSONCoding.appendQuoted(field, to: &body)
        body.append(contentsOf: ":".utf8)
        JSONCoding.appendQuoted(value, to: &body)
        body.append(contentsOf: "}}".utf8)
        Self.event("content_block_delta", body, into: &out)
    }

    private static func stop(_ index: Int, into out: inout [UInt8]) {
        event("content_block_stop", Array(#"{"type":"content_block_stop","index":\#(index)}"#.utf8), into: &out)
    }

    private static func event(_ name: String, _ data: [UInt8], into out: inout [UInt8]) {
        out.append(contentsOf: "event: ".utf8)
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: "\ndata: ".utf8)
        out.append(contentsOf: data)
        out.append(contentsOf: "\n\n".utf8)
    }
}
