import OrchestratorCore

/// Canonical (OpenAI-shaped) requests and completions ⇄ the Anthropic Messages API.
///
/// Outbound (``request(from:model:maxTokensDefault:stream:)``) serves the `anthropic`
/// adapter; inbound (``chatRequest(from:)``, ``response(from:)``) serves `/v1/messages`
/// routed to other providers. On the subset both formats share the round trip
/// canonical → Anthropic → canonical is the identity (a property test checks it).
enum AnthropicTranslation {
    /// `max_tokens` when neither the client nor the target sets one (Anthropic requires it;
    /// every current model can produce at least this many).
    static let defaultMaxTokens = 4096

    /// `reasoning_effort` → extended-thinking budget, in tokens.
    static let thinkingBudgets: [String: Int] = ["minimal": 1024, "low": 1024, "medium": 2048, "high": 4096]

    /// Message `extra` key carrying Anthropic thinking blocks (with their signatures)
    /// through OpenAI-shaped messages, so multi-turn tool use with thinking keeps working.
    static let thinkingBlocksKey = "thinking_blocks"

    /// The outbound request and, when `response_format` became a forced tool, that
    /// tool's name (its `tool_use` is turned back into JSON text).
    struct Outbound: Sendable {
        var request: AnthropicRequest
        var structuredOutputTool: String?
    }

    // MARK: Canonical → Anthropic

