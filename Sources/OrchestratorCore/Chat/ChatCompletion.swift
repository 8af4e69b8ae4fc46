/// A non-streaming chat completion (`object: "chat.completion"`).
public struct ChatCompletion: Sendable, Hashable, Codable {
    public var id: String
    public var object: String
    public var created: Int64
    public var model: String
    public var choices: [Choice]
    public var usage: Usage?
    public var systemFingerprint: String?
    public var extra: [String: JSONValue]

    public init(
        id: String, object: String = "chat.completion", created: Int64, model: String, choices: [Choice],
        usage: Usage? = nil, systemFingerprint: String? = nil, extra: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.object = object
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
        self.systemFingerprint = systemFingerprint
        self.extra = extra
    }

    public struct Choice: Sendable, Hashable, Codable {
        public var index: Int
        public var message: ChatMessage
        public var finishReason: String?
        public var logprobs: JSONValue?
        public var extra: [String: JSONValue]

        public init(
            index: Int, message: ChatMessage, finishReason: String?, logprobs: JSONValue? = nil,
            extra: [String: JSONValue] = [:]
        ) {
            self.index = index
            self.message = message
            self.finishReason = finishReason
            self.logprobs = logprobs
            self.extra = extra
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyCodingKey.self)
            self.index = try c.optional(Int.self, "index") ?? 0
            self.message = try c.required(ChatMessage.self, "message")
            self.finishReason = try c.optional(String.self, "finish_reason")
            self.logprobs = try c.optional(JSONValue.self, "logprobs")
            self.extra = try c.unknownFields(excluding: ["index", "message", "finish_reason", "logprobs"])
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            try c.put(index, "index")
            try c.put(message, "message")
            try c.encode(finishReason, forKey: AnyCodingKey("finish_reason"))
            try c.encode(logprobs ?? .null, forKey: AnyCodingKey("logprobs"))
            try c.putUnknown(extra)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.id = try c.optional(String.self, "id") ?? ""
        self.object = try c.optional(String.self, "object") ?? "chat.completion"
        self.created = try c.optional(Int64.self, "created") ?? 0
        self.model = try c.optional(String.self, "model") ?? ""
        self.choices = try c.required([Choice].self, "choices")
        self.usage = try c.optional(Usage.self, "usage")
        self.systemFingerprint = try c.optional(String.self, "system_fingerprint")
        self.extra = try c.unknownFields(excluding: [
            "id", "object", "created", "model", "choices", "usage", "system_fingerprint",
        ])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(id, "id")
        try c.put(object, "object")
        try c.put(created, "created")
        try c.put(model, "model")
        try c.put(choices, "choices")
        try c.put(usage, "usage")
        try c.put(systemFingerprint, "system_fingerprint")
        try c.putUnknown(extra)
    }
}

/// Token usage as OpenAI reports it.
public struct Usage: Sendable, Hashable, Codable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    /// `prompt_tokens_details.cached_tokens`.
    public var cachedTokens: Int?
    /// `completion_tokens_details.reasoning_tokens`.
    public var reasoningTokens: Int?
    /// Any other details (`audio_tokens`, `accepted_prediction_tokens`, …), kept as sent.
    public var promptDetailsExtra: [String: JSONValue]
    public var completionDetailsExtra: [String: JSONValue]
    public var extra: [String: JSONValue]

    public init(
        promptTokens: Int, completionTokens: Int, totalTokens: Int? = nil, cachedTokens: Int? = nil,
        reasoningTokens: Int? = nil
    ) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens ?? Self.sum(promptTokens, completionTokens)
        self.cachedTokens = cachedTokens
        self.reasoningTokens = reasoningTokens
        self.promptDetailsExtra = [:]
        self.completionDetailsExtra = [:]
        self.extra = [:]
    }

    /// A total that cannot trap: the counts come from upstreams.
    static func sum(_ a: Int, _ b: Int) -> Int {
        let (total, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : total
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.promptTokens = try c.optional(Int.self, "prompt_tokens") ?? 0
        self.completionTokens = try c.optional(Int.self, "completion_tokens") ?? 0
        self.totalTokens = try c.optional(Int.self, "total_tokens") ?? Self.sum(promptTokens, completionTokens)
        var promptDetails = try c.optional([String: JSONValue].self, "prompt_tokens_details") ?? [:]
        // DeepSeek reports cached prompt tokens as `prompt_cache_hit_tokens` (kept in `extra` too).
        self.cachedTokens =
            promptDetails.removeValue(forKey: "cached_tokens")?.intValue
            ?? (try? c.optional(Int.self, "prompt_cache_hit_tokens")) ?? nil
        self.promptDetailsExtra = promptDetails
        var completionDetails = try c.optional([String: JSONValue].self, "completion_tokens_details") ?? [:]
        self.reasoningTokens = completionDetails.removeValue(forKey: "reasoning_tokens")?.intValue
        self.completionDetailsExtra = completionDetails
        self.extra = try c.unknownFields(excluding: [
            "prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details",
        ])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(promptTokens, "prompt_tokens")
        try c.put(completionTokens, "completion_tokens")
        try c.put(totalTokens, "total_tokens")
        if cachedTokens != nil || !promptDetailsExtra.isEmpty {
            var details = promptDetailsExtra
            if let cachedTokens { details["cached_tokens"] = .int(Int64(cachedTokens)) }
            try c.put(details, "prompt_tokens_details")
        }
        if reasoningTokens != nil || !completionDetailsExtra.isEmpty {
            var details = completionDetailsExtra
            if let reasoningTokens { details["reasoning_tokens"] = .int(Int64(reasoningTokens)) }
            try c.put(details, "completion_tokens_details")
        }
        try c.putUnknown(extra)
    }
}
