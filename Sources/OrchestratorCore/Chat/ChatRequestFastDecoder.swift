public import NIOCore

extension ChatRequest {
    /// Decodes a client's chat request: strict validation (``JSONValidator``), then the
    /// fast path for the common shape, else `JSONDecoder` with its precise errors.
    ///
    /// Every request pays for this, and `JSONDecoder` with `Codable` cost about a tenth of
    /// the gateway's CPU per request: generic containers, a key lookup per field, a
    /// dictionary for unknown fields. Most requests are a model, plain-text messages and a
    /// few scalars; ``ChatRequestFastDecoder`` reads exactly that shape straight from the
    /// bytes and gives up on anything else, so the result is always the one `JSONDecoder`
    /// would give (a differential test holds it to that).
    public static func decode(from body: ByteBuffer) throws(GatewayError) -> ChatRequest {
        try decodeLocatingModel(from: body).request
    }

    /// ``decode(from:)``, and where the top-level `model` value (the JSON string, quotes
    /// and escapes as written) lies in the body's readable bytes, when the fast path read
    /// the request (nil otherwise): a same-style pass-through then replaces it in place
    /// instead of walking the body again.
    public static func decodeLocatingModel(from body: ByteBuffer) throws(GatewayError)
        -> (request: ChatRequest, modelValue: Range<Int>?)
    {
        try JSONCoding.validateRequest(body)
        if let (request, model) = body.withUnsafeReadableBytes({ ChatRequestFastDecoder.decodeLocatingModel($0) }) {
            return (request, model)
        }
        return (try JSONCoding.decodeValidatedRequest(ChatRequest.self, from: body), nil)
    }
}

/// Reads a chat request of the common shape from bytes already checked by
/// ``JSONValidator`` (well-formed, UTF-8, no duplicate keys): top-level `model`,
/// `messages` whose members are `role` (a known role), `content` (a string or null),
/// `name`, `tool_calls` and `tool_call_id`, the scalar options, `stop`,
/// `response_format`, and an agent's `tools` (functions with JSON Schema parameters),
/// `tool_choice`, `metadata` and `logit_bias`; content may be text or parts (text,
/// images, others kept as they are). Returns nil at the first thing outside that shape
/// — an unknown member, a number that is not a plain integer where one is expected (in
/// a schema too), an escaped key — and the caller decodes with `JSONDecoder` instead.
///
/// An agent's request carries its tool definitions every time: through `JSONDecoder`,
/// whose untyped values try each kind in turn (and build an error for every wrong
/// guess), a 3 KB body with two tools took about 150 µs and 890 allocations.
public enum ChatRequestFastDecoder {
    /// The request, or nil when the body is outside the fast path's shape.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> ChatRequest? {
        decodeLocatingModel(bytes)?.request
    }

    /// The request and where its `model` value (a JSON string token) lies in `bytes`,
    /// or nil when the body is outside the fast path's shape.
    public static func decodeLocatingModel(_ bytes: UnsafeRawBufferPointer) -> (request: ChatRequest, model: Range<Int>)? {
        var reader = JSONFastReader(bytes: bytes)
        return reader.chatRequest()
    }
}

extension JSONFastReader {
    // MARK: Shapes

