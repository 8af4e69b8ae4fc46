import OrchestratorCore

/// Reads an Anthropic Messages request (`POST /v1/messages`) straight from bytes that
/// ``JSONValidator`` has accepted, into the wire types, exactly as their `Codable`
/// readings do: every member the types read, blocks of every type with their unknown
/// members kept in `extra`, unknown top-level members kept, members a type ignores
/// stepped over.
///
/// Claude Code and other agents send their system prompt, a dozen tool definitions with
/// JSON Schemas and the whole `tool_use`/`tool_result` history on every turn. Through
/// the tree decoder (a `JSONValue` tree, then the types' `Codable` initializers over it)
/// a 4.7 KB agent turn took about 118 µs and 705 allocations.
///
/// Returns nil wherever a reading could differ from `JSONDecoder`'s or would fail: an
/// escaped key, a number whose reading as an integer is `JSONDecoder`'s to decide, a
/// member of the wrong kind, a missing required member, an unknown role or tool choice.
/// The caller then decodes the whole body the slow way, which gives every error.
enum AnthropicRequestFastDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer) -> AnthropicRequest? {
        JSONFastReader.document(bytes) { $0.anthropicRequest() }
    }
}

extension JSONFastReader {
    fileprivate mutating func anthropicRequest() -> AnthropicRequest? {
        var request = AnthropicRequest(model: "", maxTokens: nil, messages: [])
        var sawModel = false
        var sawMessages = false
        let complete = object(filling: &request) { reader, request, key in
            switch key.count {
            case 5 where reader.equals(key, "model"):
                guard let model = reader.string() else { return false }
                request.model = model
                sawModel = true
                return true
            case 8 where reader.equals(key, "messages"):
                guard let messages = reader.array({ $0.anthropicMessage() }) else { return false }
                request.messages = messages
                sawMessages = true
                return true
            case 6 where reader.equals(key, "system"):
                if reader.takeNull() { return true }
                request.system = reader.anthropicContent()
                return request.system != nil
            case 5 where reader.equals(key, "tools"): return reader.optionalArray(&request.tools) { $0.anthropicTool() }
            case 10 where reader.equals(key, "max_tokens"): return reader.optionalInt(&request.maxTokens)
            case 6 where reader.equals(key, "stream"): return reader.optionalBool(&request.stream)
            case 8 where reader.equals(key, "metadata"): return reader.optionalValues(&request.metadata)
            case 8 where reader.equals(key, "thinking"): return reader.optionalValue(&request.thinking)
            case 11 where reader.equals(key, "temperature"): return reader.optionalDouble(&request.temperature)
            case 11 where reader.equals(key, "tool_choice"): return reader.anthropicToolChoice(&request.toolChoice)
            case 5 where reader.equals(key, "top_p"): return reader.optionalDouble(&request.topP)
            case 5 where reader.equals(key, "top_k"): return reader.optionalInt(&request.topK)
            case 14 where reader.equals(key, "stop_sequences"):
                return reader.optionalArray(&request.stopSequences) { $0.string() }
            default: return reader.extraMember(key, into: &request.extra)
            }
        }
        guard complete, sawModel, sawMessages else { return nil }
        return request
    }

    /// A turn: `role` (`user` or `assistant`) and `content`; other members are not read.
    private mutating func anthropicMessage() -> AnthropicMessage? {
        var role: String?
        var content: AnthropicContent?
        let complete = object { reader, key in
            if reader.equals(key, "role") {
                role = reader.string()
                return role == "user" || role == "assistant"
            }
            if reader.equals(key, "content") {
                content = reader.anthropicContent()
                return content != nil
            }
            return reader.skipValue()
        }
        guard complete, let role, let content else { return nil }
        return AnthropicMessage(role: role, content: content)
    }

    /// A string, or an array of blocks.
    private mutating func anthropicContent() -> AnthropicContent? {
        switch next {
        case UInt8(ascii: "\""): return string().map(AnthropicContent.text)
        case UInt8(ascii: "["): return array({ $0.anthropicBlock() }).map(AnthropicContent.blocks)
        default: return nil
        }
    }

