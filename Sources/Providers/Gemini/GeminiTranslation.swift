import Foundation
import OrchestratorCore

/// Canonical (OpenAI-shaped) ⇄ Gemini translation, both directions: requests for a
/// `gemini` upstream and its answers back; Gemini-native client requests and the
/// answers they get. Every mapping rule is listed in docs/gemini.md.
enum GeminiTranslation {
    /// Thinking budgets for `reasoning_effort` (as the Anthropic adapter's).
    static let thinkingBudgets: [String: Int] = ["minimal": 1024, "low": 1024, "medium": 2048, "high": 4096]
    /// Where a tool call carries its Gemini thought signature in OpenAI's shape (as
    /// Gemini's own OpenAI-compatible endpoint does).
    static let extraContentKey = "extra_content"
    /// Tool-call ids the gateway made up (Gemini sent none) start with this; they are
    /// not sent back to Gemini.
    static let generatedIDPrefix = "call_"
    /// The canonical content part type of a Gemini `fileData` reference.
    static let geminiFileType = "gemini_file_data"
    /// The thought signature Google documents for function calls that never had one.
    static let skipSignatureValidator = "skip_thought_signature_validator"

    // MARK: Canonical → Gemini request

    /// The Gemini request for a canonical chat request. `resolveImage` turns an http(s)
    /// image URL into inline data (or throws when fetching is not allowed).
    static func request(
        from chat: ChatRequest, model: String, maxTokensDefault: Int?, images: [String: GeminiBlob] = [:]
    ) throws(GatewayError) -> GeminiRequest {
        // Gemini 3 refuses a history whose function calls lack their thought signature
        // (calls made by another provider have none); Google documents this placeholder.
        let needsSignatures = model.lowercased().contains("gemini-3")
        var system: [GeminiPart] = []
        var contents: [GeminiContent] = []
        // Tool names by call id, for function responses (Gemini wants the name).
        var callNames: [String: String] = [:]
        func append(role: String, parts: [GeminiPart]) {
            guard !parts.isEmpty else { return }
            if let last = contents.last, last.role == role {
                contents[contents.count - 1].parts += parts
            } else {
                contents.append(GeminiContent(role: role, parts: parts))
            }
        }
        for (i, message) in chat.messages.enumerated() {
            let path = "messages[\(i)]"
            switch message.role {
            case .system, .developer:
                let text = message.content?.plainText ?? ""
                if !text.isEmpty { system.append(GeminiPart(text: text)) }
            case .user:
                append(role: "user", parts: try parts(message.content, path: path, images: images))
            case .assistant:
                var parts: [GeminiPart] = []
                if let text = message.content?.plainText, !text.isEmpty { parts.append(GeminiPart(text: text)) }
                for (j, call) in (message.toolCalls ?? []).enumerated() {
                    callNames[call.id] = call.function.name
                    var part = GeminiPart()
                    part.functionCall = GeminiFunctionCall(
                        id: call.id.hasPrefix(generatedIDPrefix) ? nil : call.id, name: call.function.name,
                        args: try arguments(call.function.arguments, path: "\(path).tool_calls[\(j)].function.arguments"))
                    part.thoughtSignature = thoughtSignature(call.extra)
                    if part.thoughtSignature == nil, needsSignatures, j == 0 {
                        part.thoughtSignature = skipSignatureValidator
                    }
                    parts.append(part)
                }
                append(role: "model", parts: parts)
            case .tool, .function:
                let id = message.toolCallID ?? ""
                guard let name = callNames[id] ?? message.name else {
                    throw .invalidRequest(
                        "tool_call_id \"\(id)\" does not match a tool call of an earlier assistant message",
                        param: "\(path).tool_call_id")
                }
                var part = GeminiPart()
                part.functionResponse = GeminiFunctionResponse(
                    id: id.hasPrefix(generatedIDPrefix) || id.isEmpty ? nil : id, name: name,
                    response: functionResponse(message.content))
                append(role: "user", parts: [part])
            default:
                throw .invalidRequest("role \(message.role) cannot be sent to a Gemini upstream", param: "\(path).role")
            }
        }
        guard !contents.isEmpty else {
            throw .invalidRequest("a Gemini upstream needs at least one user or assistant message", param: "messages")
        }
        var request = GeminiRequest(contents: contents)
        if !system.isEmpty { request.systemInstruction = GeminiContent(role: nil, parts: system) }
        let declarations = (chat.tools ?? []).compactMap { tool -> GeminiFunctionDeclaration? in
            guard let function = tool.function else { return nil }
            return GeminiFunctionDeclaration(
                name: function.name, description: function.description,
                parameters: function.parameters.map { GeminiSchema.clean($0) }.flatMap { GeminiSchema.isEmptyObject($0) ? nil : $0 })
        }
        if !declarations.isEmpty { request.tools = [GeminiTool(functionDeclarations: declarations)] }
        switch chat.toolChoice {
        case .auto?: request.toolConfig = GeminiToolConfig(functionCallingConfig: .init(mode: "AUTO"))
        case .none?: request.toolConfig = GeminiToolConfig(functionCallingConfig: .init(mode: "NONE"))
        case .required?: request.toolConfig = GeminiToolConfig(functionCallingConfig: .init(mode: "ANY"))
        case .function(let name)?:
            request.toolConfig = GeminiToolConfig(functionCallingConfig: .init(mode: "ANY", allowedFunctionNames: [name]))
        case .other?, nil: break
        }
        var config = GeminiGenerationConfig()
        config.temperature = chat.temperature
        config.topP = chat.topP
        config.maxOutputTokens = chat.maxCompletionTokens ?? chat.maxTokens ?? maxTokensDefault
        config.stopSequences = chat.stop.map(\.values).flatMap { $0.isEmpty ? nil : $0 }
        config.candidateCount = chat.n.flatMap { $0 > 1 ? $0 : nil }
        config.presencePenalty = chat.presencePenalty
        config.frequencyPenalty = chat.frequencyPenalty
        config.seed = chat.seed
        if let format = chat.responseFormat {
            switch format.type {
            case "json_object":
                config.responseMimeType = "application/json"
            case "json_schema":
                config.responseMimeType = "application/json"
                config.responseSchema = format.jsonSchema?.schema.map { GeminiSchema.clean($0) }
            default:
                break
            }
        }
        if let effort = chat.reasoningEffort {
            if effort == "none" {
                config.thinkingConfig = GeminiThinkingConfig(thinkingBudget: 0)
            } else if let budget = thinkingBudgets[effort] {
                config.thinkingConfig = GeminiThinkingConfig(thinkingBudget: budget, includeThoughts: true)
            }
        }
        if config != GeminiGenerationConfig() { request.generationConfig = config }
        return request
    }

