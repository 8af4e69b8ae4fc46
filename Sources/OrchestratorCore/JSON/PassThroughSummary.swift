public import NIOCore

/// What the pass-through path needs to know about an OpenAI-style completion or stream
/// chunk, read with a structural scan instead of a full decode.
///
/// The bytes are forwarded as they are; the gateway only has to validate that they are
/// a JSON object, notice an `error` member, find `usage` (decoded alone, it is small),
/// tell the usage-only chunk (`"choices": []`), and count the output text for
/// estimates when an upstream reports no usage or a stream is cut short.
public struct PassThroughSummary: Sendable, Hashable {
    /// The `usage` member, decoded, when present and not null.
    public var usage: Usage?
    /// Whether the chunk has a top-level `error` member.
    public var hasError: Bool
    /// Whether `choices` is an empty array (or absent).
    public var choicesEmpty: Bool
    /// Whether there is a `choices` member holding an array.
    public var hasChoicesArray: Bool
    /// Whether there is a `data` member holding an array (an embeddings list).
    public var hasDataArray = false
    /// Bytes of output text in `content`, `reasoning_content` and tool-call `arguments` strings.
    public var textBytes: Int

    /// Whether this is the usage-only chunk sent at the end when `include_usage` is set.
    public var isUsageOnly: Bool { choicesEmpty && usage != nil }