    /// A content block, read by its `type` (which may come after the members it governs).
    private mutating func anthropicBlock() -> AnthropicBlock? {
        guard next == UInt8(ascii: "{"), let type = peekString(member: "type") else { return nil }
        var extra: [String: JSONValue] = [:]
        switch type {
        case "text":
            var text: String?
            let complete = blockMembers(into: &extra) { reader, key in
                reader.equals(key, "text") ? reader.requiredString(&text) : nil
            }
            guard complete, let text else { return nil }
            return .text(text, extra: extra)
        case "image", "document":
            var source: AnthropicSource?
            let complete = blockMembers(into: &extra) { reader, key in
                guard reader.equals(key, "source") else { return nil }
                source = reader.anthropicSource()
                return source != nil
            }
            guard complete, let source else { return nil }
            return type == "image" ? .image(source, extra: extra) : .document(source, extra: extra)
        case "tool_use":
            var id: String?
            var name: String?
            var input: JSONValue?
            let complete = blockMembers(into: &extra) { reader, key in
                switch key.count {
                case 2 where reader.equals(key, "id"): return reader.requiredString(&id)
                case 4 where reader.equals(key, "name"): return reader.requiredString(&name)
                case 5 where reader.equals(key, "input"): return reader.optionalValue(&input)
                default: return nil
                }
            }
            guard complete, let id, let name else { return nil }
            return .toolUse(id: id, name: name, input: input ?? .object([:]), extra: extra)
        case "tool_result":
            var toolUseID: String?
            var content: AnthropicContent?
            var isError: Bool?
            let complete = blockMembers(into: &extra) { reader, key in
                switch key.count {
                case 11 where reader.equals(key, "tool_use_id"): return reader.requiredString(&toolUseID)
                case 7 where reader.equals(key, "content"):
                    if reader.takeNull() { return true }
                    content = reader.anthropicContent()
                    return content != nil
                case 8 where reader.equals(key, "is_error"): return reader.optionalBool(&isError)
                default: return nil
                }
            }
            guard complete, let toolUseID else { return nil }
            return .toolResult(toolUseID: toolUseID, content: content, isError: isError, extra: extra)
        case "thinking":
            var thinking: String?
            var signature: String?
            let complete = blockMembers(into: &extra) { reader, key in
                if reader.equals(key, "thinking") { return reader.requiredString(&thinking) }
                if reader.equals(key, "signature") { return reader.optionalString(&signature) }
                return nil
            }
            guard complete, let thinking else { return nil }
            return .thinking(thinking, signature: signature, extra: extra)
        case "redacted_thinking":
            // Its other members are not read, and so not kept.
            var data: String?
            let complete = object { reader, key in
                reader.equals(key, "data") ? reader.requiredString(&data) : reader.skipValue()
            }
            guard complete, let data else { return nil }
            return .redactedThinking(data: data)
        default:
            let complete = blockMembers(into: &extra) { _, _ in nil }
            guard complete else { return nil }
            return .other(type: type, fields: extra)
        }
    }

    /// Reads a block's members past its `type`: `member` reads the ones its type knows
    /// (nil for a member it does not), and the rest are kept in `extra` as sent.
    private mutating func blockMembers(
        into extra: inout [String: JSONValue], _ member: (inout JSONFastReader, Range<Int>) -> Bool?
    ) -> Bool {
        object(filling: &extra) { reader, extra, key in
            if reader.equals(key, "type") { return reader.skipValue() }
            if let read = member(&reader, key) { return read }
            return reader.extraMember(key, into: &extra)
        }
    }

    /// An image's or document's `source`.
    private mutating func anthropicSource() -> AnthropicSource? {
        var source = AnthropicSource(type: "")
        var type: String?
        let complete = object(filling: &source) { reader, source, key in
            switch key.count {
            case 4 where reader.equals(key, "type"): return reader.requiredString(&type)
            case 4 where reader.equals(key, "data"): return reader.optionalString(&source.data)
            case 3 where reader.equals(key, "url"): return reader.optionalString(&source.url)
            case 10 where reader.equals(key, "media_type"): return reader.optionalString(&source.mediaType)
            default: return reader.extraMember(key, into: &source.extra)
            }
        }
        guard complete, let type else { return nil }
        source.type = type
        return source
    }

    /// A tool definition: a client tool must have its `input_schema`.
    private mutating func anthropicTool() -> AnthropicTool? {
        var tool = AnthropicTool(name: "", inputSchema: nil)
        var name: String?
        let complete = object(filling: &tool) { reader, tool, key in
            switch key.count {
            case 4 where reader.equals(key, "type"): return reader.optionalString(&tool.type)
            case 4 where reader.equals(key, "name"): return reader.requiredString(&name)
            case 11 where reader.equals(key, "description"): return reader.optionalString(&tool.description)
            case 12 where reader.equals(key, "input_schema"): return reader.optionalValue(&tool.inputSchema)
            default: return reader.extraMember(key, into: &tool.extra)
            }
        }
        guard complete, let name else { return nil }
        tool.name = name
        guard !tool.isClientTool || tool.inputSchema != nil else { return nil }
        return tool
    }

    /// `tool_choice`, or null for none; members it does not read are stepped over.
    private mutating func anthropicToolChoice(_ target: inout AnthropicToolChoice?) -> Bool {
        if takeNull() { return true }
        var type: String?
        var name: String?
        var disableParallelToolUse: Bool?
        let complete = object { reader, key in
            switch key.count {
            case 4 where reader.equals(key, "type"): return reader.requiredString(&type)
            case 4 where reader.equals(key, "name"): return reader.optionalString(&name)
            case 25 where reader.equals(key, "disable_parallel_tool_use"): return reader.optionalBool(&disableParallelToolUse)
            default: return reader.skipValue()
            }
        }
        guard complete, let type else { return false }
        switch type {
        case "auto", "any", "none": break
        case "tool" where name != nil: break
        default: return false
        }
        target = AnthropicToolChoice(type: type, name: name, disableParallelToolUse: disableParallelToolUse)
        return true
    }
}