    /// A user message's content as parts.
    private static func parts(_ content: MessageContent?, path: String, images: [String: GeminiBlob]) throws(GatewayError)
        -> [GeminiPart]
    {
        switch content {
        case nil:
            return []
        case .text(let text)?:
            return text.isEmpty ? [] : [GeminiPart(text: text)]
        case .parts(let list)?:
            var out: [GeminiPart] = []
            for (j, part) in list.enumerated() {
                let partPath = "\(path).content[\(j)]"
                switch part {
                case .text(let text):
                    if !text.isEmpty { out.append(GeminiPart(text: text)) }
                case .imageURL(let image):
                    var p = GeminiPart()
                    p.inlineData = try inlineImage(image.url, path: "\(partPath).image_url.url", images: images)
                    out.append(p)
                case .other(let type, let fields):
                    var p = GeminiPart()
                    if type == "file", let data = fields["file"]?["file_data"]?.stringValue,
                        let (mime, base64) = DataURL.parse(data)
                    {
                        p.inlineData = GeminiBlob(mimeType: mime, data: base64)
                    } else if type == geminiFileType, let uri = fields["file_uri"]?.stringValue {
                        p.fileData = GeminiFileData(mimeType: fields["mime_type"]?.stringValue, fileUri: uri)
                    } else if type == "input_audio", let data = fields["input_audio"]?["data"]?.stringValue {
                        let format = fields["input_audio"]?["format"]?.stringValue ?? "wav"
                        p.inlineData = GeminiBlob(mimeType: "audio/\(format)", data: data)
                    } else {
                        throw .invalidRequest(
                            "content part type \"\(type)\" cannot be sent to a Gemini upstream", param: "\(partPath).type")
                    }
                    out.append(p)
                }
            }
            return out
        }
    }

