import OrchestratorCore

// The Gemini API wire format (generativelanguage v1beta, https://ai.google.dev/api),
// as Codable types. Gemini's REST JSON is camelCase; clients may also send the proto
// field names in snake_case (the API accepts both), so decoding takes either spelling
// and encoding writes camelCase.

extension KeyedDecodingContainer where Key == AnyCodingKey {
    /// A field under its camelCase name, else its snake_case one.
    func either<T: Decodable>(_ type: T.Type, _ camel: String, _ snake: String) throws -> T? {
        if let value = try optional(T.self, camel) { return value }
        return camel == snake ? nil : try optional(T.self, snake)
    }
}

/// `generateContent` / `streamGenerateContent` request body.
struct GeminiRequest: Sendable, Hashable, Codable {
    var contents: [GeminiContent]
    var systemInstruction: GeminiContent?
    var tools: [GeminiTool]?
    var toolConfig: GeminiToolConfig?
    var generationConfig: GeminiGenerationConfig?
    var safetySettings: JSONValue?
    var cachedContent: String?
    var extra: [String: JSONValue] = [:]

    init(contents: [GeminiContent]) {
        self.contents = contents
    }

    static let knownKeys: Set<String> = [
        "contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config", "generationConfig",
        "generation_config", "safetySettings", "safety_settings", "cachedContent", "cached_content", "model",
    ]

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        contents = try c.required([GeminiContent].self, "contents")
        systemInstruction = try c.either(GeminiContent.self, "systemInstruction", "system_instruction")
        tools = try c.optional([GeminiTool].self, "tools")
        toolConfig = try c.either(GeminiToolConfig.self, "toolConfig", "tool_config")
        generationConfig = try c.either(GeminiGenerationConfig.self, "generationConfig", "generation_config")
        safetySettings = try c.either(JSONValue.self, "safetySettings", "safety_settings")
        cachedContent = try c.either(String.self, "cachedContent", "cached_content")
        extra = try c.unknownFields(excluding: Self.knownKeys)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(contents, "contents")
        try c.put(systemInstruction, "systemInstruction")
        try c.put(tools, "tools")
        try c.put(toolConfig, "toolConfig")
        try c.put(generationConfig, "generationConfig")
        try c.put(safetySettings, "safetySettings")
        try c.put(cachedContent, "cachedContent")
        try c.putUnknown(extra)
    }
}

/// A turn (`role` user or model) or the system instruction.
struct GeminiContent: Sendable, Hashable, Codable {
    var role: String?
    var parts: [GeminiPart]

    init(role: String?, parts: [GeminiPart]) {
        self.role = role
        self.parts = parts
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        role = try c.optional(String.self, "role")
        parts = try c.optional([GeminiPart].self, "parts") ?? []
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(role, "role")
        try c.put(parts, "parts")
    }
}

/// One part of a turn: text (a thought when `thought` is true), inline data, a file
/// reference, a function call or a function response. `thoughtSignature` may ride on any.
struct GeminiPart: Sendable, Hashable, Codable {
    var text: String?
    var thought: Bool?
    var thoughtSignature: String?
    var inlineData: GeminiBlob?
    var fileData: GeminiFileData?
    var functionCall: GeminiFunctionCall?
    var functionResponse: GeminiFunctionResponse?
    /// Anything else (`executableCode`, `codeExecutionResult`, `videoMetadata`, …), kept as sent.
    var extra: [String: JSONValue] = [:]

    init(text: String? = nil, thought: Bool? = nil) {
        self.text = text
        self.thought = thought
    }

    static let knownKeys: Set<String> = [
        "text", "thought", "thoughtSignature", "thought_signature", "inlineData", "inline_data", "fileData", "file_data",
        "functionCall", "function_call", "functionResponse", "function_response",
    ]

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        text = try c.optional(String.self, "text")
        thought = try c.optional(Bool.self, "thought")
        thoughtSignature = try c.either(String.self, "thoughtSignature", "thought_signature")
        inlineData = try c.either(GeminiBlob.self, "inlineData", "inline_data")
        fileData = try c.either(GeminiFileData.self, "fileData", "file_data")
        functionCall = try c.either(GeminiFunctionCall.self, "functionCall", "function_call")
        functionResponse = try c.either(GeminiFunctionResponse.self, "functionResponse", "function_response")
        extra = try c.unknownFields(excluding: Self.knownKeys)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(text, "text")
        try c.put(thought, "thought")
        try c.put(inlineData, "inlineData")
        try c.put(fileData, "fileData")
        try c.put(functionCall, "functionCall")
        try c.put(functionResponse, "functionResponse")
        try c.put(thoughtSignature, "thoughtSignature")
        try c.putUnknown(extra)
    }
}

