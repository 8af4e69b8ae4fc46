/// A chat completion request in OpenAI's shape: the gateway's canonical request.
///
/// Every field of the chat completions API that routing or translation needs is
/// typed; everything else (`audio`, `modalities`, `prediction`, `service_tier`, …) is kept
/// in `extra` and written back unchanged, so OpenAI-style upstreams see what the client sent.
public struct ChatRequest: Sendable, Hashable, Codable {
    public var model: String
    public var messages: [ChatMessage]
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var temperature: Double?
    public var topP: Double?
    public var maxTokens: Int?
    public var maxCompletionTokens: Int?
    public var n: Int?
    public var stop: StopSequences?
    public var seed: Int64?
    public var user: String?
    public var tools: [Tool]?
    public var toolChoice: ToolChoice?
    public var parallelToolCalls: Bool?
    public var responseFormat: ResponseFormat?
    public var logprobs: Bool?
    public var topLogprobs: Int?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    public var logitBias: [String: JSONValue]?
    public var reasoningEffort: String?
    public var metadata: [String: JSONValue]?
    public var extra: [String: JSONValue]

    public init(
        model: String,
        messages: [ChatMessage],
        stream: Bool? = nil,
        streamOptions: StreamOptions? = nil,
        temperature: Double? = nil,
        topP: Double? = nil,
        maxTokens: Int? = nil,
        maxCompletionTokens: Int? = nil,
        n: Int? = nil,
        stop: StopSequences? = nil,
        seed: Int64? = nil,
        user: String? = nil,
        tools: [Tool]? = nil,
        toolChoice: ToolChoice? = nil,
        parallelToolCalls: Bool? = nil,
        responseFormat: ResponseFormat? = nil,
        logprobs: Bool? = nil,
        topLogprobs: Int? = nil,
        presencePenalty: Double? = nil,
        frequencyPenalty: Double? = nil,
        logitBias: [String: JSONValue]? = nil,
        reasoningEffort: String? = nil,
        metadata: [String: JSONValue]? = nil,
        extra: [String: JSONValue] = [:]
    ) {
        self.model = model
        self.messages = messages
        self.stream = stream
        self.streamOptions = streamOptions
        self.temperature = temperature
        self.topP = topP
        self.maxTokens = maxTokens
        self.maxCompletionTokens = maxCompletionTokens
        self.n = n
        self.stop = stop
        self.seed = seed
        self.user = user
        self.tools = tools
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
        self.responseFormat = responseFormat
        self.logprobs = logprobs
        self.topLogprobs = topLogprobs
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.logitBias = logitBias
        self.reasoningEffort = reasoningEffort
        self.metadata = metadata
        self.extra = extra
    }

    /// Whether the client asked for a server-sent event stream.
    public var isStreaming: Bool { stream == true }

    /// Whether the client asked for the usage chunk at the end of a stream.
    public var wantsStreamUsage: Bool { streamOptions?.includeUsage == true }

    /// What a target must be able to do to serve this request.
    public var requiredCapabilities: Set<Capability> {
        var needed: Set<Capability> = []
        if let tools, !tools.isEmpty { needed.insert(.tools) }
        if messages.contains(where: { $0.content?.hasImage == true }) { needed.insert(.vision) }
        if responseFormat?.wantsJSON == true { needed.insert(.json) }
        return needed
    }