    static func request(from chat: ChatRequest, model: String, maxTokensDefault: Int?, stream: Bool)
        throws(GatewayError) -> Outbound
    {
        var system: [AnthropicBlock] = []
        var systemIsPlain = true
        var turns: [AnthropicMessage] = []

        func append(role: String, blocks: [AnthropicBlock], plainText: String?) {
            guard !blocks.isEmpty else { return }
            if let last = turns.last, last.role == role {
                // Anthropic wants alternating turns: consecutive same-role messages merge.
                turns[turns.count - 1].content = .blocks(last.content.blocks + blocks)
            } else if let plainText {
                turns.append(AnthropicMessage(role: role, content: .text(plainText)))
            } else {
                turns.append(AnthropicMessage(role: role, content: .blocks(blocks)))
            }
        }

        for (i, message) in chat.messages.enumerated() {
            let path = "messages[\(i)]"
            switch message.role {
            case .system, .developer:
                switch message.content {
                case .text(let text)?:
                    if !text.isEmpty { system.append(.text(text)) }
                case .parts(let parts)?:
                    systemIsPlain = false
                    for part in parts {
                        if case .text(let text) = part, !text.isEmpty { system.append(.text(text)) }
                    }
                case nil:
                    break
                }
            case .user:
                let blocks = try contentBlocks(message.content, path: path)
                if case .text(let text)? = message.content {
                    append(role: "user", blocks: blocks, plainText: text.isEmpty ? nil : text)
                } else {
                    append(role: "user", blocks: blocks, plainText: nil)
                }
            case .assistant:
                var blocks: [AnthropicBlock] = []
                if case .array(let thinking)? = message.extra[thinkingBlocksKey] {
                    for block in thinking {
                        if let decoded = try? JSONValueDecoding.decode(AnthropicBlock.self, from: block) {
                            blocks.append(decoded)
                        }
                    }
                }
                if let content = message.content {
                    blocks += try contentBlocks(content, path: path)
                }
                for (j, call) in (message.toolCalls ?? []).enumerated() {
                    blocks.append(
                        .toolUse(
                            id: call.id, name: call.function.name,
                            input: try toolInput(call.function.arguments, path: "\(path).tool_calls[\(j)].function.arguments"),
                            extra: [:]))
                }
                let plain: String?
                if case .text(let text)? = message.content, blocks.count == 1, !text.isEmpty { plain = text } else { plain = nil }
                append(role: "assistant", blocks: blocks, plainText: plain)
            case .tool:
                let result: AnthropicContent?
                switch message.content {
                case .text(let text)?: result = .text(text)
                case .parts?: result = .blocks(try contentBlocks(message.content, path: path))
                case nil: result = nil
                }
                append(
                    role: "user",
                    blocks: [.toolResult(toolUseID: message.toolCallID ?? "", content: result, isError: nil, extra: [:])],
                    plainText: nil)
            default:
                throw .invalidRequest(
                    "role \"\(message.role)\" cannot be sent to an Anthropic upstream", param: "\(path).role")
            }
        }

        var request = AnthropicRequest(
            model: model,
            maxTokens: chat.maxCompletionTokens ?? chat.maxTokens ?? maxTokensDefault ?? defaultMaxTokens,
            messages: turns)
        request.stream = stream ? true : nil
        // Anthropic rejects empty and whitespace-only stop sequences (`"\n"` is common).
        let stops = (chat.stop?.values ?? []).filter { !$0.allSatisfy(\.isWhitespace) }
        request.stopSequences = stops.isEmpty ? nil : stops
        request.temperature = chat.temperature.map { min($0, 1) }
        request.topP = chat.topP
        if let user = chat.user { request.metadata = ["user_id": .string(user)] }

        // Tools, and the tool choice (parallel_tool_calls: false rides on it).
        var tools: [AnthropicTool] = []
        for tool in chat.tools ?? [] {
            if tool.type == "function", let function = tool.function {
                tools.append(
                    AnthropicTool(
                        name: function.name, description: function.description,
                        inputSchema: function.parameters ?? ["type": "object", "properties": [:]]))
            } else {
                // A provider-defined tool (`web_search_20250305`, …) written the Anthropic way.
                var extra = tool.extra
                let name = extra.removeValue(forKey: "name")?.stringValue ?? tool.type
                tools.append(AnthropicTool(type: tool.type, name: name, inputSchema: nil, extra: extra))
            }
        }
        var toolChoice: AnthropicToolChoice?
        switch chat.toolChoice {
        case .none?: toolChoice = AnthropicToolChoice(type: "none")
        case .auto?: toolChoice = AnthropicToolChoice(type: "auto")
        case .required?: toolChoice = AnthropicToolChoice(type: "any")
        case .function(let name)?: toolChoice = AnthropicToolChoice(type: "tool", name: name)
        case .other?:
            throw .invalidRequest("this tool_choice form cannot be sent to an Anthropic upstream", param: "tool_choice")
        case nil: break
        }
        if chat.parallelToolCalls == false, !tools.isEmpty, toolChoice?.type != "none" {
            var choice = toolChoice ?? AnthropicToolChoice(type: "auto")
            choice.disableParallelToolUse = true
            toolChoice = choice
        }

        // Extended thinking: as the client wrote it (`thinking` in the body), or from
        // `reasoning_effort`. It needs max_tokens above its budget and the default sampling.
        var thinking: JSONValue?
        if case .object? = chat.extra["thinking"] {
            thinking = chat.extra["thinking"]
        } else if let effort = chat.reasoningEffort, let budget = thinkingBudgets[effort],
            thinkingAllowed(chat, toolChoice: toolChoice)
        {
            thinking = ["type": "enabled", "budget_tokens": .int(Int64(budget))]
        }
        if let thinking {
            request.thinking = thinking
            if thinking["type"]?.stringValue == "enabled" {
                if let budget = thinking["budget_tokens"]?.intValue, let max = request.maxTokens, max <= budget {
                    request.maxTokens = budget + max
                }
                request.temperature = nil
                request.topP = nil
            }
        }
        if case .int(let topK)? = chat.extra["top_k"], request.thinking?["type"]?.stringValue != "enabled" {
            request.topK = Int(exactly: topK)
        }

        // Structured output: a forced tool whose input is the answer, when nothing else
        // needs the tool choice; otherwise an instruction in the system prompt.
        var structuredTool: String?
        if let format = chat.responseFormat, format.wantsJSON {
            let schema = format.jsonSchema?.schema
            if format.type == "json_schema", tools.isEmpty, thinking == nil, schema?["type"]?.stringValue == "object" {
                let name = toolName(format.jsonSchema?.name ?? "json_response")
                tools.append(
                    AnthropicTool(
                        name: name,
                        description: format.jsonSchema?.description ?? "Respond with a JSON object matching this schema.",
                        inputSchema: schema))
                toolChoice = AnthropicToolChoice(type: "tool", name: name)
                structuredTool = name
            } else {
                var instruction = "Respond with only a valid JSON object, without any other text."
                if let schema, let rendered = try? JSONCoding.encodeString(schema) {
                    instruction = "Respond with only a JSON object that matches this JSON schema, without any other text: \(rendered)"
                }
                system.append(.text(instruction))
                systemIsPlain = systemIsPlain && system.count == 1
            }
        }
        if !tools.isEmpty {
            request.tools = tools
            request.toolChoice = toolChoice
        }
        if !system.isEmpty {
            if systemIsPlain, system.count == 1, case .text(let text, _) = system[0] {
                request.system = .text(text)
            } else {
                request.system = .blocks(system)
            }
        }
        return Outbound(request: request, structuredOutputTool: structuredTool)
    }

