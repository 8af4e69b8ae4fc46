/// One server-sent event of a streaming chat completion (`object: "chat.completion.chunk"`).
public struct ChatCompletionChunk: Sendable, Hashable, Codable {
    public var id: String
    public var object: String
    public var created: Int64
    public var model: String
    public var choices: [Choice]
    public var usage: Usage?
    public var systemFingerprint: String?
    public var extra: [String: JSONValue]

    public init(
        id: String, object: String = "chat.completion.chunk", created: Int64, model: String, choices: [Choice],
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

    /// Whether this is the usage-only chunk sent at the end when `include_usage` is set.
    public var isUsageOnly: Bool { choices.isEmpty && usage != nil }

    public struct Choice: Sendable, Hashable, Codable {
        public var index: Int
        public var delta: Delta
        public var finishReason: String?
        public var logprobs: JSONValue?
        public var extra: [String: JSONValue]

        public init(
            index: Int, delta: Delta, finishReason: String? = nil, logprobs: JSONValue? = nil,
            extra: [String: JSONValue] = [:]
        ) {
            self.index = index
            self.delta = delta
            self.finishReason = finishReason
            self.logprobs = logprobs
            self.extra = extra
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyCodingKey.self)
            self.index = try c.optional(Int.self, "index") ?? 0
            self.delta = try c.optional(Delta.self, "delta") ?? Delta()
            self.finishReason = try c.optional(String.self, "finish_reason")
            self.logprobs = try c.optional(JSONValue.self, "logprobs")
            self.extra = try c.unknownFields(excluding: ["index", "delta", "finish_reason", "logprobs"])
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            try c.put(index, "index")
            try c.put(delta, "delta")
            try c.encode(finishReason, forKey: AnyCodingKey("finish_reason"))
            try c.put(logprobs, "logprobs")
            try c.putUnknown(extra)
        }
    }

    /// The incremental part of a message.
    public struct Delta: Sendable, Hashable, Codable {
        public var role: String?
        public var content: String?
        public var reasoningContent: String?
        public var refusal: String?
        public var toolCalls: [ToolCallDelta]?
        public var extra: [String: JSONValue]

        public init(
            role: String? = nil, content: String? = nil, reasoningContent: String? = nil, refusal: String? = nil,
            toolCalls: [ToolCallDelta]? = nil, extra: [String: JSONValue] = [:]
        ) {
            self.role = role
            self.content = content
            self.reasoningContent = reasoningContent
            self.refusal = refusal
            self.toolCalls = toolCalls
            self.extra = extra
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyCodingKey.self)
            self.role = try c.optional(String.self, "role")
            self.content = try c.optional(String.self, "content")
            // vLLM, Ollama and OpenRouter name it `reasoning`.
            self.reasoningContent =
                try c.optional(String.self, "reasoning_content") ?? (try? c.optional(String.self, "reasoning")) ?? nil
            self.refusal = try c.optional(String.self, "refusal")
            self.toolCalls = try c.optional([ToolCallDelta].self, "tool_calls")
            var extra = try c.unknownFields(excluding: ["role", "content", "reasoning_content", "refusal", "tool_calls"])
            if extra["reasoning"]?.stringValue != nil { extra.removeValue(forKey: "reasoning") }
            self.extra = extra
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            try c.put(role, "role")
            try c.put(content, "content")
            try c.put(reasoningContent, "reasoning_content")
            try c.put(refusal, "refusal")
            try c.put(toolCalls, "tool_calls")
            try c.putUnknown(extra)
        }
    }

    /// A piece of a tool call: the first carries `id` and the function name, later
    /// ones only argument fragments, all with the same `index`.
    public struct ToolCallDelta: Sendable, Hashable, Codable {
        public var index: Int
        public var id: String?
        public var type: String?
        public var function: FunctionDelta?
        /// Other members (Gemini's `extra_content.google.thought_signature`), kept as sent.
        public var extra: [String: JSONValue]

        public init(
            index: Int, id: String? = nil, type: String? = nil, function: FunctionDelta? = nil,
            extra: [String: JSONValue] = [:]
        ) {
            self.index = index
            self.id = id
            self.type = type
            self.function = function
            self.extra = extra
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyCodingKey.self)
            self.index = try c.required(Int.self, "index")
            self.id = try c.optional(String.self, "id")
            self.type = try c.optional(String.self, "type")
            self.function = try c.optional(FunctionDelta.self, "function")
            self.extra = try c.unknownFields(excluding: ["index", "id", "type", "function"])
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            try c.put(index, "index")
            try c.put(id, "id")
            try c.put(type, "type")
            try c.put(function, "function")
            try c.putUnknown(extra)
        }
    }

    public struct FunctionDelta: Sendable, Hashable, Codable {
        public var name: String?
        public var arguments: String?
        public init(name: String? = nil, arguments: String? = nil) {
            self.name = name
            self.arguments = arguments
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.id = try c.optional(String.self, "id") ?? ""
        self.object = try c.optional(String.self, "object") ?? "chat.completion.chunk"
        self.created = try c.optional(Int64.self, "created") ?? 0
        self.model = try c.optional(String.self, "model") ?? ""
        self.choices = try c.optional([Choice].self, "choices") ?? []
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