    static let knownKeys: Set<String> = [
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
        "max_completion_tokens", "n", "stop", "seed", "user", "tools", "tool_choice", "parallel_tool_calls",
        "response_format", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias",
        "reasoning_effort", "metadata",
    ]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.model = try c.required(String.self, "model")
        self.messages = try c.required([ChatMessage].self, "messages")
        self.stream = try c.optional(Bool.self, "stream")
        self.streamOptions = try c.optional(StreamOptions.self, "stream_options")
        self.temperature = try c.optional(Double.self, "temperature")
        self.topP = try c.optional(Double.self, "top_p")
        self.maxTokens = try c.optional(Int.self, "max_tokens")
        self.maxCompletionTokens = try c.optional(Int.self, "max_completion_tokens")
        self.n = try c.optional(Int.self, "n")
        self.stop = try c.optional(StopSequences.self, "stop")
        self.seed = try c.optional(Int64.self, "seed")
        self.user = try c.optional(String.self, "user")
        self.tools = try c.optional([Tool].self, "tools")
        self.toolChoice = try c.optional(ToolChoice.self, "tool_choice")
        self.parallelToolCalls = try c.optional(Bool.self, "parallel_tool_calls")
        self.responseFormat = try c.optional(ResponseFormat.self, "response_format")
        self.logprobs = try c.optional(Bool.self, "logprobs")
        self.topLogprobs = try c.optional(Int.self, "top_logprobs")
        self.presencePenalty = try c.optional(Double.self, "presence_penalty")
        self.frequencyPenalty = try c.optional(Double.self, "frequency_penalty")
        self.logitBias = try c.optional([String: JSONValue].self, "logit_bias")
        self.reasoningEffort = try c.optional(String.self, "reasoning_effort")
        self.metadata = try c.optional([String: JSONValue].self, "metadata")
        self.extra = try c.unknownFields(excluding: Self.knownKeys)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(model, "model")
        try c.put(messages, "messages")
        try c.put(stream, "stream")
        try c.put(streamOptions, "stream_options")
        try c.put(temperature, "temperature")
        try c.put(topP, "top_p")
        try c.put(maxTokens, "max_tokens")
        try c.put(maxCompletionTokens, "max_completion_tokens")
        try c.put(n, "n")
        try c.put(stop, "stop")
        try c.put(seed, "seed")
        try c.put(user, "user")
        try c.put(tools, "tools")
        try c.put(toolChoice, "tool_choice")
        try c.put(parallelToolCalls, "parallel_tool_calls")
        try c.put(responseFormat, "response_format")
        try c.put(logprobs, "logprobs")
        try c.put(topLogprobs, "top_logprobs")
        try c.put(presencePenalty, "presence_penalty")
        try c.put(frequencyPenalty, "frequency_penalty")
        try c.put(logitBias, "logit_bias")
        try c.put(reasoningEffort, "reasoning_effort")
        try c.put(metadata, "metadata")
        try c.putUnknown(extra)
    }
}

extension ChatRequest {
    /// Checks value ranges the upstream APIs define, so the client gets a precise 400
    /// instead of an upstream error (or a bill).
    /// Bounds no real model comes near (the largest take about a million output tokens
    /// and a few hundred tools): beyond them a request is a mistake or an attack.
    public static let maxOutputTokens = 16_777_216
    public static let maxMessages = 100_000
    public static let maxTools = 1_024

    public func validate() throws(GatewayError) {
        if model.isEmpty { throw .invalidRequest("model must not be empty", param: "model") }
        if messages.isEmpty { throw .invalidRequest("messages must contain at least one message", param: "messages") }
        for (i, message) in messages.enumerated() {
            if message.role == .tool, message.toolCallID == nil {
                throw .invalidRequest("a tool message needs tool_call_id", param: "messages[\(i)].tool_call_id")
            }
            if message.content == nil, message.role != .assistant {
                throw .invalidRequest("content is required for role \(message.role)", param: "messages[\(i)].content")
            }
        }
        if let t = temperature, !(0...2).contains(t) {
            throw .invalidRequest("temperature must be between 0 and 2", param: "temperature")
        }
        if let p = topP, !(0...1).contains(p) {
            throw .invalidRequest("top_p must be between 0 and 1", param: "top_p")
        }
        if let m = maxTokens, !(1...Self.maxOutputTokens).contains(m) {
            throw .invalidRequest("max_tokens must be between 1 and \(Self.maxOutputTokens)", param: "max_tokens")
        }
        if let m = maxCompletionTokens, !(1...Self.maxOutputTokens).contains(m) {
            throw .invalidRequest(
                "max_completion_tokens must be between 1 and \(Self.maxOutputTokens)", param: "max_completion_tokens")
        }
        if messages.count > Self.maxMessages {
            throw .invalidRequest("messages may hold at most \(Self.maxMessages) messages", param: "messages")
        }
        if let tools, tools.count > Self.maxTools {
            throw .invalidRequest("tools may hold at most \(Self.maxTools) tools", param: "tools")
        }
        if let n, !(1...128).contains(n) { throw .invalidRequest("n must be between 1 and 128", param: "n") }
        if let stop, stop.values.count > 4 {
            throw .invalidRequest("stop may hold at most 4 sequences", param: "stop")
        }
        if let p = presencePenalty, !(-2...2).contains(p) {
            throw .invalidRequest("presence_penalty must be between -2 and 2", param: "presence_penalty")
        }
        if let p = frequencyPenalty, !(-2...2).contains(p) {
            throw .invalidRequest("frequency_penalty must be between -2 and 2", param: "frequency_penalty")
        }
        if let t = topLogprobs, !(0...20).contains(t) {
            throw .invalidRequest("top_logprobs must be between 0 and 20", param: "top_logprobs")
        }
        if streamOptions != nil, stream != true {
            throw .invalidRequest("stream_options is only allowed when stream is true", param: "stream_options")
        }
    }
}

/// What a target can do; a request needing a capability skips targets without it.
public enum Capability: String, Sendable, Hashable, Codable, CaseIterable {
    case tools
    case vision
    case json
}