    /// Whether thinking may be derived from `reasoning_effort`: Anthropic refuses it with
    /// a forced tool choice, and when the last assistant turn called tools without the
    /// thinking block that must open it (clients that drop `thinking_blocks`).
    private static func thinkingAllowed(_ chat: ChatRequest, toolChoice: AnthropicToolChoice?) -> Bool {
        if let type = toolChoice?.type, type == "any" || type == "tool" { return false }
        if let last = chat.messages.last(where: { $0.role == .assistant }), !(last.toolCalls ?? []).isEmpty,
            last.extra[thinkingBlocksKey] == nil
        {
            return false
        }
        return true
    }

    /// A message's content as Anthropic blocks (empty text is dropped: Anthropic rejects it).
    private static func contentBlocks(_ content: MessageContent?, path: String) throws(GatewayError) -> [AnthropicBlock] {
        switch content {
        case nil:
            return []
        case .text(let text)?:
            return text.isEmpty ? [] : [.text(text)]
        case .parts(let parts)?:
            var blocks: [AnthropicBlock] = []
            for (j, part) in parts.enumerated() {
                let partPath = "\(path).content[\(j)]"
                switch part {
                case .text(let text):
                    if !text.isEmpty { blocks.append(.text(text)) }
                case .imageURL(let image):
                    blocks.append(.image(try imageSource(image.url, path: "\(partPath).image_url.url")))
                case .other(let type, let fields):
                    if type == "file", let data = fields["file"]?["file_data"]?.stringValue,
                        let (mediaType, base64) = DataURL.parse(data)
                    {
                        blocks.append(.document(AnthropicSource(type: "base64", mediaType: mediaType, data: base64)))
                    } else {
                        throw .invalidRequest(
                            "content part type \"\(type)\" cannot be sent to an Anthropic upstream", param: "\(partPath).type")
                    }
                }
            }
            return blocks
        }
    }