struct GeminiBlob: Sendable, Hashable, Codable {
    var mimeType: String
    var data: String

    init(mimeType: String, data: String) {
        self.mimeType = mimeType
        self.data = data
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        mimeType = try c.either(String.self, "mimeType", "mime_type") ?? "application/octet-stream"
        data = try c.required(String.self, "data")
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(mimeType, "mimeType")
        try c.put(data, "data")
    }
}

struct GeminiFileData: Sendable, Hashable, Codable {
    var mimeType: String?
    var fileUri: String

    init(mimeType: String?, fileUri: String) {
        self.mimeType = mimeType
        self.fileUri = fileUri
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        mimeType = try c.either(String.self, "mimeType", "mime_type")
        guard let uri = try c.either(String.self, "fileUri", "file_uri") else {
            throw DecodingError.keyNotFound(
                AnyCodingKey("fileUri"), .init(codingPath: decoder.codingPath, debugDescription: "fileData needs fileUri"))
        }
        fileUri = uri
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(mimeType, "mimeType")
        try c.put(fileUri, "fileUri")
    }
}

struct GeminiFunctionCall: Sendable, Hashable, Codable {
    var id: String?
    var name: String
    var args: JSONValue?

    init(id: String?, name: String, args: JSONValue?) {
        self.id = id
        self.name = name
        self.args = args
    }
}

struct GeminiFunctionResponse: Sendable, Hashable, Codable {
    var id: String?
    var name: String
    var response: JSONValue

    init(id: String?, name: String, response: JSONValue) {
        self.id = id
        self.name = name
        self.response = response
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        id = try c.optional(String.self, "id")
        name = try c.required(String.self, "name")
        response = try c.optional(JSONValue.self, "response") ?? .object([:])
    }
}

/// A tool: function declarations, or a built-in tool (`googleSearch`, `codeExecution`, …).
struct GeminiTool: Sendable, Hashable, Codable {
    var functionDeclarations: [GeminiFunctionDeclaration]?
    var extra: [String: JSONValue] = [:]

    init(functionDeclarations: [GeminiFunctionDeclaration]) {
        self.functionDeclarations = functionDeclarations
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        functionDeclarations = try c.either([GeminiFunctionDeclaration].self, "functionDeclarations", "function_declarations")
        extra = try c.unknownFields(excluding: ["functionDeclarations", "function_declarations"])
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(functionDeclarations, "functionDeclarations")
        try c.putUnknown(extra)
    }
}

struct GeminiFunctionDeclaration: Sendable, Hashable, Codable {
    var name: String
    var description: String?
    /// An OpenAPI-subset schema (`parameters`).
    var parameters: JSONValue?
    /// A full JSON Schema (`parametersJsonSchema`), the alternative to `parameters`.
    var parametersJsonSchema: JSONValue?

    init(name: String, description: String?, parameters: JSONValue?) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        name = try c.required(String.self, "name")
        description = try c.optional(String.self, "description")
        parameters = try c.optional(JSONValue.self, "parameters")
        parametersJsonSchema = try c.either(JSONValue.self, "parametersJsonSchema", "parameters_json_schema")
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(name, "name")
        try c.put(description, "description")
        try c.put(parameters, "parameters")
        try c.put(parametersJsonSchema, "parametersJsonSchema")
    }
}

struct GeminiToolConfig: Sendable, Hashable, Codable {
    var functionCallingConfig: GeminiFunctionCallingConfig?

