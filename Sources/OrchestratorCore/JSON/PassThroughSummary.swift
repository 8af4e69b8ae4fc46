public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What the pass-through path needs to know about an OpenAI-style completion or stream
/// chunk, read with a structural scan instead of a full decode.
///
/// The bytes are forwarded as they are; the gateway only has to validate that they are
/// a JSON object, notice an `error` member, find `usage` (decoded alone, it is small),
/// tell the usage-only chunk (`"choices": []`), and count the output text for
/// estimates when an upstream reports no usage or a stream is cut short.
public struct PassThroughSummary: Sendable, Hashable {
    /// The `usage` member, decoded, when present and not null.
    public var usage: Usage? {
        get { counts?.usage }
        set { counts = newValue.map(UsageCounts.init) }
    }
    /// The counts `usage` is made of, kept as plain integers: a stream's scanner copies
    /// its summaries for every chunk, and `Usage` (with its dictionaries of extra
    /// details, always empty here) made each copy and destroy a call through its value
    /// witnesses plus a retain or release per dictionary.
    private var counts: UsageCounts?
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
    public var isUsageOnly: Bool { choicesEmpty && counts != nil }

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
        var summary = PassThroughSummary.empty
        try walk(bytes, from: nil, into: &summary, reached: { _ in }, beforeChoices: { _ in })
        return summary
    }

    /// A summary from its values (for tests; internal, as the synthesized one was).
    init(usage: Usage?, hasError: Bool, choicesEmpty: Bool, hasChoicesArray: Bool, hasDataArray: Bool = false, textBytes: Int) {
        self.counts = usage.map(UsageCounts.init)
        self.hasError = hasError
        self.choicesEmpty = choicesEmpty
        self.hasChoicesArray = hasChoicesArray
        self.hasDataArray = hasDataArray
        self.textBytes = textBytes
    }

    static let empty = PassThroughSummary(usage: nil, hasError: false, choicesEmpty: true, hasChoicesArray: false, textBytes: 0)

    /// The token counts a scan reads (see ``PassThroughSummary/scanUsage(_:)``).
    struct UsageCounts: Sendable, Hashable {
        var prompt: Int
        var completion: Int
        var total: Int
        var cached: Int?
        var reasoning: Int?

        init(prompt: Int, completion: Int, total: Int?, cached: Int?, reasoning: Int?) {
            self.prompt = prompt
            self.completion = completion
            // As `Usage` fills in a missing total.
            self.total = total ?? Usage.sum(prompt, completion)
            self.cached = cached
            self.reasoning = reasoning
        }

        init(_ usage: Usage) {
            self.init(
                prompt: usage.promptTokens, completion: usage.completionTokens, total: usage.totalTokens,
                cached: usage.cachedTokens, reasoning: usage.reasoningTokens)
        }

        var usage: Usage {
            Usage(
                promptTokens: prompt, completionTokens: completion, totalTokens: total, cachedTokens: cached,
                reasoningTokens: reasoning)
        }
    }

    typealias WalkPoint = JSONObjectRewriter.Scanner.WalkPoint

    /// Reads the members of the object in `bytes` into `summary`, from `point` on when
    /// it is given (see ``JSONObjectRewriter/Scanner/walkObject``). The first `choices`
    /// member is the marked one: `reached` gets the points at its value and at the first
    /// string inside it, and `beforeChoices` the summary as it stood before it.
    @inline(__always)
    private static func walk(
        _ bytes: UnsafeRawBufferPointer, from point: WalkPoint?, into summary: inout PassThroughSummary,
        reached: (WalkPoint) -> Void, beforeChoices: (_ summary: PassThroughSummary) -> Void
    ) throws {
        // Output text is counted anywhere in the chunk as it is walked; only what is in
        // `choices` is kept.
        try JSONObjectRewriter.Scanner.walkObject(
            bytes, from: point, counting: isOutputText, marking: { Member($0) == .choices }, reached: reached
        ) { key, _, valueRange, counted in
            guard let member = Member(key) else { return }
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueRange])
            switch member {
            case .error:
                summary.hasError = !isNull(value)
            case .object:
                // vLLM's mid-stream errors: `{"object":"error","message":…}`.
                if RawBytes.equal(value, #""error""#) { summary.hasError = true }
            case .usage:
                if !isNull(value) { summary.counts = try scanUsage(value) }
            case .data:
                summary.hasDataArray = value.first == UInt8(ascii: "[")
            case .xGroq:
                // Groq reports a stream's usage in `x_groq.usage` on its last chunk.
                guard summary.counts == nil, value.first == UInt8(ascii: "{") else { return }
                try JSONObjectRewriter.forEachMember(of: value) { inner, _, innerRange in
                    if inner.equals("usage") {
                        let usage = UnsafeRawBufferPointer(rebasing: value[innerRange])
                        if !isNull(usage) { summary.counts = try scanUsage(usage) }
                    }
                }
            case .choices:
                // Only a walk from the start has anything before `choices` to report.
                if point == nil { beforeChoices(summary) }
                summary.hasChoicesArray = value.first == UInt8(ascii: "[")
                summary.choicesEmpty = isEmptyArray(value)
                summary.textBytes = counted
            }
        }
    }

    /// Scans the chunks of one stream, in order.
    ///
    /// OpenAI-style upstreams repeat the members before `choices` (`id`, `object`,
    /// `created`, `model`, `system_fingerprint`…) in every chunk of a stream, byte for
    /// byte, and within `choices` the start of a content delta
    /// (`[{"index":0,"delta":{"content":`): most of a typical chunk. So the scanner keeps
    /// the bytes of the last chunk it walked up to the first string inside `choices`,
    /// with where its walk stood at `choices`' value and at that string and what it had
    /// found before them. A chunk that starts with the same bytes is walked from the
    /// later point it shares (one `memcmp` each). The result is the same as
    /// ``PassThroughSummary/scan(bytes:)``'s for every chunk; a chunk that starts
    /// differently is walked in full and becomes the new reference.
    ///
    /// The bytes after that first string are mostly the same from chunk to chunk too
    /// (`},"logprobs":null,"finish_reason":null}],"usage":null}`), so the scanner also
    /// keeps those of the last chunk it walked, with its summary. A chunk that is that
    /// chunk with only the string's text changed is not walked at all: the walk reads a
    /// string's text only to find its end, so the chunk's summary is the kept one with
    /// the text count moved by the change in the string's length.
    public struct StreamScanner: Sendable {
        /// Points further in are not kept (a chunk with a large member first).
        static let maxPrefix = 1024

        /// The reference chunk's bytes up to its last point.
        private(set) var prefix: [UInt8] = []
        /// Where the reference's walk stood at `choices`' value, and at the first string
        /// inside it.
        private var atChoices: WalkPoint?
        private var atInner: WalkPoint?
        /// What the reference's walk had found before `choices`.
        private var beforeChoices = PassThroughSummary.empty
        /// The last walked chunk's bytes after its string at `atInner`, the length of that
        /// string's text, and the chunk's summary; nil when there is no `atInner`.
        private(set) var tail: [UInt8] = []
        private var tailSummary: PassThroughSummary?
        private var tailStringLength = 0
        /// The offset the last scan went on from: 0 for a whole walk, the chunk's length
        /// when only its string at `atInner` was read (for tests).
        private(set) var lastResumedAt = 0

        /// What a walk reached: the points, and the summary before `choices`.
        private struct Found {
            var choices: WalkPoint?
            var inner: WalkPoint?
            var before: PassThroughSummary?
        }

        public init() {}

        /// Scans one chunk's bytes.
        /// - Throws: ``JSONObjectRewriter/MalformedJSON`` when they are not a JSON object.
        public mutating func scan(bytes: UnsafeRawBufferPointer) throws -> PassThroughSummary {
            // The later point the chunk shares with the reference, if any. (One walk call
            // below, not one per case: the compiler then inlines it with its closures.)
            var start: WalkPoint?
            if let base = bytes.baseAddress {
                func startsLikeReference(upTo offset: Int) -> Bool {
                    bytes.count > offset && prefix.withUnsafeBytes { memcmp(base, $0.baseAddress!, offset) == 0 }
                }
                if let atInner, startsLikeReference(upTo: atInner.offset) {
                    if let summary = sameButString(bytes, base: base, at: atInner) {
                        lastResumedAt = bytes.count
                        return summary
                    }
                    start = atInner
                } else if let atChoices, startsLikeReference(upTo: atChoices.offset) {
                    start = atChoices
                }
            }
            var summary = start == nil ? PassThroughSummary.empty : beforeChoices
            // Written through a pointer: captured as plain variables, these large values
            // were copied from slot to slot on every turn of the walk's loop.
            var found = Found()
            try withUnsafeMutablePointer(to: &found) { found in
                try PassThroughSummary.walk(
                    bytes, from: start, into: &summary,
                    reached: { point in
                        if point.seeksInner { found.pointee.choices = point } else { found.pointee.inner = point }
                    },
                    beforeChoices: { if found.pointee.before == nil { found.pointee.before = $0 } })
            }
            lastResumedAt = start?.offset ?? 0
            let reachedInner = found.inner
            if let start {
                if start.seeksInner {
                    // Went on from `choices`' value: this chunk's start inside it becomes
                    // the reference's.
                    prefix.removeSubrange(start.offset...)
                    if let inner = reachedInner, inner.offset <= Self.maxPrefix {
                        Self.append(UnsafeRawBufferPointer(rebasing: bytes[start.offset..<inner.offset]), to: &prefix)
                        atInner = inner
                    } else {
                        atInner = nil
                    }
                }
            } else if let choices = found.choices, let before = found.before, choices.offset <= Self.maxPrefix {
                // Walked in full: this chunk becomes the reference.
                let inner = reachedInner.flatMap { $0.offset <= Self.maxPrefix ? $0 : nil }
                prefix.removeAll(keepingCapacity: true)
                Self.append(UnsafeRawBufferPointer(rebasing: bytes[..<(inner ?? choices).offset]), to: &prefix)
                atChoices = choices
                atInner = inner
                beforeChoices = before
            } else {
                // Walked in full and kept nothing: the reference, and its tail, stay.
                return summary
            }
            // This chunk starts like the reference up to `atInner`: its tail is kept.
            keepTail(of: bytes, summary: summary)
            return summary
        }

        /// The summary of a chunk that is the last walked one with only the string at
        /// `inner` changed, or nil when it is not. The caller has compared the bytes
        /// before `inner` (and the chunk goes on past them).
        private func sameButString(_ bytes: UnsafeRawBufferPointer, base: UnsafeRawPointer, at inner: WalkPoint) -> PassThroughSummary? {
            guard var summary = tailSummary, let end = Self.endOfString(at: inner, in: bytes), bytes.count - end == tail.count,
                tail.withUnsafeBytes({ $0.isEmpty || memcmp(base + end, $0.baseAddress!, $0.count) == 0 })
            else { return nil }
            if inner.countsValue { summary.textBytes += (end - inner.offset - 2) - tailStringLength }
            return summary
        }

        /// Keeps the bytes of `bytes` after its string at `atInner`, and its summary.
        private mutating func keepTail(of bytes: UnsafeRawBufferPointer, summary: PassThroughSummary) {
            tail.removeAll(keepingCapacity: true)
            tailSummary = nil
            // This chunk may have another value there.
            guard let inner = atInner, let end = Self.endOfString(at: inner, in: bytes), bytes.count - end <= Self.maxPrefix
            else { return }
            Self.append(UnsafeRawBufferPointer(rebasing: bytes[end...]), to: &tail)
            tailSummary = summary
            tailStringLength = end - inner.offset - 2
        }

        /// Just past the closing quote of the string that begins at `point`, found as the
        /// walk finds it; nil when the value there is no string or the string never ends.
        /// The caller knows the bytes reach past `point`.
        @inline(__always)
        private static func endOfString(at point: WalkPoint, in bytes: UnsafeRawBufferPointer) -> Int? {
            guard let base = bytes.baseAddress, base.load(fromByteOffset: point.offset, as: UInt8.self) == UInt8(ascii: "\"")
            else { return nil }
            return JSONObjectRewriter.Scanner.stringEnd(base, count: bytes.count, quoteAt: point.offset)?.end
        }

        /// Appends with one copy (appending the raw buffer itself went byte by byte).
        private static func append(_ bytes: UnsafeRawBufferPointer, to array: inout [UInt8]) {
            bytes.withMemoryRebound(to: UInt8.self) { array.append(contentsOf: $0) }
        }
    }

    /// Whether `key` names output text: `content`, `reasoning_content`, `reasoning`
    /// (vLLM) or a tool call's `arguments`. Their string values, wherever they are in
    /// `choices`, are what the gateway counts for estimates.
    ///
    /// This runs for every key of every chunk. Only the length test is inlined into the
    /// walk, which turns most keys away; with the comparisons inlined too, the compiler
    /// called it through a closure for every key instead (about 3,000 instructions more
    /// per stream request).
    @inline(__always)
    static func isOutputText(_ key: JSONObjectRewriter.RawKey) -> Bool {
        guard key.bytes.count == 7 || key.bytes.count == 9 || key.bytes.count == 17 || key.hasEscape else { return false }
        return isOutputTextKey(key)
    }

    private static func isOutputTextKey(_ key: JSONObjectRewriter.RawKey) -> Bool {
        if key.hasEscape {
            // Decoded once (this runs for escaped keys at any depth of the chunk).
            guard let name = try? key.decoded() else { return false }
            return name == "content" || name == "arguments" || name == "reasoning" || name == "reasoning_content"
        }
        switch key.bytes.count {
        case 7: return RawBytes.equal(key.bytes, "content")
        case 9: return RawBytes.equal(key.bytes, "arguments") || RawBytes.equal(key.bytes, "reasoning")
        case 17: return RawBytes.equal(key.bytes, "reasoning_content")
        default: return false
        }
    }

    /// The top-level members the scan reads.
    private enum Member: CaseIterable, Equatable {
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
    static func scanUsage(_ value: UnsafeRawBufferPointer) throws -> UsageCounts? {
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
            guard let name = UsageMember(key) else { return }
            let field = UnsafeRawBufferPointer(rebasing: value[valueRange])
            switch name {
            case .prompt: prompt = count(field)
            case .completion: completion = count(field)
            case .total: total = count(field)
            case .promptDetails: cached = try nested("cached_tokens", in: field) ?? cached
            case .completionDetails: reasoning = try nested("reasoning_tokens", in: field)
            case .promptCacheHit where cached == nil: cached = count(field)
            case .promptCacheHit: break
            }
        }
        if malformed { return nil }
        return UsageCounts(prompt: prompt ?? 0, completion: completion ?? 0, total: total, cached: cached, reasoning: reasoning)
    }

    /// The members of a `usage` object the scan reads: chat completions' names, the
    /// Responses API's (`input_tokens`…), and DeepSeek's name for cached prompt tokens.
    private enum UsageMember {
        case prompt, completion, total, promptDetails, completionDetails, promptCacheHit

        /// Which one `key` is, told by its length and first byte, then one comparison:
        /// comparing each key with all ten names in turn cost about 800 instructions
        /// for a usual usage object, on every completion.
        init?(_ key: JSONObjectRewriter.RawKey) {
            if key.hasEscape {
                // Rare: the decoded key, by name.
                guard let name = try? key.decoded() else { return nil }
                switch name {
                case "prompt_tokens", "input_tokens": self = .prompt
                case "completion_tokens", "output_tokens": self = .completion
                case "total_tokens": self = .total
                case "prompt_tokens_details", "input_tokens_details": self = .promptDetails
                case "completion_tokens_details", "output_tokens_details": self = .completionDetails
                case "prompt_cache_hit_tokens": self = .promptCacheHit
                default: return nil
                }
                return
            }
            let startsWithP = key.bytes.first == UInt8(ascii: "p")
            let member: UsageMember
            let name: StaticString
            switch key.bytes.count {
            case 12:
                (member, name) = key.bytes.first == UInt8(ascii: "i") ? (.prompt, "input_tokens") : (.total, "total_tokens")
            case 13: (member, name) = startsWithP ? (.prompt, "prompt_tokens") : (.completion, "output_tokens")
            case 17: (member, name) = (.completion, "completion_tokens")
            case 20: (member, name) = (.promptDetails, "input_tokens_details")
            case 21:
                (member, name) = startsWithP ? (.promptDetails, "prompt_tokens_details") : (.completionDetails, "output_tokens_details")
            case 23: (member, name) = (.promptCacheHit, "prompt_cache_hit_tokens")
            case 25: (member, name) = (.completionDetails, "completion_tokens_details")
            default: return nil
            }
            guard RawBytes.equal(key.bytes, name) else { return nil }
            self = member
        }
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
}