    fileprivate mutating func chatRequest() -> (request: ChatRequest, model: Range<Int>)? {
        index = JSONValidator.afterByteOrderMark(bytes)
        // Filled in place and handed to the member closure rather than captured by it: a
        // captured value cannot be moved out at the end, and a chat request is dozens of
        // references to copy.
        var request = ChatRequest(model: "", messages: [])
        var model = 0..<0
        var sawModel = false
        var sawMessages = false
        let complete = object(filling: &request) { decoder, request, key in
            switch key.count {
            case 1 where decoder.equals(key, "n"): return decoder.optionalInt(&request.n)
            case 4 where decoder.equals(key, "user"): return decoder.optionalString(&request.user)
            case 4 where decoder.equals(key, "seed"):
                var seed: Int?
                guard decoder.optionalInt(&seed) else { return false }
                request.seed = seed.map(Int64.init)
                return true
            case 5 where decoder.equals(key, "model"):
                let start = decoder.index
                guard let value = decoder.string() else { return false }
                request.model = value
                model = start..<decoder.index
                sawModel = true
                return true
            case 5 where decoder.equals(key, "top_p"): return decoder.optionalDouble(&request.topP)
            case 5 where decoder.equals(key, "tools"): return decoder.optionalArray(&request.tools) { $0.tool() }
            case 4 where decoder.equals(key, "stop"): return decoder.stop(&request.stop)
            case 8 where decoder.equals(key, "metadata"): return decoder.optionalValues(&request.metadata)
            case 10 where decoder.equals(key, "logit_bias"): return decoder.optionalValues(&request.logitBias)
            case 11 where decoder.equals(key, "tool_choice"): return decoder.toolChoice(&request.toolChoice)
            case 15 where decoder.equals(key, "response_format"): return decoder.responseFormat(&request.responseFormat)
            case 6 where decoder.equals(key, "stream"): return decoder.optionalBool(&request.stream)
            case 8 where decoder.equals(key, "messages"):
                guard let messages = decoder.messages() else { return false }
                request.messages = messages
                sawMessages = true
                return true
            case 8 where decoder.equals(key, "logprobs"): return decoder.optionalBool(&request.logprobs)
            case 10 where decoder.equals(key, "max_tokens"): return decoder.optionalInt(&request.maxTokens)
            case 11 where decoder.equals(key, "temperature"): return decoder.optionalDouble(&request.temperature)
            case 12 where decoder.equals(key, "top_logprobs"): return decoder.optionalInt(&request.topLogprobs)
            case 14 where decoder.equals(key, "stream_options"): return decoder.streamOptions(&request.streamOptions)
            case 16 where decoder.equals(key, "presence_penalty"): return decoder.optionalDouble(&request.presencePenalty)
            case 16 where decoder.equals(key, "reasoning_effort"): return decoder.optionalString(&request.reasoningEffort)
            case 17 where decoder.equals(key, "frequency_penalty"): return decoder.optionalDouble(&request.frequencyPenalty)
            case 19 where decoder.equals(key, "parallel_tool_calls"): return decoder.optionalBool(&request.parallelToolCalls)
            case 21 where decoder.equals(key, "max_completion_tokens"):
                return decoder.optionalInt(&request.maxCompletionTokens)
            default: return false
            }
        }
        skipWhitespace()
        guard complete, index == bytes.count, sawModel, sawMessages else { return nil }
        return (request, model)
    }

    fileprivate mutating func messages() -> [ChatMessage]? {
        array { decoder in decoder.message() }
    }

    fileprivate mutating func message() -> ChatMessage? {
        var sawRole = false
        var message = ChatMessage(role: .user)
        let complete = object(filling: &message) { decoder, message, key in
            if decoder.equals(key, "role") {
                guard let role = decoder.string(), ChatMessage.Role.known.contains(role) else { return false }
                message.role = ChatMessage.Role(rawValue: role)
                sawRole = true
                return true
            }
            if decoder.equals(key, "content") {
                if decoder.takeNull() { return true }
                if decoder.index < decoder.bytes.count, decoder.bytes[decoder.index] == UInt8(ascii: "[") {
                    guard let parts = decoder.array({ $0.contentPart() }) else { return false }
                    message.content = .parts(parts)
                    return true
                }
                guard let text = decoder.string() else { return false }
                message.content = .text(text)
                return true
            }
            if decoder.equals(key, "name") { return decoder.optionalString(&message.name) }
            if decoder.equals(key, "tool_calls") { return decoder.optionalArray(&message.toolCalls) { $0.toolCall() } }
            if decoder.equals(key, "tool_call_id") { return decoder.optionalString(&message.toolCallID) }
            return false
        }
        guard complete, sawRole else { return nil }
        return message
    }

    fileprivate mutating func streamOptions(_ target: inout StreamOptions?) -> Bool {
        if takeNull() { return true }
        var options = StreamOptions()
        let complete = object { decoder, key in
            decoder.equals(key, "include_usage") && decoder.optionalBool(&options.includeUsage)
        }
        guard complete else { return false }
        target = options
        return true
    }

    /// One part of a message's content, read as ``ContentPart`` reads it: `text`, an
    /// `image_url` (a string or `url` and `detail`), or any other type with its members.
    fileprivate mutating func contentPart() -> ContentPart? {
        guard var members = objectValue(), case .string(let type)? = members.removeValue(forKey: "type") else { return nil }
        switch type {
        case "text":
            // Other members are not read (a `cache_control`, say), as `ContentPart` reads them.
            guard case .string(let text)? = members["text"] else { return nil }
            return .text(text)
        case "image_url":
            switch members["image_url"] {
            case .string(let url)?:
                return .imageURL(.init(url: url))
            case .object(let image)?:
                guard case .string(let url)? = image["url"] else { return nil }
                switch image["detail"] {
                case nil, .null?: return .imageURL(.init(url: url))
                case .string(let detail)?: return .imageURL(.init(url: url, detail: detail))
                default: return nil
                }
            default:
                return nil
            }
        default:
            return .other(type: type, fields: members)
        }
    }