    /// `data:` URLs become base64 sources, http(s) URLs url sources.
    private static func imageSource(_ url: String, path: String) throws(GatewayError) -> AnthropicSource {
        if url.hasPrefix("data:") {
            guard let (mediaType, data) = DataURL.parse(url) else {
                throw .invalidRequest("the image data URL must look like data:<media type>;base64,<data>", param: path)
            }
            return AnthropicSource(type: "base64", mediaType: mediaType, data: data)
        }
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw .invalidRequest("the image URL must be an http(s) or data URL", param: path)
        }
        return AnthropicSource(type: "url", url: url)
    }


    /// A tool call's arguments (a JSON document in a string) as the `input` object.
    private static func toolInput(_ arguments: String, path: String) throws(GatewayError) -> JSONValue {
        if arguments.allSatisfy(\.isWhitespace) { return .object([:]) }
        guard let value = try? JSONCoding.decode(JSONValue.self, from: arguments), case .object = value else {
            throw .invalidRequest("tool call arguments must be a JSON object", param: path)
        }
        return value
    }

    /// A tool name Anthropic accepts (`^[a-zA-Z0-9_-]{1,64}$`).
    private static func toolName(_ name: String) -> String {
        let cleaned = String(
            name.unicodeScalars.map { scalar -> Character in
                let ok = (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
                    || scalar == "_" || scalar == "-"
                return ok ? Character(scalar) : "_"
            }.prefix(64))
        return cleaned.isEmpty ? "json_response" : cleaned
    }

    // MARK: Anthropic → canonical (requests arriving on /v1/messages)

    /// Checks what Anthropic's own API checks, so clients get the same 400s whatever
    /// provider serves them.
    static func validate(_ request: AnthropicRequest) throws(GatewayError) {
        if request.model.isEmpty { throw .invalidRequest("model must not be empty", param: "model") }
        guard let maxTokens = request.maxTokens else {
            throw .invalidRequest("max_tokens: Field required", param: "max_tokens")
        }
        if maxTokens < 1 { throw .invalidRequest("max_tokens must be at least 1", param: "max_tokens") }
        if request.messages.isEmpty {
            throw .invalidRequest("messages: at least one message is required", param: "messages")
        }
        if let t = request.temperature, !(0...1).contains(t) {
            throw .invalidRequest("temperature must be between 0 and 1", param: "temperature")
        }
        if let p = request.topP, !(0...1).contains(p) {
            throw .invalidRequest("top_p must be between 0 and 1", param: "top_p")
        }
        if let k = request.topK, k < 0 { throw .invalidRequest("top_k must not be negative", param: "top_k") }
    }

    /// The canonical form of an Anthropic request. Lenient: blocks other providers
    /// cannot take are kept as content parts of their own type (an Anthropic upstream
    /// gets the original body anyway, on the pass-through path).
    static func chatRequest(from request: AnthropicRequest) -> ChatRequest {
        var messages: [ChatMessage] = []
        if let system = request.system {
            // One string: the blocks (Claude Code sends several, with cache markers) are
            // text, and many OpenAI-compatible chat templates take only a string here.
            let texts = system.blocks.compactMap { block -> String? in
                if case .text(let text, _) = block { return text }
                return nil
            }
            if !texts.isEmpty { messages.append(ChatMessage(role: .system, content: .text(texts.joined(separator: "\n\n")))) }
        }
        for turn in request.messages {
            if turn.role == "assistant" {
                messages.append(assistantMessage(turn.content))
                continue
            }
            // A user turn: tool results become tool messages, the rest one user message.
            var pending: [AnthropicBlock] = []
            func flush() {
                guard !pending.isEmpty else { return }
                messages.append(ChatMessage(role: .user, content: content(of: pending, plain: nil)))
                pending = []
            }
            if case .text(let text) = turn.content {
                messages.append(ChatMessage(role: .user, content: .text(text)))
                continue
            }
            // OpenAI takes images only in user messages: images a tool returned follow
            // the tool messages in a user message of their own.
            var toolImages: [AnthropicBlock] = []
            for block in turn.content.blocks {
                if case .toolResult(let id, let result, let isError, _) = block {
                    flush()
                    var text = ""
                    var images = 0
                    for part in result?.blocks ?? [] {
                        switch part {
                        case .text(let t, _): text += t
                        case .image, .document:
                            toolImages.append(part)
                            images += 1
                        default: break
                        }
                    }
                    if images > 0 { text += (text.isEmpty ? "" : "\n") + "[\(images) attachment(s) follow in the next user message]" }
                    if isError == true { text = "Error: " + text }
                    messages.append(ChatMessage(role: .tool, content: .text(text), toolCallID: id))
                } else {
                    pending.append(block)
                }
            }
            if !toolImages.isEmpty {
                pending.insert(contentsOf: toolImages, at: 0)
                messages.append(ChatMessage(role: .user, content: .parts(pending.map(contentPart))))
                pending = []
            }
            flush()
        }

        var chat = ChatRequest(model: request.model, messages: messages)
        chat.maxTokens = request.maxTokens
        chat.temperature = request.temperature
        chat.topP = request.topP
        if let stops = request.stopSequences, !stops.isEmpty { chat.stop = .multiple(stops) }
        if request.stream == true {
            chat.stream = true
            // The Anthropic stream always ends with usage.
            chat.streamOptions = StreamOptions(includeUsage: true)
        }
        chat.user = request.metadata?["user_id"]?.stringValue
        let tools = (request.tools ?? []).filter(\.isClientTool).map { tool in
            Tool(function: FunctionDefinition(name: tool.name, description: tool.description, parameters: tool.inputSchema))
        }
        if !tools.isEmpty { chat.tools = tools }
        if let choice = request.toolChoice, !tools.isEmpty {
            switch choice.type {
            case "none": chat.toolChoice = ToolChoice.none
            case "any": chat.toolChoice = .required
            case "tool": chat.toolChoice = .function(name: choice.name ?? "")
            default: chat.toolChoice = .auto
            }
            if choice.disableParallelToolUse == true { chat.parallelToolCalls = false }
        }
        return chat
    }

    /// Blocks as message content: one text block (or a plain string) as a string, else parts.
    private static func content(of blocks: [AnthropicBlock], plain: AnthropicContent?) -> MessageContent {
        if case .text(let text)? = plain { return .text(text) }
        if blocks.count == 1, case .text(let text, let extra) = blocks[0], extra.isEmpty { return .text(text) }
        return .parts(blocks.map(contentPart))
    }

    private static func contentPart(_ block: AnthropicBlock) -> ContentPart {
        switch block {
        case .text(let text, _):
            return .text(text)
        case .image(let source, _) where source.type == "base64":
            return .imageURL(.init(url: "data:\(source.mediaType ?? "image/png");base64,\(source.data ?? "")"))
        case .image(let source, _) where source.type == "url":
            return .imageURL(.init(url: source.url ?? ""))
        case .document(let source, _) where source.type == "base64" && source.mediaType == "application/pdf":
            return .other(
                type: "file",
                fields: ["file": ["file_data": .string("data:application/pdf;base64,\(source.data ?? "")")]])
        default:
            let value = (try? JSONValueDecoding.encode(block)) ?? .object([:])
            var fields = value.objectValue ?? [:]
            let type = fields.removeValue(forKey: "type")?.stringValue ?? "unknown"
            return .other(type: type, fields: fields)
        }
    }

    private static func assistantMessage(_ content: AnthropicContent) -> ChatMessage {
        if case .text(let text) = content { return ChatMessage(role: .assistant, content: .text(text)) }
        var text = ""
        var hasText = false
        var reasoning = ""
        var thinkingBlocks: [JSONValue] = []
        var calls: [ToolCall] = []
        for block in content.blocks {
            switch block {
            case .text(let t, _):
                text += t
                hasText = true
            case .thinking(let t, _, _):
                reasoning += t
                if let value = try? JSONValueDecoding.encode(block) { thinkingBlocks.append(value) }
            case .redactedThinking:
                if let value = try? JSONValueDecoding.encode(block) { thinkingBlocks.append(value) }
            case .toolUse(let id, let name, let input, _):
                calls.append(ToolCall(id: id, function: FunctionCall(name: name, arguments: JSONValueDecoding.compactJSON(input))))
            default:
                // Server-tool blocks mean nothing to another provider.
                break
            }
        }
        var message = ChatMessage(role: .assistant, content: hasText ? .text(text) : nil)
        if !calls.isEmpty { message.toolCalls = calls }
        if !reasoning.isEmpty { message.reasoningContent = reasoning }
        if !thinkingBlocks.isEmpty { message.extra[thinkingBlocksKey] = .array(thinkingBlocks) }
        return message
    }

    // MARK: Responses

    /// Anthropic `stop_reason` → OpenAI `finish_reason`.
    static func finishReason(_ stopReason: String?) -> String? {
        switch stopReason {
        case nil: return nil
        case "end_turn", "stop_sequence", "pause_turn": return "stop"
        case "max_tokens", "model_context_window_exceeded": return "length"
        case "tool_use": return "tool_calls"
        case "refusal": return "content_filter"
        default: return "stop"
        }
    }

    /// OpenAI `finish_reason` → Anthropic `stop_reason`. Several OpenAI-compatible
    /// servers answer tool calls with `stop`; Anthropic clients run tools only on
    /// `tool_use`, so tool calls make it `tool_use` unless the output was cut off.
    static func stopReason(_ finishReason: String?, hasToolCalls: Bool) -> String {
        switch finishReason {
        case "length": return "max_tokens"
        case "tool_calls", "function_call": return "tool_use"
        case "content_filter": return hasToolCalls ? "tool_use" : "refusal"
        default: return hasToolCalls ? "tool_use" : "end_turn"
        }
    }

    /// An Anthropic `message` as a canonical completion.
    static func completion(from response: AnthropicResponse, structuredOutputTool: String?, created: Int64) -> ChatCompletion {
        var structured = false
        var blocks = response.content
        if let tool = structuredOutputTool {
            blocks = blocks.map { block in
                if case .toolUse(_, let name, let input, _) = block, name == tool {
                    structured = true
                    return .text(JSONValueDecoding.compactJSON(input), extra: [:])
                }
                return block
            }
        }
        let message = assistantMessage(.blocks(blocks))
        var finish = finishReason(response.stopReason)
        if structured, finish == "tool_calls" { finish = "stop" }
        return ChatCompletion(
            id: response.id, created: created, model: response.model,
            choices: [.init(index: 0, message: message, finishReason: finish)], usage: response.usage.canonical)
    }

    /// A canonical completion as an Anthropic `message` (first choice).
    static func response(from completion: ChatCompletion) -> AnthropicResponse {
        let choice = completion.choices.first
        var blocks: [AnthropicBlock] = []
        if let message = choice?.message {
            if case .array(let thinking)? = message.extra[thinkingBlocksKey] {
                blocks += thinking.compactMap { try? JSONValueDecoding.decode(AnthropicBlock.self, from: $0) }
            } else if let reasoning = message.reasoningContent, !reasoning.isEmpty {
                blocks.append(.thinking(reasoning, signature: "", extra: [:]))
            }
            if let text = message.content?.plainText, !text.isEmpty { blocks.append(.text(text)) }
            if let refusal = message.refusal, !refusal.isEmpty { blocks.append(.text(refusal)) }
            for call in message.toolCalls ?? [] {
                let input = (try? JSONCoding.decode(JSONValue.self, from: call.function.arguments)) ?? .string(call.function.arguments)
                blocks.append(.toolUse(id: call.id, name: call.function.name, input: input, extra: [:]))
            }
        }
        return AnthropicResponse(
            id: messageID(completion.id), content: blocks, model: completion.model,
            stopReason: stopReason(choice?.finishReason, hasToolCalls: !(choice?.message.toolCalls ?? []).isEmpty),
            usage: completion.usage.map(AnthropicUsage.init) ?? AnthropicUsage(inputTokens: 0, outputTokens: 0))
    }

    /// Anthropic message ids start with `msg_`.
    static func messageID(_ id: String) -> String {
        id.hasPrefix("msg_") ? id : "msg_" + (id.isEmpty ? "gateway" : id)
    }
}
