/// One message of a chat completion request, in OpenAI's shape.
///
/// `content` is either a plain string or an array of content parts; assistant
/// messages may carry `tool_calls` instead. Fields the type does not model are kept
/// in `extra` and written back unchanged.
public struct ChatMessage: Sendable, Hashable, Codable {
    public var role: Role
    public var content: MessageContent?
    public var name: String?
    public var toolCalls: [ToolCall]?
    public var toolCallID: String?
    public var refusal: String?
    /// Reasoning text some OpenAI-compatible servers (DeepSeek, vLLM) return.
    public var reasoningContent: String?
    public var extra: [String: JSONValue]

    public init(
        role: Role,
        content: MessageContent? = nil,
        name: String? = nil,
        toolCalls: [ToolCall]? = nil,
        toolCallID: String? = nil,
        refusal: String? = nil,
        reasoningContent: String? = nil,
        extra: [String: JSONValue] = [:]
    ) {
        self.role = role
        self.content = content
        self.name = name
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
        self.refusal = refusal
        self.reasoningContent = reasoningContent
        self.extra = extra
    }

    /// A message author's role.
    public struct Role: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let system = Role(rawValue: "system")
        public static let developer = Role(rawValue: "developer")
        public static let user = Role(rawValue: "user")
        public static let assistant = Role(rawValue: "assistant")
        public static let tool = Role(rawValue: "tool")
        public static let function = Role(rawValue: "function")
        /// Roles the chat completions API accepts.
        public static let known: Set<String> = ["system", "developer", "user", "assistant", "tool", "function"]
        public var description: String { rawValue }
    }

    static let knownKeys: Set<String> = ["role", "content", "name", "tool_calls", "tool_call_id", "refusal", "reasoning_content"]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        let role = try c.required(String.self, "role")
        guard Role.known.contains(role) else {
            throw DecodingError.dataCorruptedError(
                forKey: AnyCodingKey("role"), in: c,
                debugDescription: "unknown role \"\(role)\"; expected one of system, developer, user, assistant, tool")
        }
        self.role = Role(rawValue: role)
        self.content = try c.optional(MessageContent.self, "content")
        self.name = try c.optional(String.self, "name")
        self.toolCalls = try c.optional([ToolCall].self, "tool_calls")
        self.toolCallID = try c.optional(String.self, "tool_call_id")
        self.refusal = try c.optional(String.self, "refusal")
        // vLLM, Ollama and OpenRouter name it `reasoning`.
        self.reasoningContent =
            try c.optional(String.self, "reasoning_content") ?? (try? c.optional(String.self, "reasoning")) ?? nil
        var extra = try c.unknownFields(excluding: Self.knownKeys)
        if extra["reasoning"]?.stringValue != nil { extra.removeValue(forKey: "reasoning") }
        self.extra = extra
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(role.rawValue, "role")
        if let content {
            try c.put(content, "content")
        } else if role == .assistant {
            try c.encodeNil(forKey: AnyCodingKey("content"))
        }
        try c.put(name, "name")
        try c.put(toolCalls, "tool_calls")
        try c.put(toolCallID, "tool_call_id")
        try c.put(refusal, "refusal")
        try c.put(reasoningContent, "reasoning_content")
        try c.putUnknown(extra)
    }
}

/// A message's content: a string, or an array of typed parts.
public enum MessageContent: Sendable, Hashable, Codable {
    case text(String)
    case parts([ContentPart])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = .text(s)
        } else {
            do {
                self = .parts(try c.decode([ContentPart].self))
            } catch let error as DecodingError {
                if case .typeMismatch = error, (try? c.decode([JSONValue].self)) == nil {
                    throw DecodingError.typeMismatch(
                        MessageContent.self,
                        .init(codingPath: c.codingPath, debugDescription: "expected a string or an array of content parts"))
                }
                throw error
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .text(let s): try c.encode(s)
        case .parts(let p): try c.encode(p)
        }
    }

    /// The concatenated text of the content (image and other parts are skipped).
    public var plainText: String {
        switch self {
        case .text(let s): return s
        case .parts(let parts):
            return parts.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined(separator: "\n")
        }
    }

    /// Whether any part is an image.
    public var hasImage: Bool {
        if case .parts(let parts) = self {
            return parts.contains { if case .imageURL = $0 { return true } else { return false } }
        }
        return false
    }
}

/// One part of an array-valued message content.
public enum ContentPart: Sendable, Hashable, Codable {
    case text(String)
    case imageURL(ImageURL)
    /// Any other part type (`input_audio`, `file`, `refusal`, …), kept as is.
    case other(type: String, fields: [String: JSONValue])

    public struct ImageURL: Sendable, Hashable, Codable {
        public var url: String
        public var detail: String?
        public init(url: String, detail: String? = nil) {
            self.url = url
            self.detail = detail
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        let type = try c.required(String.self, "type")
        switch type {
        case "text":
            self = .text(try c.required(String.self, "text"))
        case "image_url":
            if let s = try? c.decode(String.self, forKey: AnyCodingKey("image_url")) {
                self = .imageURL(ImageURL(url: s))
            } else {
                self = .imageURL(try c.required(ImageURL.self, "image_url"))
            }
        default:
            self = .other(type: type, fields: try c.unknownFields(excluding: ["type"]))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        switch self {
        case .text(let t):
            try c.put("text", "type")
            try c.put(t, "text")
        case .imageURL(let image):
            try c.put("image_url", "type")
            try c.put(image, "image_url")
        case .other(let type, let fields):
            try c.put(type, "type")
            try c.putUnknown(fields)
        }
    }
}

/// A tool call made by the assistant.
public struct ToolCall: Sendable, Hashable, Codable {
    public var id: String
    public var type: String
    public var function: FunctionCall
    public var extra: [String: JSONValue]

    public init(id: String, type: String = "function", function: FunctionCall, extra: [String: JSONValue] = [:]) {
        self.id = id
        self.type = type
        self.function = function
        self.extra = extra
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.id = try c.required(String.self, "id")
        self.type = try c.optional(String.self, "type") ?? "function"
        self.function = try c.required(FunctionCall.self, "function")
        self.extra = try c.unknownFields(excluding: ["id", "type", "function"])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(id, "id")
        try c.put(type, "type")
        try c.put(function, "function")
        try c.putUnknown(extra)
    }
}

/// The function a tool call invokes; `arguments` is a JSON document as a string.
public struct FunctionCall: Sendable, Hashable, Codable {
    public var name: String
    public var arguments: String
    public init(name: String, arguments: String) {
        self.name = name
        self.arguments = arguments
    }
}