    /// `stop`: a string, an array of strings, or null.
    fileprivate mutating func stop(_ target: inout StopSequences?) -> Bool {
        if takeNull() { return true }
        if let single = string() {
            target = .single(single)
            return true
        }
        guard let multiple = array({ $0.string() }) else { return false }
        target = .multiple(multiple)
        return true
    }

    /// `response_format`: `text`, `json_object` or `json_schema` (`name`, `description`,
    /// `schema`, `strict`), other members kept, as ``ResponseFormat`` reads it.
    fileprivate mutating func responseFormat(_ target: inout ResponseFormat?) -> Bool {
        if takeNull() { return true }
        guard var members = objectValue(), case .string(let type)? = members.removeValue(forKey: "type") else { return false }
        let schema = members.removeValue(forKey: "json_schema")
        switch type {
        case "text", "json_object":
            target = ResponseFormat(type: type, extra: members)
        case "json_schema":
            guard case .object(let format)? = schema, case .string(let name)? = format["name"] else { return false }
            var jsonSchema = ResponseFormat.JSONSchemaFormat(name: name)
            switch format["description"] {
            case nil, .null?: break
            case .string(let description)?: jsonSchema.description = description
            default: return false
            }
            switch format["schema"] {
            case nil, .null?: break
            case let schema?: jsonSchema.schema = schema
            }
            switch format["strict"] {
            case nil, .null?: break
            case .bool(let strict)?: jsonSchema.strict = strict
            default: return false
            }
            target = ResponseFormat(type: type, jsonSchema: jsonSchema, extra: members)
        default:
            return false
        }
        return true
    }

    // MARK: Tools

    /// One of an assistant message's `tool_calls`: `id`, `type` and `function` (`name`
    /// and `arguments`, both strings); any other member is for `JSONDecoder`.
    mutating func toolCall() -> ToolCall? {
        var id: String?
        var type: String?
        var function: FunctionCall?
        let complete = object { decoder, key in
            if decoder.equals(key, "id") { return decoder.requiredString(&id) }
            if decoder.equals(key, "type") { return decoder.optionalString(&type) }
            if decoder.equals(key, "function") {
                var name: String?
                var arguments: String?
                let read = decoder.object { decoder, key in
                    if decoder.equals(key, "name") { return decoder.requiredString(&name) }
                    if decoder.equals(key, "arguments") { return decoder.requiredString(&arguments) }
                    return false
                }
                guard read, let name, let arguments else { return false }
                function = FunctionCall(name: name, arguments: arguments)
                return true
            }
            return false
        }
        guard complete, let id, let function else { return nil }
        return ToolCall(id: id, type: type ?? "function", function: function)
    }

    /// One of `tools`: a function (`type` `"function"`) with a `name` and any of
    /// `description`, `parameters` and `strict`; any other member or type is for
    /// `JSONDecoder`.
    fileprivate mutating func tool() -> Tool? {
        var type: String?
        var function: FunctionDefinition?
        let complete = object { decoder, key in
            if decoder.equals(key, "type") { return decoder.requiredString(&type) }
            if decoder.equals(key, "function") {
                function = decoder.functionDefinition()
                return function != nil
            }
            return false
        }
        guard complete, type == "function", let function else { return nil }
        return Tool(type: "function", function: function)
    }

    fileprivate mutating func functionDefinition() -> FunctionDefinition? {
        var function = FunctionDefinition(name: "")
        var name: String?
        let complete = object(filling: &function) { decoder, function, key in
            switch key.count {
            case 4 where decoder.equals(key, "name"): return decoder.requiredString(&name)
            case 6 where decoder.equals(key, "strict"): return decoder.optionalBool(&function.strict)
            case 10 where decoder.equals(key, "parameters"):
                // An explicit null is no parameters, as `decodeIfPresent` reads it.
                if decoder.takeNull() { return true }
                guard let parameters = decoder.value() else { return false }
                function.parameters = parameters
                return true
            case 11 where decoder.equals(key, "description"): return decoder.optionalString(&function.description)
            default: return false
            }
        }
        guard complete, let name else { return nil }
        function.name = name
        return function
    }

    /// `tool_choice`: one of its three words, or an object read as ``ToolChoice`` reads it.
    fileprivate mutating func toolChoice(_ target: inout ToolChoice?) -> Bool {
        if takeNull() { return true }
        if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            switch string() {
            case "none": target = ToolChoice.none
            case "auto": target = .auto
            case "required": target = .required
            default: return false
            }
            return true
        }
        guard let members = objectValue() else { return false }
        target = ToolChoice(object: .object(members))
        return target != nil
    }
}