    init(functionCallingConfig: GeminiFunctionCallingConfig?) {
        self.functionCallingConfig = functionCallingConfig
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        functionCallingConfig = try c.either(
            GeminiFunctionCallingConfig.self, "functionCallingConfig", "function_calling_config")
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(functionCallingConfig, "functionCallingConfig")
    }
}

struct GeminiFunctionCallingConfig: Sendable, Hashable, Codable {
    /// AUTO, ANY, NONE or VALIDATED.
    var mode: String?
    var allowedFunctionNames: [String]?

    init(mode: String?, allowedFunctionNames: [String]? = nil) {
        self.mode = mode
        self.allowedFunctionNames = allowedFunctionNames
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        mode = try c.optional(String.self, "mode")
        allowedFunctionNames = try c.either([String].self, "allowedFunctionNames", "allowed_function_names")
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(mode, "mode")
        try c.put(allowedFunctionNames, "allowedFunctionNames")
    }
}

struct GeminiGenerationConfig: Sendable, Hashable, Codable {
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var candidateCount: Int?
    var maxOutputTokens: Int?
    var stopSequences: [String]?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var seed: Int64?
    var responseMimeType: String?
    var responseSchema: JSONValue?
    var responseJsonSchema: JSONValue?
    var thinkingConfig: GeminiThinkingConfig?
    var extra: [String: JSONValue] = [:]

    init() {}

    static let fields: [(camel: String, snake: String)] = [
        ("temperature", "temperature"), ("topP", "top_p"), ("topK", "top_k"), ("candidateCount", "candidate_count"),
        ("maxOutputTokens", "max_output_tokens"), ("stopSequences", "stop_sequences"),
        ("presencePenalty", "presence_penalty"), ("frequencyPenalty", "frequency_penalty"), ("seed", "seed"),
        ("responseMimeType", "response_mime_type"), ("responseSchema", "response_schema"),
        ("responseJsonSchema", "response_json_schema"), ("thinkingConfig", "thinking_config"),
    ]

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        temperature = try c.either(Double.self, "temperature", "temperature")
        topP = try c.either(Double.self, "topP", "top_p")
        topK = try c.either(Int.self, "topK", "top_k")
        candidateCount = try c.either(Int.self, "candidateCount", "candidate_count")
        maxOutputTokens = try c.either(Int.self, "maxOutputTokens", "max_output_tokens")
        stopSequences = try c.either([String].self, "stopSequences", "stop_sequences")
        presencePenalty = try c.either(Double.self, "presencePenalty", "presence_penalty")
        frequencyPenalty = try c.either(Double.self, "frequencyPenalty", "frequency_penalty")
        seed = try c.either(Int64.self, "seed", "seed")
        responseMimeType = try c.either(String.self, "responseMimeType", "response_mime_type")
        responseSchema = try c.either(JSONValue.self, "responseSchema", "response_schema")
        responseJsonSchema = try c.either(JSONValue.self, "responseJsonSchema", "response_json_schema")
        thinkingConfig = try c.either(GeminiThinkingConfig.self, "thinkingConfig", "thinking_config")
        extra = try c.unknownFields(excluding: Set(Self.fields.flatMap { [$0.camel, $0.snake] }))
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(temperature, "temperature")
        try c.put(topP, "topP")
        try c.put(topK, "topK")
        try c.put(candidateCount, "candidateCount")
        try c.put(maxOutputTokens, "maxOutputTokens")
        try c.put(stopSequences, "stopSequences")
        try c.put(presencePenalty, "presencePenalty")
        try c.put(frequencyPenalty, "frequencyPenalty")
        try c.put(seed, "seed")
        try c.put(responseMimeType, "responseMimeType")
        try c.put(responseSchema, "responseSchema")
        try c.put(responseJsonSchema, "responseJsonSchema")
        try c.put(thinkingConfig, "thinkingConfig")
        try c.putUnknown(extra)
    }
}

struct GeminiThinkingConfig: Sendable, Hashable, Codable {
    var thinkingBudget: Int?
    var includeThoughts: Bool?
    var thinkingLevel: String?