    /// A data URL as inline data; an http(s) URL as the bytes fetched for it beforehand.
    private static func inlineImage(_ url: String, path: String, images: [String: GeminiBlob]) throws(GatewayError) -> GeminiBlob {
        if url.hasPrefix("data:") {
            guard let (mime, data) = DataURL.parse(url) else {
                throw .invalidRequest("the image data URL must look like data:<media type>;base64,<data>", param: path)
            }
            return GeminiBlob(mimeType: mime, data: data)
        }
        if let fetched = images[url] { return fetched }
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw .invalidRequest("the image URL must be an http(s) or data URL", param: path)
        }
        throw .invalidRequest(
            "Gemini upstreams take images inline: send a data URL, or set fetch_image_urls on the provider to let the gateway fetch http(s) images",
            param: path, code: "image_url_not_supported")
    }

    /// Every http(s) image URL of a request's user messages, for fetching.
    static func remoteImageURLs(_ chat: ChatRequest) -> [String] {
        var urls: [String] = []
        for message in chat.messages where message.role == .user {
            guard case .parts(let parts)? = message.content else { continue }
            for case .imageURL(let image) in parts where image.url.hasPrefix("http://") || image.url.hasPrefix("https://") {
                if !urls.contains(image.url) { urls.append(image.url) }
            }
        }
        return urls
    }

    /// A tool call's arguments as Gemini's `args` object.
    private static func arguments(_ text: String, path: String) throws(GatewayError) -> JSONValue {
        if text.allSatisfy(\.isWhitespace) { return .object([:]) }
        guard let value = try? JSONCoding.decode(JSONValue.self, from: text), case .object = value else {
            throw .invalidRequest("tool call arguments must be a JSON object", param: path)
        }
        return value
    }

    /// A tool result as Gemini's `response` object: a JSON object result as it is,
    /// anything else under `result`.
    private static func functionResponse(_ content: MessageContent?) -> JSONValue {
        let text = content?.plainText ?? ""
        if let value = try? JSONCoding.decode(JSONValue.self, from: text), case .object = value { return value }
        return .object(["result": .string(text)])
    }

    /// The thought signature a tool call carries (`extra_content.google.thought_signature`).
    static func thoughtSignature(_ extra: [String: JSONValue]) -> String? {
        extra[extraContentKey]?["google"]?["thought_signature"]?.stringValue
    }

    static func signatureExtra(_ signature: String?) -> [String: JSONValue] {
        guard let signature else { return [:] }
        return [extraContentKey: .object(["google": .object(["thought_signature": .string(signature)])])]
    }

    // MARK: Gemini response → canonical

    /// OpenAI `finish_reason` for a Gemini `finishReason`.
    static func finishReason(_ reason: String?, hasToolCalls: Bool) -> String? {
        guard let reason else { return nil }
        switch reason {
        case "MAX_TOKENS": return "length"
        case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION", "LANGUAGE":
            return "content_filter"
        default:
            // STOP, OTHER, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, …
            return hasToolCalls ? "tool_calls" : "stop"
        }
    }

    /// Gemini `finishReason` for an OpenAI `finish_reason`.
    static func geminiFinishReason(_ reason: String?) -> String? {
        switch reason {
        case nil: return nil
        case "length": return "MAX_TOKENS"
        case "content_filter": return "SAFETY"
        default: return "STOP"
        }
    }

    /// The error for a response whose prompt was blocked (no candidates).
    static func blockedError(_ feedback: GeminiPromptFeedback?, provider: String) -> GatewayError? {
        guard let reason = feedback?.blockReason else { return nil }
        return GatewayError(
            status: 400, type: "invalid_request_error", code: "content_filter",
            message: "Upstream \(provider) blocked the prompt (blockReason \(reason)).")
    }

    /// A candidate's parts as a message: text, thoughts as `reasoning_content`, function
    /// calls as tool calls (ids made up when Gemini sent none).
    static func message(_ content: GeminiContent?, ids: inout IDSource) -> ChatMessage {
        var text = ""
        var reasoning = ""
        var calls: [ToolCall] = []
        for part in content?.parts ?? [] {
            if let call = part.functionCall {
                calls.append(
                    ToolCall(
                        id: call.id ?? ids.toolCallID(), function: FunctionCall(name: call.name, arguments: JSONValueDecoding.compactJSON(call.args)),
                        extra: signatureExtra(part.thoughtSignature)))
            } else if let piece = part.text {
                if part.thought == true { reasoning += piece } else { text += piece }
            }
        }
        return ChatMessage(
            role: .assistant, content: text.isEmpty && !calls.isEmpty ? nil : .text(text),
            toolCalls: calls.isEmpty ? nil : calls, reasoningContent: reasoning.isEmpty ? nil : reasoning)
    }

    static func completion(from response: GeminiResponse, model: String, created: Int64, provider: String) throws(GatewayError)
        -> ChatCompletion
    {
        let candidates = response.candidates ?? []
        if candidates.isEmpty {
            throw blockedError(response.promptFeedback, provider: provider)
                ?? .badUpstreamResponse("the response has no candidates", provider: provider)
        }
        var ids = IDSource()
        let choices = candidates.enumerated().map { offset, candidate -> ChatCompletion.Choice in
            let message = message(candidate.content, ids: &ids)
            return ChatCompletion.Choice(
                index: candidate.index ?? offset, message: message,
                finishReason: finishReason(candidate.finishReason, hasToolCalls: message.toolCalls != nil) ?? "stop")
        }
        return ChatCompletion(
            id: response.responseId.map { "chatcmpl-" + $0 } ?? ids.completionID(), created: created,
            model: response.modelVersion ?? model, choices: choices, usage: response.usageMetadata?.canonical)
    }

    // MARK: Gemini-native request → canonical

    static func validate(_ request: GeminiRequest) throws(GatewayError) {
        if request.contents.isEmpty { throw .invalidRequest("contents must not be empty", param: "contents") }
        for (i, content) in request.contents.enumerated() {
            if let role = content.role, role != "user", role != "model", role != "function" {
                throw .invalidRequest("role must be user or model", param: "contents[\(i)].role")
            }
            if content.parts.isEmpty { throw .invalidRequest("parts must not be empty", param: "contents[\(i)].parts") }
        }
        if let config = request.generationConfig {
            if let t = config.temperature, !(0...2).contains(t) {
                throw .invalidRequest("temperature must be between 0 and 2", param: "generationConfig.temperature")
            }
            if let p = config.topP, !(0...1).contains(p) {
                throw .invalidRequest("topP must be between 0 and 1", param: "generationConfig.topP")
            }
            if let m = config.maxOutputTokens, m < 1 {
                throw .invalidRequest("maxOutputTokens must be at least 1", param: "generationConfig.maxOutputTokens")
            }
            if let n = config.candidateCount, !(1...8).contains(n) {
                throw .invalidRequest("candidateCount must be between 1 and 8", param: "generationConfig.candidateCount")
            }
        }
    }

    /// The canonical request for a Gemini-native one. Function calls without ids get
    /// ids here, and each function response is matched to the earliest unanswered call
    /// of its name, so both sides of a round trip agree.
    static func chatRequest(from request: GeminiRequest, model: String, stream: Bool) -> ChatRequest {
        var messages: [ChatMessage] = []
        if let system = request.systemInstruction {
            let text = system.parts.compactMap(\.text).joined(separator: "\n")
            if !text.isEmpty { messages.append(ChatMessage(role: .system, content: .text(text))) }
        }
        var pending: [(id: String, name: String)] = []
        var counter = 0
        for content in request.contents {
            if content.role == "model" {
                var text = ""
                var calls: [ToolCall] = []
                for part in content.parts {
                    if let call = part.functionCall {
                        counter += 1
                        let id = call.id ?? "\(generatedIDPrefix)gemini_\(counter)"
                        pending.append((id, call.name))
                        calls.append(
                            ToolCall(
                                id: id, function: FunctionCall(name: call.name, arguments: JSONValueDecoding.compactJSON(call.args)),
                                extra: signatureExtra(part.thoughtSignature)))
                    } else if let piece = part.text, part.thought != true {
                        text += piece
                    }
                }
                messages.append(
                    ChatMessage(
                        role: .assistant, content: text.isEmpty && !calls.isEmpty ? nil : .text(text),
                        toolCalls: calls.isEmpty ? nil : calls))
                continue
            }
            var userParts: [ContentPart] = []
            func flushUser() {
                guard !userParts.isEmpty else { return }
                if userParts.count == 1, case .text(let text) = userParts[0] {
                    messages.append(ChatMessage(role: .user, content: .text(text)))
                } else {
                    messages.append(ChatMessage(role: .user, content: .parts(userParts)))
                }
                userParts = []
            }
            for part in content.parts {
                if let response = part.functionResponse {
                    flushUser()
                    let id: String
                    if let given = response.id {
                        id = given
                        pending.removeAll { $0.id == given }
                    } else if let index = pending.firstIndex(where: { $0.name == response.name }) {
                        id = pending.remove(at: index).id
                    } else {
                        counter += 1
                        id = "\(generatedIDPrefix)gemini_\(counter)"
                    }
                    // No `name`: OpenAI-compatible servers such as Groq refuse it on tool messages.
                    messages.append(ChatMessage(role: .tool, content: .text(JSONValueDecoding.compactJSON(response.response)), toolCallID: id))
                } else if let text = part.text {
                    userParts.append(.text(text))
                } else if let blob = part.inlineData {
                    let url = "data:\(blob.mimeType);base64,\(blob.data)"
                    if blob.mimeType.hasPrefix("image/") {
                        userParts.append(.imageURL(.init(url: url)))
                    } else {
                        userParts.append(.other(type: "file", fields: ["file": .object(["file_data": .string(url)])]))
                    }
                } else if let file = part.fileData {
                    // A public image URL works anywhere; a Files API reference only with Gemini.
                    if file.mimeType?.hasPrefix("image/") ?? false,
                        !file.fileUri.hasPrefix("https://generativelanguage.googleapis.com/")
                    {
                        userParts.append(.imageURL(.init(url: file.fileUri)))
                    } else {
                        // Only a Gemini upstream can read a Files API reference; other
                        // adapters refuse this part type with a 400.
                        var fields: [String: JSONValue] = ["file_uri": .string(file.fileUri)]
                        if let mime = file.mimeType { fields["mime_type"] = .string(mime) }
                        userParts.append(.other(type: geminiFileType, fields: fields))
                    }
                }
            }
            flushUser()
        }
        var chat = ChatRequest(model: model, messages: messages, stream: stream ? true : nil)
        if stream { chat.streamOptions = StreamOptions(includeUsage: true) }
        let declarations = (request.tools ?? []).flatMap { $0.functionDeclarations ?? [] }
        if !declarations.isEmpty {
            chat.tools = declarations.map { declaration in
                Tool(
                    function: FunctionDefinition(
                        name: declaration.name, description: declaration.description,
                        parameters: (declaration.parametersJsonSchema ?? declaration.parameters).map { GeminiSchema.toJSONSchema($0) }
                            ?? .object(["type": .string("object"), "properties": .object([:])])))
            }
        }
        if let calling = request.toolConfig?.functionCallingConfig {
            switch calling.mode?.uppercased() {
            case "NONE": chat.toolChoice = ToolChoice.none
            case "ANY", "VALIDATED":
                if let names = calling.allowedFunctionNames, names.count == 1 {
                    chat.toolChoice = .function(name: names[0])
                } else {
                    chat.toolChoice = .required
                }
            case "AUTO": chat.toolChoice = .auto
            default: break
            }
        }
        if let config = request.generationConfig {
            chat.temperature = config.temperature
            chat.topP = config.topP
            chat.maxTokens = config.maxOutputTokens
            if let stops = config.stopSequences, !stops.isEmpty { chat.stop = .multiple(stops) }
            chat.n = config.candidateCount
            chat.seed = config.seed
            chat.presencePenalty = config.presencePenalty
            chat.frequencyPenalty = config.frequencyPenalty
            if config.responseMimeType == "application/json" {
                if let schema = config.responseJsonSchema ?? config.responseSchema {
                    chat.responseFormat = ResponseFormat(
                        type: "json_schema",
                        jsonSchema: .init(name: "response", schema: GeminiSchema.toJSONSchema(schema)))
                } else {
                    chat.responseFormat = ResponseFormat(type: "json_object")
                }
            }
            if let budget = config.thinkingConfig?.thinkingBudget, budget >= 0 {  // -1: dynamic, the model decides
                chat.reasoningEffort = budget == 0 ? "none" : budget <= 1024 ? "low" : budget <= 8192 ? "medium" : "high"
            } else if let level = config.thinkingConfig?.thinkingLevel?.lowercased(), ["low", "medium", "high", "minimal"].contains(level) {
                chat.reasoningEffort = level
            }
        }
        return chat
    }

    // MARK: Canonical → Gemini-native response

    static func response(from completion: ChatCompletion) -> GeminiResponse {
        var response = GeminiResponse(
            candidates: completion.choices.map { choice in
                GeminiCandidate(
                    content: GeminiContent(role: "model", parts: parts(of: choice.message)),
                    finishReason: geminiFinishReason(choice.finishReason) ?? "STOP", index: choice.index)
            })
        response.usageMetadata = completion.usage.map(GeminiUsage.init)
        response.modelVersion = completion.model
        response.responseId = completion.id
        return response
    }

    /// A message's content as Gemini parts: thoughts, text, then function calls.
    static func parts(of message: ChatMessage) -> [GeminiPart] {
        var parts: [GeminiPart] = []
        if let reasoning = message.reasoningContent, !reasoning.isEmpty { parts.append(GeminiPart(text: reasoning, thought: true)) }
        if let text = message.content?.plainText, !text.isEmpty { parts.append(GeminiPart(text: text)) }
        for call in message.toolCalls ?? [] {
            var part = GeminiPart()
            part.functionCall = GeminiFunctionCall(id: call.id, name: call.function.name, args: jsonArguments(call.function.arguments))
            part.thoughtSignature = thoughtSignature(call.extra)
            parts.append(part)
        }
        if parts.isEmpty { parts.append(GeminiPart(text: "")) }
        return parts
    }

    /// Tool-call arguments (JSON text) as an object; non-object text under `arguments`.
    static func jsonArguments(_ text: String) -> JSONValue {
        if text.allSatisfy(\.isWhitespace) { return .object([:]) }
        if let value = try? JSONCoding.decode(JSONValue.self, from: text), case .object = value { return value }
        return .object(["arguments": .string(text)])
    }
}

/// Makes the ids Gemini does not send.
struct IDSource: Sendable {
    private var generator = SystemRandomNumberGenerator()
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    mutating func token(_ count: Int) -> String {
        String((0..<count).map { _ in Self.alphabet[Int(generator.next() % UInt64(Self.alphabet.count))] })
    }

    mutating func toolCallID() -> String { GeminiTranslation.generatedIDPrefix + token(24) }
    mutating func completionID() -> String { "chatcmpl-" + token(24) }
}
