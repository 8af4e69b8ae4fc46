public import NIOCore
import Foundation

/// Rewrites top-level members of a JSON object without decoding the rest.
///
/// The pass-through path forwards the client's body to a same-style upstream with only
/// a few top-level keys changed (`model`, `stream_options`, a target's `extra_body`).
/// Everything else — key order, number spellings, large integers, unknown fields — is
/// copied byte for byte.
public struct JSONObjectRewriter: Sendable {
    /// A top-level member: its key and where its `"key": value` text lies.
    public struct Member: Sendable, Hashable {
        public var key: String
        /// From the key's opening quote to the end of the value.
        public var memberRange: Range<Int>
        /// The value alone.
        public var valueRange: Range<Int>
    }

    /// Raised when the input is not a JSON object.
    public struct MalformedJSON: Error, Sendable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "malformed JSON at byte \(offset): \(reason)" }
    }

    /// A new value for a key; nil removes the member. A struct, not a tuple: an array of
    /// tuples is destroyed through the runtime's generic tuple witnesses.
    private struct Replacement {
        var key: String
        var value: [UInt8]?
    }

    /// New values by key, in the order they were set.
    private var replacements: [Replacement] = []

    public init() {}

    /// Sets top-level `key` to `json` (already-encoded JSON text), replacing any existing value.
    public mutating func set(_ key: String, json: some Sequence<UInt8>) {
        replacements.removeAll { $0.key == key }
        replacements.append(Replacement(key: key, value: Array(json)))
    }

    /// Removes top-level `key`, if present.
    public mutating func remove(_ key: String) {
        replacements.removeAll { $0.key == key }
        replacements.append(Replacement(key: key, value: nil))
    }

    /// Sets top-level `key` to a string value.
    public mutating func set(_ key: String, string: String) {
        set(key, json: Self.encodeString(string))
    }

    /// Sets top-level `key` to an encodable value.
    public mutating func set(_ key: String, value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        set(key, json: try encoder.encode(value))
    }

    /// Whether any change is pending.
    public var isEmpty: Bool { replacements.isEmpty }

    /// Applies the pending changes to `body`.
    public func apply(to body: ByteBuffer) throws -> ByteBuffer {
        if replacements.isEmpty { return body }
        return try body.withUnsafeReadableBytes { raw -> ByteBuffer in
            var out = ByteBuffer()
            out.reserveCapacity(raw.count + replacements.reduce(0) { $0 + ($1.value?.count ?? 0) + $1.key.utf8.count + 4 })
            out.writeInteger(UInt8(ascii: "{"))
            var first = true
            // Which replacements are written (their keys are unique): marked by index, not
            // hashed into a set of keys for every request.
            var written = [Bool](repeating: false, count: replacements.count)
            try Self.forEachMember(of: raw) { key, memberRange, valueRange in
                if let index = try replacements.firstIndex(where: { try key.equals(string: $0.key) }) {
                    if written[index] { return }
                    written[index] = true
                    guard let value = replacements[index].value else { return }
                    if !first { out.writeInteger(UInt8(ascii: ",")) }
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[memberRange.lowerBound..<valueRange.lowerBound]))
                    out.writeBytes(value)
                } else {
                    if !first { out.writeInteger(UInt8(ascii: ",")) }
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[memberRange]))
                }
                first = false
            }
            for (index, replacement) in replacements.enumerated() where !written[index] {
                guard let value = replacement.value else { continue }
                if !first { out.writeInteger(UInt8(ascii: ",")) }
                out.writeBytes(Self.encodeString(replacement.key))
                out.writeInteger(UInt8(ascii: ":"))
                out.writeBytes(value)
                first = false
            }
            out.writeInteger(UInt8(ascii: "}"))
            return out
        }
    }

    /// The value of the top-level member `key` of `body` (the last one, as JSON parsers
    /// keep), decoded; nil when absent or unreadable.
    public static func value(of key: String, in body: ByteBuffer) -> JSONValue? {
        body.withUnsafeReadableBytes { bytes -> JSONValue? in
            guard let member = (try? members(of: bytes))?.last(where: { $0.key == key }) else { return nil }
            return try? JSONCoding.decode(JSONValue.self, from: ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[member.valueRange])))
        }
    }

    /// `extra_body` semantics: an object merges one level deep into the request's own
    /// object of the same key (the target's keys win); anything else replaces it.
    public static func mergedOneLevel(_ value: JSONValue, into existing: JSONValue?) -> JSONValue {
        guard case .object(let add) = value, case .object(var merged)? = existing else { return value }
        for (k, v) in add { merged[k] = v }
        return .object(merged)
    }

    /// Lists the members of the top-level object in `bytes`.
    public static func members(of bytes: UnsafeRawBufferPointer) throws -> [Member] {
        var members: [Member] = []
        try forEachMember(of: bytes) { key, memberRange, valueRange in
            members.append(Member(key: try key.decoded(), memberRange: memberRange, valueRange: valueRange))
        }
        return members
    }

    /// A member's key as written between its quotes, read without building a string.
    public struct RawKey {
        /// The bytes between the quotes, escapes as written.
        public let bytes: UnsafeRawBufferPointer
        let offset: Int
        /// Whether the key has escapes, looked for once: a member's key is usually
        /// compared with several names (six per member of every stream chunk).
        let hasEscape: Bool

        /// A key whose scan already told whether it has escapes.
        init(bytes: UnsafeRawBufferPointer, offset: Int, hasEscape: Bool) {
            self.bytes = bytes
            self.offset = offset
            self.hasEscape = hasEscape
        }

        /// Whether the key is `key` (escapes, when there are any, decoded first).
        public func equals(_ key: StaticString) -> Bool {
            if !hasEscape { return RawBytes.equal(bytes, key) }
            return (try? decoded()) == key.description
        }

        /// Whether the key is `key` (escapes, when there are any, decoded first).
        public func equals(string key: String) throws -> Bool {
            if !hasEscape {
                var key = key
                return key.withUTF8 { $0.elementsEqual(bytes) }
            }
            return try decoded() == key
        }

        /// The key as a string.
        public func decoded() throws -> String {
            if !hasEscape { return String(decoding: bytes, as: UTF8.self) }
            let quoted = "\"" + String(decoding: bytes, as: UTF8.self) + "\""
            guard let decoded = try? JSONCoding.decode(String.self, from: quoted) else {
                throw MalformedJSON(offset: offset, reason: "invalid string escape")
            }
            return decoded
        }
    }

    /// Calls `body` for each member of the top-level object in `bytes`, in order, with
    /// its key and where its `"key": value` text and its value lie; validates the whole
    /// object (structure, no trailing bytes) as it goes.
    public static func forEachMember(
        of bytes: UnsafeRawBufferPointer,
        _ body: (_ key: RawKey, _ memberRange: Range<Int>, _ valueRange: Range<Int>) throws -> Void
    ) throws {
        try Scanner.walkObject(bytes, counting: { _ in false }) { key, memberRange, valueRange, _ in
            try body(key, memberRange, valueRange)
        }
    }

    /// What ``apply(to:)`` makes of a `set(_:string:)` of the member whose value lies at
    /// `valueRange` in `body` and, optionally, a `set(_:json:)` of a key the body does not
    /// have (`adding`), without walking the members: the bytes around the value copied,
    /// the new member before the closing brace, the rest as written (whitespace too). For
    /// a caller that knows from decoding the body where the value is and which keys are
    /// absent. Nil when the body does not lie as expected: no closing brace after the
    /// value, or a byte order mark (which `apply` drops and upstream servers may refuse).
    public static func replacingString(
        at valueRange: Range<Int>, in body: ByteBuffer, with value: String, adding member: (key: String, json: [UInt8])? = nil
    ) -> ByteBuffer? {
        body.withUnsafeReadableBytes { bytes -> ByteBuffer? in
            guard valueRange.lowerBound > 0, valueRange.upperBound <= bytes.count, bytes[0] != 0xEF else { return nil }
            // The object's closing brace: its last byte but whitespace.
            var close = bytes.count - 1
            while close > valueRange.upperBound, Scanner.isWhitespace(bytes[close]) { close -= 1 }
            guard close >= valueRange.upperBound, bytes[close] == UInt8(ascii: "}") else { return nil }
            let quoted = encodeString(value)
            let key = member.map { encodeString($0.key) }
            var out = ByteBuffer()
            out.reserveCapacity(
                bytes.count - valueRange.count + quoted.count + (key?.count ?? 0) + (member?.json.count ?? 0) + 2)
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[..<valueRange.lowerBound]))
            out.writeBytes(quoted)
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[valueRange.upperBound..<close]))
            if let member, let key {
                // As `apply` writes a member the body did not have.
                out.writeInteger(UInt8(ascii: ","))
                out.writeBytes(key)
                out.writeInteger(UInt8(ascii: ":"))
                out.writeBytes(member.json)
            }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[close...]))
            return out
        }
    }

    static func encodeString(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        JSONCoding.appendQuoted(s, to: &out)
        return out
    }

    /// A structural reader of JSON text: it checks brackets, quotes, colons and commas
    /// and finds where each value ends, without decoding anything. Escapes and the
    /// spelling of numbers and literals are left to whoever decodes a value.
    enum Scanner {
        /// The deepest nesting of arrays and objects within one top-level member's value.
        static let maxDepth = 512

        /// Whether `byte` is JSON whitespace (space, tab, line feed, carriage return).
        @inline(__always)
        static func isWhitespace(_ byte: UInt8) -> Bool {
            byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
        }

        /// Walks the object that is the whole of `bytes` (whitespace aside) and calls
        /// `member` for each of its members, in order, with its key, where its
        /// `"key": value` text and its value lie, and the total length, as written between
        /// the quotes, of every string within the value that is the value of a member
        /// whose key `isCounted`, at any depth.
        ///
        /// Every completion and stream chunk the pass-through path forwards is walked
        /// once, so this is one loop over the bytes: nested containers are tracked with a
        /// stack of bits rather than by recursion, and no step is a call, so the position
        /// stays in a register. Reading a key, a string or a scalar cost a call of about
        /// a hundred instructions each before, which made most of a chunk's cost.
        ///
        /// A walk can also be marked and resumed. The first top-level member whose key
        /// `isMarked` is marked: `reached` gets a ``WalkPoint`` at its value's first byte,
        /// and another at the first string value inside that value, if there is one.
        /// Started `from` such a point, the walk goes on from there: the caller vouches
        /// that the bytes before the point's offset are those of the walk that reached
        /// it, whose members ending before the point it already has.
        @inline(__always)
        static func walkObject(
            _ bytes: UnsafeRawBufferPointer,
            from point: WalkPoint? = nil,
            counting isCounted: (RawKey) -> Bool,
            marking isMarked: (RawKey) -> Bool = { _ in false },
            reached: (WalkPoint) -> Void = { _ in },
            _ member: (_ key: RawKey, _ memberRange: Range<Int>, _ valueRange: Range<Int>, _ counted: Int) throws -> Void
        ) throws {
            let count = bytes.count
            // Never read when `bytes` is empty.
            let base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
            var i = 0

            @inline(__always) func at(_ offset: Int) -> UInt8 { base.load(fromByteOffset: offset, as: UInt8.self) }
            @inline(__always) func skipSpace() {
                while i < count {
                    switch at(i) {
                    case 0x20, 0x09, 0x0A, 0x0D: i += 1
                    default: return
                    }
                }
            }
            @inline(__always) func isNext(_ byte: UInt8) -> Bool { i < count && at(i) == byte }
            /// Steps over the string whose opening quote is at `i`; whether it has
            /// escapes, or nil when it never ends.
            @inline(__always) func skipString() -> Bool? {
                guard let string = stringEnd(base, count: count, quoteAt: i) else { return nil }
                i = string.end
                return string.escaped
            }

            var isEmpty = false
            if point == nil {
                skipSpace()
                guard isNext(UInt8(ascii: "{")) else { throw unexpected(UInt8(ascii: "{"), at: i) }
                i += 1
                skipSpace()
                if isNext(UInt8(ascii: "}")) {
                    i += 1
                    isEmpty = true
                }
            }
            if !isEmpty {
                // Bit d is set while the container at depth d is an object; depth 0 is the
                // top-level object, at depth 1 its members' values are read. Nine words
                // hold the 1 + `maxDepth` levels.
                var objects = InlineArray<9, UInt64>(repeating: 0)
                objects[0] = 1
                var depth = 1
                // Whether the container holding the value being read (at `depth - 1`)
                // is an object: kept as containers open and close, not read from
                // `objects` after every value.
                var inObject = true
                // The top-level member being read (its text starts at its key), where its
                // value starts, and the text counted in it so far.
                var memberKey = RawKey(bytes: UnsafeRawBufferPointer(start: nil, count: 0), offset: 0, hasEscape: false)
                var valueStart = 0
                var counted = 0
                // Whether the value about to be read is a counted member's.
                var countsValue = false
                // 0 before the marked member, 1 inside it before its first inner string,
                // 2 after that; whether the marked member's key was just read.
                var marking = 0
                var markedKeyRead = false

                /// Steps over a key, its colon and the whitespace up to its value.
                @inline(__always) func readKey() throws {
                    guard isNext(UInt8(ascii: "\"")) else { throw unexpected(UInt8(ascii: "\""), at: i) }
                    let start = i
                    guard let escaped = skipString() else { throw MalformedJSON(offset: count, reason: "unterminated string") }
                    let key = RawKey(
                        bytes: UnsafeRawBufferPointer(start: base + start + 1, count: i - start - 2), offset: start, hasEscape: escaped)
                    skipSpace()
                    guard isNext(UInt8(ascii: ":")) else { throw unexpected(UInt8(ascii: ":"), at: i) }
                    i += 1
                    skipSpace()
                    countsValue = isCounted(key)
                    if depth == 1 {
                        memberKey = key
                        valueStart = i
                        counted = 0
                        if marking == 0 && isMarked(key) {
                            marking = 1
                            markedKeyRead = true
                        }
                    }
                }

                if let point {
                    precondition(point.offset > 0 && point.offset <= count, "a walk resumes inside the object")
                    i = point.offset
                    depth = point.depth
                    objects[0] = point.objects
                    inObject = point.objects & (UInt64(1) &<< UInt64(depth - 1)) != 0
                    memberKey = RawKey(
                        bytes: UnsafeRawBufferPointer(start: base + point.memberKeyOffset + 1, count: point.memberKeyCount),
                        offset: point.memberKeyOffset, hasEscape: point.memberKeyEscaped)
                    valueStart = point.valueStart
                    counted = point.counted
                    countsValue = point.countsValue
                    marking = point.seeksInner ? 1 : 2
                } else {
                    try readKey()
                }
                value: while true {
                    // At a value's first byte.
                    guard i < count else { throw MalformedJSON(offset: i, reason: "expected a value") }
                    // Not a nested function: one capturing `objects` made every change of
                    // it a copy of the whole array.
                    if marking == 1 && (markedKeyRead || (depth >= 2 && at(i) == UInt8(ascii: "\""))) {
                        // Points are kept small (no deeper than the first word of the
                        // stack): they are copied as values.
                        if depth < 64 {
                            reached(
                                WalkPoint(
                                    offset: i, depth: depth, objects: objects[0], memberKeyOffset: memberKey.offset,
                                    memberKeyCount: memberKey.bytes.count, valueStart: valueStart, counted: counted,
                                    memberKeyEscaped: memberKey.hasEscape, countsValue: countsValue, seeksInner: markedKeyRead))
                        }
                        if !markedKeyRead { marking = 2 }
                        markedKeyRead = false
                    }
                    let first = at(i)
                    switch first {
                    case UInt8(ascii: "\""):
                        let start = i
                        guard skipString() != nil else { throw MalformedJSON(offset: count, reason: "unterminated string") }
                        if countsValue { counted += i - start - 2 }
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        let isObject = first == UInt8(ascii: "{")
                        i += 1
                        skipSpace()
                        if isNext(isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                            i += 1
                            break
                        }
                        guard depth <= maxDepth else { throw MalformedJSON(offset: i, reason: "nesting too deep") }
                        let bit = UInt64(1) &<< UInt64(depth & 63)
                        if isObject { objects[depth &>> 6] |= bit } else { objects[depth &>> 6] &= ~bit }
                        depth += 1
                        inObject = isObject
                        if isObject {
                            skipSpace()
                            try readKey()
                        } else {
                            countsValue = false
                        }
                        continue value
                    default:
                        // A number or a literal: everything up to the next delimiter.
                        // `null`, `true` and the start of `false` hold none, so they
                        // are stepped over whole (chunks have several nulls each).
                        let start = i
                        if i + 4 <= count {
                            let word = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                            if word == 0x6C6C_756E || word == 0x6575_7274 || word == 0x736C_6166 { i += 4 }  // "null", "true", "fals"
                        }
                        scalar: while i < count {
                            switch at(i) {
                            case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D: break scalar
                            default: i += 1
                            }
                        }
                        if i == start { throw MalformedJSON(offset: i, reason: "expected a value") }
                    }
                    // Just past a value: a top-level member's ends here; then the next
                    // element of its container, or the container's end (a value of its
                    // parent in turn).
                    while true {
                        if depth == 1 {
                            try member(memberKey, memberKey.offset..<i, valueStart..<i, counted)
                            if marking == 1 { marking = 2 }
                        }
                        skipSpace()
                        guard i < count else {
                            throw MalformedJSON(offset: i, reason: depth == 1 ? "unterminated object" : "unterminated container")
                        }
                        let next = at(i)
                        i += 1
                        if next == UInt8(ascii: ",") {
                            skipSpace()
                            if inObject {
                                try readKey()
                            } else {
                                countsValue = false
                            }
                            continue value
                        }
                        guard next == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                            throw MalformedJSON(offset: i - 1, reason: depth == 1 ? "expected ',' or '}'" : "expected ',' in container")
                        }
                        depth -= 1
                        if depth == 0 { break value }
                        inObject = objects[(depth - 1) &>> 6] & (UInt64(1) &<< UInt64((depth - 1) & 63)) != 0
                    }
                }
            }
            skipSpace()
            if i != count { throw MalformedJSON(offset: i, reason: "trailing characters after the object") }
        }

        /// Where a walk stood at a value's first byte: enough to go on from there over
        /// other bytes that are the same up to it.
        struct WalkPoint: Sendable {
            /// The value's first byte.
            let offset: Int
            /// Below 64: the stack's first word holds every level.
            fileprivate let depth: Int
            fileprivate let objects: UInt64
            /// The top-level member's key (where its text starts, too).
            fileprivate let memberKeyOffset: Int
            fileprivate let memberKeyCount: Int
            fileprivate let valueStart: Int
            fileprivate let counted: Int
            fileprivate let memberKeyEscaped: Bool
            /// Whether the value is counted text (when it is a string).
            let countsValue: Bool
            /// At the marked member's value: the first string inside it is still to come.
            let seeksInner: Bool
        }

        @inline(never)
        static func unexpected(_ byte: UInt8, at offset: Int) -> MalformedJSON {
            MalformedJSON(offset: offset, reason: "expected '\(Character(UnicodeScalar(byte)))'")
        }

        /// Just past the closing quote of the string whose opening quote is at `quote`,
        /// and whether the string has escapes; nil when it never ends.
        @inline(__always)
        static func stringEnd(_ base: UnsafeRawPointer, count: Int, quoteAt quote: Int) -> (end: Int, escaped: Bool)? {
            var from = quote + 1
            var escaped = false
            while let found = quoteOrBackslash(base, count: count, from: from) {
                if base.load(fromByteOffset: found, as: UInt8.self) == UInt8(ascii: "\"") { return (found + 1, escaped) }
                // Past the backslash and the character it escapes.
                escaped = true
                from = found + 2
            }
            return nil
        }

        /// The offset of the first `"` or `\` at or after `start`, or nil.
        static func quoteOrBackslash(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
            guard let base = bytes.baseAddress else { return nil }
            return quoteOrBackslash(base, count: bytes.count, from: start)
        }

        /// The offset of the first `"` or `\` in the `count` bytes at `base`, at or after
        /// `start`, or nil.
        ///
        /// Most of a JSON text is inside strings, so this looks at eight bytes per step
        /// (``ByteWord``).
        @inline(__always)
        static func quoteOrBackslash(_ base: UnsafeRawPointer, count: Int, from start: Int) -> Int? {
            var i = start
            while i + 8 <= count {
                let word = ByteWord.load(base, at: i)
                let hits = ByteWord.equal(word, UInt8(ascii: "\"")) | ByteWord.equal(word, UInt8(ascii: "\\"))
                if hits != 0 { return i + hits.trailingZeroBitCount / 8 }
                i += 8
            }
            while i < count {
                let byte = base.load(fromByteOffset: i, as: UInt8.self)
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return i }
                i += 1
            }
            return nil
        }
    }
}