    init(thinkingBudget: Int? = nil, includeThoughts: Bool? = nil, thinkingLevel: String? = nil) {
        self.thinkingBudget = thinkingBudget
        self.includeThoughts = includeThoughts
        self.thinkingLevel = thinkingLevel
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        thinkingBudget = try c.either(Int.self, "thinkingBudget", "thinking_budget")
        includeThoughts = try c.either(Bool.self, "includeThoughts", "include_thoughts")
        thinkingLevel = try c.either(String.self, "thinkingLevel", "thinking_level")
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(thinkingBudget, "thinkingBudget")
        try c.put(includeThoughts, "includeThoughts")
        try c.put(thinkingLevel, "thinkingLevel")
    }
}

/// `GenerateContentResponse`: a whole response, or one stream chunk.
struct GeminiResponse: Sendable, Hashable, Codable {
    var candidates: [GeminiCandidate]?
    var promptFeedback: GeminiPromptFeedback?
    var usageMetadata: GeminiUsage?
    var modelVersion: String?
    var responseId: String?

    init(candidates: [GeminiCandidate]?) {
        self.candidates = candidates
    }
}

struct GeminiCandidate: Sendable, Hashable, Codable {
    var content: GeminiContent?
    var finishReason: String?
    var index: Int?
    var safetyRatings: JSONValue?
    var citationMetadata: JSONValue?
    var finishMessage: String?

    init(content: GeminiContent?, finishReason: String?, index: Int?) {
        self.content = content
        self.finishReason = finishReason
        self.index = index
    }
}

struct GeminiPromptFeedback: Sendable, Hashable, Codable {
    var blockReason: String?
    var safetyRatings: JSONValue?
}

struct GeminiUsage: Sendable, Hashable, Codable {
    var promptTokenCount: Int?
    var candidatesTokenCount: Int?
    var totalTokenCount: Int?
    var cachedContentTokenCount: Int?
    var thoughtsTokenCount: Int?
    var toolUsePromptTokenCount: Int?

    init() {}

    /// As OpenAI counts: prompt = prompt + tool-use prompt; completion = candidates +
    /// thoughts (both billed as output); cached and reasoning in the details.
    var canonical: Usage {
        // Counts come from the upstream: added without trapping on absurd values.
        let prompt = max(0, promptTokenCount ?? 0).saturatingAdd(max(0, toolUsePromptTokenCount ?? 0))
        let completion = max(0, candidatesTokenCount ?? 0).saturatingAdd(max(0, thoughtsTokenCount ?? 0))
        return Usage(
            promptTokens: prompt, completionTokens: completion, totalTokens: totalTokenCount ?? prompt.saturatingAdd(completion),
            cachedTokens: cachedContentTokenCount, reasoningTokens: thoughtsTokenCount)
    }

    init(_ usage: Usage) {
        let reasoning = max(0, usage.reasoningTokens ?? 0)
        promptTokenCount = usage.promptTokens
        let (candidates, overflow) = usage.completionTokens.subtractingReportingOverflow(reasoning)
        candidatesTokenCount = overflow ? 0 : max(0, candidates)
        totalTokenCount = usage.totalTokens
        cachedContentTokenCount = usage.cachedTokens.flatMap { $0 > 0 ? $0 : nil }
        thoughtsTokenCount = reasoning > 0 ? reasoning : nil
    }
}

/// `{"error":{"code","message","status"}}`, Gemini's error body.
struct GeminiErrorBody: Sendable, Codable {
    struct Inner: Sendable, Codable {
        var code: Int
        var message: String
        var status: String
    }
    var error: Inner

    init(_ error: GatewayError) {
        let status = error.status == 499 ? 400 : error.status
        self.error = Inner(code: status, message: error.message, status: Self.statusName(status))
    }

    /// Google's canonical status name for an HTTP status.
    static func statusName(_ status: Int) -> String {
        switch status {
        case 400, 413, 422: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 403: return "PERMISSION_DENIED"
        case 404: return "NOT_FOUND"
        case 409: return "ABORTED"
        case 412: return "FAILED_PRECONDITION"
        case 429: return "RESOURCE_EXHAUSTED"
        case 501: return "UNIMPLEMENTED"
        case 503, 502: return "UNAVAILABLE"
        case 504: return "DEADLINE_EXCEEDED"
        default: return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION"
        }
    }
}
