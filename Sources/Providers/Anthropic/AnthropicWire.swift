import OrchestratorCore

// The Anthropic Messages API wire format (https://docs.anthropic.com/en/api/messages),
// as Codable types. Fields the gateway does not translate are kept in `extra` where
// they belong to the block, so nothing a client sent is silently reshaped.

/// `POST /v1/messages` request body.
struct AnthropicRequest: Sendable, Hashable, Codable {
    var model: String
    var maxTokens: Int?
    var system: AnthropicContent?
    var messages: [AnthropicMessage]
    var stopSequences: [String]?
    var stream: Bool?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var tools: [AnthropicTool]?
    var toolChoice: AnthropicToolChoice?
    var metadata: [String: JSONValue]?
    var thinking: JSONValue?
    var extra: [String: JSONValue] = [:]

    init(model: String, maxTokens: Int?, messages: [AnthropicMessage]) {
        self.model = model
        self.maxTokens = maxTokens
        self.messages = messages
    }

    static let knownKeys: Set<String> = [
        "model", "max_tokens", "system", "messages", "stop_sequences", "stream", "temperature", "top_p", "top_k",
        "tools", "tool_choice", "metadata", "thinking",
    ]

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        model = try c.required(String.self, "model")
        maxTokens = try c.optional(Int.self, "max_tokens")
        system = try c.optional(AnthropicContent.self, "system")
        messages = try c.required([AnthropicMessage].self, "messages")
        stopSequences = try c.optional([String].self, "stop_sequences")
        stream = try c.optional(Bool.self, "stream")
        temperature = try c.optional(Double.self, "temperature")
        topP = try c.optional(Double.self, "top_p")
        topK = try c.optional(Int.self, "top_k")
        tools = try c.optional([AnthropicTool].self, "tools")
        toolChoice = try c.optional(AnthropicToolChoice.self, "tool_choice")
        metadata = try c.optional([String: JSONValue].self, "metadata")
        thinking = try c.optional(JSONValue.self, "thinking")
        extra = try c.unknownFields(excluding: Self.knownKeys)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(model, "model")
        try c.put(maxTokens, "max_tokens")
        try c.put(system, "system")
        try c.put(messages, "messages")
        try c.put(stopSequences, "stop_sequences")
        try c.put(stream, "stream")
        try c.put(temperature, "temperature")
        try c.put(topP, "top_p")
        try c.put(topK, "top_k")
        try c.put(tools, "tools")
        try c.put(toolChoice, "tool_choice")
        try c.put(metadata, "metadata")
        try c.put(thinking, "thinking")
        try c.putUnknown(extra)
    }
}

/// A message's (or the system prompt's) content: a string or an array of blocks.
enum AnthropicContent: Sendable, Hashable, Codable {
    case text(String)
    case blocks([AnthropicBlock])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = .text(s)
            return
        }
        do {
            self = .blocks(try c.decode([AnthropicBlock].self))
        } catch let error as DecodingError {
            if case .typeMismatch = error, (try? c.decode([JSONValue].self)) == nil {
                throw DecodingError.typeMismatch(
                    AnthropicContent.self,
                    .init(codingPath: c.codingPath, debugDescription: "expected a string or an array of content blocks"))
            }
            throw error
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .text(let s): try c.encode(s)
        case .blocks(let b): try c.encode(b)
        }
    }

    var blocks: [AnthropicBlock] {
        switch self {
        case .text(let s): return [.text(s)]
        case .blocks(let b): return b
        }
    }
}

/// One conversation turn.
struct AnthropicMessage: Sendable, Hashable, Codable {
    var role: String
    var content: AnthropicContent

    init(role: String, content: AnthropicContent) {
        self.role = role
        self.content = content
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        let role = try c.required(String.self, "role")
        guard role == "user" || role == "assistant" else {
            throw DecodingError.dataCorruptedError(
                forKey: AnyCodingKey("role"), in: c,
                debugDescription: "unknown role \"\(role)\"; expected user or assistant (the system prompt goes in `system`)")
        }
        self.role = role
        self.content = try c.required(AnthropicContent.self, "content")
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(role, "role")
        try c.put(content, "content")
    }
}

/// An image or document `source`: `base64` (`media_type` + `data`), `url`, or another kind kept as sent.
struct AnthropicSource: Sendable, Hashable, Codable {
    var type: String
    var mediaType: String?
    var data: String?
    var url: String?
    var extra: [String: JSONValue] = [:]

    init(type: String, mediaType: String? = nil, data: String? = nil, url: String? = nil) {
        self.type = type
        self.mediaType = mediaType
        self.data = data
        self.url = url
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        type = try c.required(String.self, "type")
        mediaType = try c.optional(String.self, "media_type")
        data = try c.optional(String.self, "data")
        url = try c.optional(String.self, "url")
        extra = try c.unknownFields(excluding: ["type", "media_type", "data", "url"])
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(type, "type")
        try c.put(mediaType, "media_type")
        try c.put(data, "data")
        try c.put(url, "url")
        try c.putUnknown(extra)
    }
}