    /// Scans `data`, one SSE event's payload.
    /// - Throws: ``JSONObjectRewriter/MalformedJSON`` when it is not a JSON object.
    public static func scan(_ data: String) throws -> PassThroughSummary {
        var data = data
        return try data.withUTF8 { try scan(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Scans a whole body (a non-streamed completion).
    public static func scan(_ body: ByteBuffer) throws -> PassThroughSummary {
        try body.withUnsafeReadableBytes { try scan(bytes: $0) }
    }

    /// Scans bytes in place (an SSE event's data as the scanner hands it over).
    public static func scan(bytes: UnsafeRawBufferPointer) throws -> PassThroughSummary {
        var summary = PassThroughSummary(usage: nil, hasError: false, choicesEmpty: true, hasChoicesArray: false, textBytes: 0)
        try JSONObjectRewriter.forEachMember(of: bytes) { key, _, valueRange in
            guard let member = Member(key) else { return }
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueRange])
            switch member {
            case .error:
                summary.hasError = !isNull(value)
            case .object:
                // vLLM's mid-stream errors: `{"object":"error","message":…}`.
                if RawBytes.equal(value, #""error""#) { summary.hasError = true }
            case .usage:
                if !isNull(value) { summary.usage = try scanUsage(value) }
            case .data:
                summary.hasDataArray = value.first == UInt8(ascii: "[")
            case .xGroq:
                // Groq reports a stream's usage in `x_groq.usage` on its last chunk.
                guard summary.usage == nil, value.first == UInt8(ascii: "{") else { return }
                try JSONObjectRewriter.forEachMember(of: value) { inner, _, innerRange in
                    if inner.equals("usage") {
                        let usage = UnsafeRawBufferPointer(rebasing: value[innerRange])
                        if !isNull(usage) { summary.usage = try scanUsage(usage) }
                    }
                }
            case .choices:
                summary.hasChoicesArray = value.first == UInt8(ascii: "[")
                summary.choicesEmpty = isEmptyArray(value)
                summary.textBytes = outputTextBytes(in: value)
            }
        }
        return summary
    }

    /// The top-level members the scan reads.
    private enum Member: CaseIterable {
        case error, object, usage, data, xGroq, choices

        /// Which one `key` is, told by its length first: a chunk has about ten members
        /// and most are none of these, so most keys are turned away by one comparison.
        init?(_ key: JSONObjectRewriter.RawKey) {
            if key.hasEscape {
                // Rare: compare the decoded key with each name.
                guard let member = Member.allCases.first(where: { key.equals($0.name) }) else { return nil }
                self = member
                return
            }
            let member: Member
            switch key.bytes.count {
            case 4: member = .data
            case 5: member = key.bytes.first == UInt8(ascii: "e") ? .error : .usage
            case 6: member = key.bytes.first == UInt8(ascii: "o") ? .object : .xGroq
            case 7: member = .choices
            default: return nil
            }
            guard RawBytes.equal(key.bytes, member.name) else { return nil }
            self = member
        }

        var name: StaticString {
            switch self {
            case .error: "error"
            case .object: "object"
            case .usage: "usage"
            case .data: "data"
            case .xGroq: "x_groq"
            case .choices: "choices"
            }
        }
    }

    /// Reads the token counts of a `usage` object (the fields the request log keeps)
    /// without a full decode. Nil when a count is neither null nor a non-negative
    /// integer: the gateway then estimates the tokens rather than failing a response
    /// whose content is fine.
    static func scanUsage(_ value: UnsafeRawBufferPointer) throws -> Usage? {
        guard value.first == UInt8(ascii: "{") else { return nil }
        var prompt: Int?
        var completion: Int?
        var total: Int?
        var cached: Int?
        var reasoning: Int?
        var malformed = false
        func count(_ field: UnsafeRawBufferPointer) -> Int? {
            if isNull(field) { return nil }
            guard let number = integer(field) else {
                malformed = true
                return nil
            }
            return number
        }
        func nested(_ key: StaticString, in object: UnsafeRawBufferPointer) throws -> Int? {
            guard object.first == UInt8(ascii: "{") else { return nil }
            var found: Int?
            try JSONObjectRewriter.forEachMember(of: object) { member, _, valueRange in
                if found == nil, member.equals(key) { found = count(UnsafeRawBufferPointer(rebasing: object[valueRange])) }
            }
            return found
        }
        try JSONObjectRewriter.forEachMember(of: value) { key, _, valueRange in
            let field = UnsafeRawBufferPointer(rebasing: value[valueRange])
            // Chat completions' names, and the Responses API's.
            if key.equals("prompt_tokens") || key.equals("input_tokens") {
                prompt = count(field)
            } else if key.equals("completion_tokens") || key.equals("output_tokens") {
                completion = count(field)
            } else if key.equals("total_tokens") {
                total = count(field)
            } else if key.equals("prompt_tokens_details") || key.equals("input_tokens_details") {
                cached = try nested("cached_tokens", in: field) ?? cached
            } else if key.equals("completion_tokens_details") || key.equals("output_tokens_details") {
                reasoning = try nested("reasoning_tokens", in: field)
            } else if key.equals("prompt_cache_hit_tokens"), cached == nil {
                // DeepSeek's name for cached prompt tokens.
                cached = count(field)
            }
        }
        if malformed { return nil }
        return Usage(
            promptTokens: prompt ?? 0, completionTokens: completion ?? 0, totalTokens: total, cachedTokens: cached,
            reasoningTokens: reasoning)
    }

    /// A non-negative JSON integer that fits in `Int`.
    static func integer(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    static func isNull(_ value: UnsafeRawBufferPointer) -> Bool {
        value.count == 4 && value[0] == UInt8(ascii: "n")
    }

    static func isEmptyArray(_ value: UnsafeRawBufferPointer) -> Bool {
        guard value.first == UInt8(ascii: "[") else { return false }
        for byte in value.dropFirst() {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "]"): return true
            default: return false
            }
        }
        return false
    }

    /// Total length of the string values of every `content`, `reasoning_content`,
    /// `reasoning` and `arguments` member in `bytes`, in one pass (this runs for every
    /// completion and stream chunk; four passes with sliced comparisons cost about 3 % of a
    /// request's CPU).
    static func outputTextBytes(in bytes: UnsafeRawBufferPointer) -> Int {
        var total = 0
        var i = 0
        let count = bytes.count
        while let found = JSONObjectRewriter.Scanner.quoteOrBackslash(in: bytes, from: i) {
            i = found
            guard bytes[i] == UInt8(ascii: "\""), let keyLength = textKeyLength(bytes, at: i) else {
                i += 1
                continue
            }
            var j = i + keyLength
            while j < count, isWhitespace(bytes[j]) { j += 1 }
            guard j < count, bytes[j] == UInt8(ascii: ":") else {
                i += 1
                continue
            }
            j += 1
            while j < count, isWhitespace(bytes[j]) { j += 1 }
            guard j < count, bytes[j] == UInt8(ascii: "\"") else {
                i = j
                continue
            }
            j += 1
            let start = j
            // A value cut short counts to the end.
            j = JSONObjectRewriter.Scanner.closingQuote(in: bytes, from: start)?.index ?? count
            total += j - start
            i = j + 1
        }
        return total
    }

    /// The length of the quoted text-member key at `i` (`"content"` …), if one is there.
    private static func textKeyLength(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Int? {
        guard i + 1 < bytes.count else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[i...])
        switch bytes[i + 1] {
        case UInt8(ascii: "c"):
            return RawBytes.hasPrefix(rest, #""content""#) ? 9 : nil
        case UInt8(ascii: "a"):
            return RawBytes.hasPrefix(rest, #""arguments""#) ? 11 : nil
        case UInt8(ascii: "r"):
            if RawBytes.hasPrefix(rest, #""reasoning""#) { return 11 }
            return RawBytes.hasPrefix(rest, #""reasoning_content""#) ? 19 : nil
        default:
            return nil
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
