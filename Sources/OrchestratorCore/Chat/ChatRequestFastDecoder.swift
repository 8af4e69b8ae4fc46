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
        try JSONCoding.validateRequest(body)
        if let request = body.withUnsafeReadableBytes({ ChatRequestFastDecoder.decode($0) }) { return request }
        return try JSONCoding.decodeValidatedRequest(ChatRequest.self, from: body)
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
public struct ChatRequestFastDecoder {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// The request, or nil when the body is outside the fast path's shape.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> ChatRequest? {
        var decoder = ChatRequestFastDecoder(bytes: bytes)
        return decoder.request()
    }

    /// A whole validated document as the `JSONValue` that decoding it as one gives, or
    /// nil when reading it that way is not certain to agree (see ``value()``).
    static func document(_ bytes: UnsafeRawBufferPointer) -> JSONValue? {
        var decoder = ChatRequestFastDecoder(bytes: bytes)
        decoder.index = JSONValidator.afterByteOrderMark(bytes)
        decoder.skipWhitespace()
        guard let value = decoder.value() else { return nil }
        decoder.skipWhitespace()
        return decoder.index == bytes.count ? value : nil
    }

    // MARK: Shapes

    private mutating func request() -> ChatRequest? {
        index = JSONValidator.afterByteOrderMark(bytes)
        // Filled in place and handed to the member closure rather than captured by it: a
        // captured value cannot be moved out at the end, and a chat request is dozens of
        // references to copy.
        var request = ChatRequest(model: "", messages: [])
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
                guard let value = decoder.string() else { return false }
                request.model = value
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
        return request
    }

    private mutating func messages() -> [ChatMessage]? {
        array { decoder in decoder.message() }
    }

    private mutating func message() -> ChatMessage? {
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

    private mutating func streamOptions(_ target: inout StreamOptions?) -> Bool {
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
    private mutating func contentPart() -> ContentPart? {
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
    private mutating func stop(_ target: inout StopSequences?) -> Bool {
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
    private mutating func responseFormat(_ target: inout ResponseFormat?) -> Bool {
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
    private mutating func toolCall() -> ToolCall? {
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
    private mutating func tool() -> Tool? {
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

    private mutating func functionDefinition() -> FunctionDefinition? {
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
    private mutating func toolChoice(_ target: inout ToolChoice?) -> Bool {
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

    // MARK: Untyped values

    /// An object of untyped values (`metadata`, `logit_bias`), or null for none.
    private mutating func optionalValues(_ target: inout [String: JSONValue]?) -> Bool {
        if takeNull() { return true }
        guard let values = objectValue() else { return false }
        target = values
        return true
    }

    /// An object of untyped values; nil for anything else.
    private mutating func objectValue() -> [String: JSONValue]? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{"), case .object(let members)? = value() else { return nil }
        return members
    }

    /// Any JSON value, as `JSONValue`'s decoding makes it: plain integers as `.int` (or
    /// `.uint` above `Int64.max`), other numbers as `.double` when they have a fractional
    /// part. Whether `JSONDecoder` reads `1.0` or `1e3` as an integer is for it to say,
    /// so those give nil, as do integers beyond `UInt64` and escaped keys. The
    /// validator bounds the nesting, so the recursion is bounded too.
    private mutating func value() -> JSONValue? {
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return string().map(JSONValue.string)
        case UInt8(ascii: "{"):
            var members: [String: JSONValue] = [:]
            let complete = object(filling: &members) { decoder, members, key in
                guard let value = decoder.value() else { return false }
                members[String(decoding: UnsafeRawBufferPointer(rebasing: decoder.bytes[key]), as: UTF8.self)] = value
                return true
            }
            return complete ? .object(members) : nil
        case UInt8(ascii: "["):
            return array({ decoder in decoder.value() }).map(JSONValue.array)
        case UInt8(ascii: "t"):
            return takeWord("true") ? .bool(true) : nil
        case UInt8(ascii: "f"):
            return takeWord("false") ? .bool(false) : nil
        case UInt8(ascii: "n"):
            return takeNull() ? .null : nil
        default:
            return number()
        }
    }

    /// ``integer()``, or a number with a fraction or an exponent whose value is not a
    /// whole number (Swift's and Foundation's parsers both round correctly).
    private mutating func number() -> JSONValue? {
        let start = index
        if let integer = integer() { return integer }
        index = start
        guard let value = double(), value.rounded(.towardZero) != value else { return nil }
        return .double(value)
    }

    /// `-?[0-9]+` that fits in `Int64` (or, when positive, `UInt64`), not followed by a
    /// fraction or an exponent: anything else is for `JSONDecoder` where an integer is
    /// expected.
    private mutating func integer() -> JSONValue? {
        let negative = take(UInt8(ascii: "-"))
        let start = index
        var magnitude: UInt64 = 0
        while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[index] &- UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            magnitude = sum
            index += 1
        }
        guard index > start else { return nil }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return .int(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
        }
        return magnitude <= UInt64(Int64.max) ? .int(Int64(magnitude)) : .uint(magnitude)
    }

    /// An array read with `element`, or null for none.
    private mutating func optionalArray<Element>(
        _ target: inout [Element]?, _ element: (inout ChatRequestFastDecoder) -> Element?
    ) -> Bool {
        if takeNull() { return true }
        guard let elements = array(element) else { return false }
        target = elements
        return true
    }

    /// Reads an array, each element with `element`; nil when one cannot be read.
    /// (Inlined, so that each use runs its element's reader without a closure call.)
    @inline(__always)
    private mutating func array<Element>(_ element: (inout ChatRequestFastDecoder) -> Element?) -> [Element]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var elements: [Element] = []
        skipWhitespace()
        if take(UInt8(ascii: "]")) { return elements }
        while true {
            skipWhitespace()
            guard let next = element(&self) else { return nil }
            // Moved in: a copy (a message is a dozen references) cost more than the loop.
            elements.append(consume next)
            skipWhitespace()
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "]")) ? elements : nil
        }
    }

    /// Reads an object whose keys have no escapes, handing each key (as a byte range) to
    /// `member`, which reads the value and says whether it could.
    private mutating func object(_ member: (inout ChatRequestFastDecoder, Range<Int>) -> Bool) -> Bool {
        var nothing: Void = ()
        return object(filling: &nothing) { decoder, _, key in member(&decoder, key) }
    }

    /// ``object(_:)`` with a value that `member` fills as it reads.
    private mutating func object<Value>(
        filling value: inout Value, _ member: (inout ChatRequestFastDecoder, inout Value, Range<Int>) -> Bool
    ) -> Bool {
        skipWhitespace()
        guard take(UInt8(ascii: "{")) else { return false }
        skipWhitespace()
        if take(UInt8(ascii: "}")) { return true }
        while true {
            skipWhitespace()
            guard take(UInt8(ascii: "\"")) else { return false }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                if bytes[index] == UInt8(ascii: "\\") { return false }
                index += 1
            }
            guard index < bytes.count else { return false }
            let key = start..<index
            index += 1
            skipWhitespace()
            guard take(UInt8(ascii: ":")) else { return false }
            skipWhitespace()
            guard member(&self, &value, key) else { return false }
            skipWhitespace()
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "}"))
        }
    }

    // MARK: Scalars

    private mutating func optionalBool(_ target: inout Bool?) -> Bool {
        if takeNull() { return true }
        if takeWord("true") {
            target = true
        } else if takeWord("false") {
            target = false
        } else {
            return false
        }
        return true
    }

    /// A string where null is not allowed.
    private mutating func requiredString(_ target: inout String?) -> Bool {
        guard let value = string() else { return false }
        target = value
        return true
    }

    private mutating func optionalString(_ target: inout String?) -> Bool {
        if takeNull() { return true }
        guard let value = string() else { return false }
        target = value
        return true
    }

    /// A plain integer (`-?[0-9]+`) that fits in an `Int`; anything else is for `JSONDecoder`.
    private mutating func optionalInt(_ target: inout Int?) -> Bool {
        if takeNull() { return true }
        guard case .int(let value)? = integer() else { return false }
        target = Int(value)
        return true
    }

    private mutating func optionalDouble(_ target: inout Double?) -> Bool {
        if takeNull() { return true }
        guard let value = double() else { return false }
        target = value
        return true
    }

    /// A finite number as `Double` (Swift's and Foundation's parsers both round
    /// correctly; the validator has checked the number's grammar).
    private mutating func double() -> Double? {
        let start = index
        while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard index > start, let value = Double(text), value.isFinite else { return nil }
        return value
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
            UInt8(ascii: "e"), UInt8(ascii: "E"):
            return true
        default:
            return false
        }
    }

    /// A string value, escapes decoded (the validator has checked them and the UTF-8).
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")), let base = bytes.baseAddress,
            // Eight bytes at a time: a string can be a whole document or an image.
            let stop = JSONObjectRewriter.Scanner.quoteOrBackslash(base, count: bytes.count, from: index)
        else { return nil }
        let start = index
        index = stop
        guard bytes[stop] == UInt8(ascii: "\"") else { return escapedString(from: start) }
        index += 1
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<stop]), as: UTF8.self)
    }

    /// The rest of a string that has escapes, from its first byte at `start`.
    private mutating func escapedString(from start: Int) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(index - start + 32)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            let (outcome, end) = JSONEscape.read(bytes, at: index)
            guard case .scalar(let scalar) = outcome else { return nil }
            out.append(contentsOf: UTF8.encode(scalar)!)
            index = end
        }
        return nil
    }

    // MARK: Bytes

    private func equals(_ range: Range<Int>, _ word: StaticString) -> Bool {
        guard range.count == word.utf8CodeUnitCount else { return false }
        for i in 0..<range.count where bytes[range.lowerBound + i] != word.utf8Start[i] { return false }
        return true
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func takeWord(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count, equals(index..<(index + count), word) else { return false }
        index += count
        return true
    }

    private mutating func takeNull() -> Bool { takeWord("null") }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }
}