/// A content block of a request or a response.
enum AnthropicBlock: Sendable, Hashable, Codable {
    case text(String, extra: [String: JSONValue] = [:])
    case image(AnthropicSource, extra: [String: JSONValue] = [:])
    case document(AnthropicSource, extra: [String: JSONValue] = [:])
    case toolUse(id: String, name: String, input: JSONValue, extra: [String: JSONValue] = [:])
    case toolResult(toolUseID: String, content: AnthropicContent?, isError: Bool?, extra: [String: JSONValue] = [:])
    case thinking(String, signature: String?, extra: [String: JSONValue] = [:])
    case redactedThinking(data: String)
    /// Any other block (`server_tool_use`, `web_search_tool_result`, …), kept as sent.
    case other(type: String, fields: [String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        let type = try c.required(String.self, "type")
        switch type {
        case "text":
            self = .text(try c.required(String.self, "text"), extra: try c.unknownFields(excluding: ["type", "text"]))
        case "image":
            self = .image(
                try c.required(AnthropicSource.self, "source"), extra: try c.unknownFields(excluding: ["type", "source"]))
        case "document":
            self = .document(
                try c.required(AnthropicSource.self, "source"), extra: try c.unknownFields(excluding: ["type", "source"]))
        case "tool_use":
            self = .toolUse(
                id: try c.required(String.self, "id"), name: try c.required(String.self, "name"),
                input: try c.optional(JSONValue.self, "input") ?? .object([:]),
                extra: try c.unknownFields(excluding: ["type", "id", "name", "input"]))
        case "tool_result":
            self = .toolResult(
                toolUseID: try c.required(String.self, "tool_use_id"),
                content: try c.optional(AnthropicContent.self, "content"), isError: try c.optional(Bool.self, "is_error"),
                extra: try c.unknownFields(excluding: ["type", "tool_use_id", "content", "is_error"]))
        case "thinking":
            self = .thinking(
                try c.required(String.self, "thinking"), signature: try c.optional(String.self, "signature"),
                extra: try c.unknownFields(excluding: ["type", "thinking", "signature"]))
        case "redacted_thinking":
            self = .redactedThinking(data: try c.required(String.self, "data"))
        default:
            self = .other(type: type, fields: try c.unknownFields(excluding: ["type"]))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        switch self {
        case .text(let text, let extra):
            try c.put("text", "type")
            try c.put(text, "text")
            try c.putUnknown(extra)
        case .image(let source, let extra):
            try c.put("image", "type")
            try c.put(source, "source")
            try c.putUnknown(extra)
        case .document(let source, let extra):
            try c.put("document", "type")
            try c.put(source, "source")
            try c.putUnknown(extra)
        case .toolUse(let id, let name, let input, let extra):
            try c.put("tool_use", "type")
            try c.put(id, "id")
            try c.put(name, "name")
            try c.put(input, "input")
            try c.putUnknown(extra)
        case .toolResult(let id, let content, let isError, let extra):
            try c.put("tool_result", "type")
            try c.put(id, "tool_use_id")
            try c.put(content, "content")
            try c.put(isError, "is_error")
            try c.putUnknown(extra)
        case .thinking(let thinking, let signature, let extra):
            try c.put("thinking", "type")
            try c.put(thinking, "thinking")
            try c.put(signature, "signature")
            try c.putUnknown(extra)
        case .redactedThinking(let data):
            try c.put("redacted_thinking", "type")
            try c.put(data, "data")
        case .other(let type, let fields):
            try c.put(type, "type")
            try c.putUnknown(fields)
        }
    }
}

/// A tool definition: a client tool (`name`, `description`, `input_schema`) or a
/// server tool with its own `type`, kept as sent.
struct AnthropicTool: Sendable, Hashable, Codable {
    var type: String?
    var name: String
    var description: String?
    var inputSchema: JSONValue?
    var extra: [String: JSONValue] = [:]

    init(type: String? = nil, name: String, description: String? = nil, inputSchema: JSONValue?, extra: [String: JSONValue] = [:]) {
        self.type = type
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.extra = extra
    }

    /// Whether this is a client tool the model calls with `tool_use` (not a server tool).
    var isClientTool: Bool { type == nil || type == "custom" }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        type = try c.optional(String.self, "type")
        name = try c.required(String.self, "name")
        description = try c.optional(String.self, "description")
        inputSchema = try c.optional(JSONValue.self, "input_schema")
        extra = try c.unknownFields(excluding: ["type", "name", "description", "input_schema"])
        if isClientTool, inputSchema == nil {
            throw DecodingError.keyNotFound(
                AnyCodingKey("input_schema"), .init(codingPath: c.codingPath, debugDescription: "input_schema is required"))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(type, "type")
        try c.put(name, "name")
        try c.put(description, "description")
        try c.put(inputSchema, "input_schema")
        try c.putUnknown(extra)
    }
}

/// `tool_choice`: `auto`, `any`, `tool` (with `name`) or `none`.
struct AnthropicToolChoice: Sendable, Hashable, Codable {
    var type: String
    var name: String?
    var disableParallelToolUse: Bool?

    init(type: String, name: String? = nil, disableParallelToolUse: Bool? = nil) {
        self.type = type
        self.name = name
        self.disableParallelToolUse = disableParallelToolUse
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        type = try c.required(String.self, "type")
        switch type {
        case "auto", "any", "none": name = try c.optional(String.self, "name")
        case "tool": name = try c.required(String.self, "name")
        default:
            throw DecodingError.dataCorruptedError(
                forKey: AnyCodingKey("type"), in: c,
                debugDescription: "unknown tool_choice type \"\(type)\"; expected auto, any, tool or none")
        }
        disableParallelToolUse = try c.optional(Bool.self, "disable_parallel_tool_use")
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(type, "type")
        try c.put(name, "name")
        try c.put(disableParallelToolUse, "disable_parallel_tool_use")
    }
}

/// A `message` response object (also the `message` of a stream's `message_start`).
struct AnthropicResponse: Sendable, Hashable, Codable {
    var id: String
    var type: String = "message"
    var role: String = "assistant"
    var content: [AnthropicBlock]
    var model: String
    var stopReason: String?
    var stopSequence: String?
    var usage: AnthropicUsage

    init(id: String, content: [AnthropicBlock], model: String, stopReason: String?, stopSequence: String? = nil, usage: AnthropicUsage) {
        self.id = id
        self.content = content
        self.model = model
        self.stopReason = stopReason
        self.stopSequence = stopSequence
        self.usage = usage
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        id = try c.optional(String.self, "id") ?? ""
        type = try c.optional(String.self, "type") ?? "message"
        role = try c.optional(String.self, "role") ?? "assistant"
        content = try c.optional([AnthropicBlock].self, "content") ?? []
        model = try c.optional(String.self, "model") ?? ""
        stopReason = try c.optional(String.self, "stop_reason")
        stopSequence = try c.optional(String.self, "stop_sequence")
        usage = try c.optional(AnthropicUsage.self, "usage") ?? AnthropicUsage()
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(id, "id")
        try c.put(type, "type")
        try c.put(role, "role")
        try c.put(content, "content")
        try c.put(model, "model")
        // Both are always present in Anthropic's responses, null when not applicable.
        try c.encode(stopReason, forKey: AnyCodingKey("stop_reason"))
        try c.encode(stopSequence, forKey: AnyCodingKey("stop_sequence"))
        try c.put(usage, "usage")
    }
}

/// `usage`: input tokens exclude the cached ones, which are reported apart.
struct AnthropicUsage: Sendable, Hashable, Codable {
    var inputTokens: Int?
    var outputTokens: Int?
    var cacheCreationInputTokens: Int?
    var cacheReadInputTokens: Int?

    init(inputTokens: Int? = nil, outputTokens: Int? = nil, cacheCreationInputTokens: Int? = nil, cacheReadInputTokens: Int? = nil) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheCreationInputTokens = cacheCreationInputTokens
        self.cacheReadInputTokens = cacheReadInputTokens
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        inputTokens = try c.optional(Int.self, "input_tokens")
        outputTokens = try c.optional(Int.self, "output_tokens")
        cacheCreationInputTokens = try c.optional(Int.self, "cache_creation_input_tokens")
        cacheReadInputTokens = try c.optional(Int.self, "cache_read_input_tokens")
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(inputTokens, "input_tokens")
        try c.put(outputTokens, "output_tokens")
        try c.put(cacheCreationInputTokens, "cache_creation_input_tokens")
        try c.put(cacheReadInputTokens, "cache_read_input_tokens")
    }

    /// Merges a later report (a stream's `message_delta`) into this one. Output tokens
    /// are cumulative, so the later count wins; an input or cache count only replaces a
    /// known one when it is positive (some compatible servers send zeros at the end).
    mutating func merge(_ later: AnthropicUsage) {
        if let v = later.outputTokens { outputTokens = v }
        func take(_ value: Int?, into current: inout Int?) {
            guard let value else { return }
            if current == nil || value > 0 { current = value }
        }
        take(later.inputTokens, into: &inputTokens)
        take(later.cacheCreationInputTokens, into: &cacheCreationInputTokens)
        take(later.cacheReadInputTokens, into: &cacheReadInputTokens)
    }

    /// As OpenAI counts it: prompt tokens include the cache reads and writes, and the
    /// cache reads are also reported as `cached_tokens`.
    var canonical: Usage {
        let cacheRead = cacheReadInputTokens ?? 0
        let prompt = (inputTokens ?? 0) + cacheRead + (cacheCreationInputTokens ?? 0)
        return Usage(
            promptTokens: prompt, completionTokens: outputTokens ?? 0,
            cachedTokens: cacheReadInputTokens)
    }

    /// From OpenAI's counts: the input excludes the cached tokens.
    init(_ usage: Usage) {
        let cached = usage.cachedTokens ?? 0
        self.init(
            inputTokens: max(0, usage.promptTokens - cached), outputTokens: usage.completionTokens,
            cacheCreationInputTokens: 0, cacheReadInputTokens: cached)
    }
}
