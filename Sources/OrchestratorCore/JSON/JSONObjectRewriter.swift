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

    /// New values by key; a nil value removes the member.
    private var replacements: [(key: String, value: [UInt8]?)] = []

    public init() {}

    /// Sets top-level `key` to `json` (already-encoded JSON text), replacing any existing value.
    public mutating func set(_ key: String, json: some Sequence<UInt8>) {
        replacements.removeAll { $0.key == key }
        replacements.append((key, Array(json)))
    }

    /// Removes top-level `key`, if present.
    public mutating func remove(_ key: String) {
        replacements.removeAll { $0.key == key }
        replacements.append((key, nil))
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
            var written = Set<String>()
            try Self.forEachMember(of: raw) { key, memberRange, valueRange in
                if let replacement = try replacements.first(where: { try key.equals(string: $0.key) }) {
                    if written.contains(replacement.key) { return }
                    written.insert(replacement.key)
                    guard let value = replacement.value else { return }
                    if !first { out.writeInteger(UInt8(ascii: ",")) }
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[memberRange.lowerBound..<valueRange.lowerBound]))
                    out.writeBytes(value)
                } else {
                    if !first { out.writeInteger(UInt8(ascii: ",")) }
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[memberRange]))
                }
                first = false
            }
            for replacement in replacements where !written.contains(replacement.key) {
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
        try Scanner.readObject(bytes) { key, keyStart, scanner in
            let valueStart = scanner.index
            try scanner.skipValue()
            try body(key, keyStart..<scanner.index, valueStart..<scanner.index)
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
    ///
    /// Every completion and stream chunk the pass-through path forwards goes through
    /// here once, so it reads through a pointer, inlines its steps into one loop and
    /// walks nested containers with a stack of bits rather than by recursion.
    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        /// `bytes`' start; never read when `bytes` is empty.
        private let base: UnsafeRawPointer
        var index = 0

        /// The deepest nesting of arrays and objects within one member's value.
        static let maxDepth = 512

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
            self.base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        }

        /// Reads the top-level object that is the whole of `bytes` (whitespace aside),
        /// calling `member` for each member with its key, where the key starts, and the
        /// scanner at the value's first byte, which `member` must step over.
        @inline(__always)
        static func readObject(
            _ bytes: UnsafeRawBufferPointer,
            _ member: (_ key: RawKey, _ keyStart: Int, _ scanner: inout Scanner) throws -> Void
        ) throws {
            var scanner = Scanner(bytes: bytes)
            scanner.skipWhitespace()
            try scanner.expect(UInt8(ascii: "{"))
            scanner.skipWhitespace()
            if scanner.peek() == UInt8(ascii: "}") {
                scanner.index += 1
            } else {
                while true {
                    scanner.skipWhitespace()
                    let keyStart = scanner.index
                    let key = try scanner.skipKey()
                    scanner.skipWhitespace()
                    try member(key, keyStart, &scanner)
                    scanner.skipWhitespace()
                    guard let next = scanner.peek() else { throw scanner.error("unterminated object") }
                    scanner.index += 1
                    if next == UInt8(ascii: "}") { break }
                    if next != UInt8(ascii: ",") { throw scanner.error("expected ',' or '}'") }
                }
            }
            scanner.skipWhitespace()
            if scanner.index != bytes.count { throw scanner.error("trailing characters after the object") }
        }

        @inline(__always)
        func byte(at offset: Int) -> UInt8 { base.load(fromByteOffset: offset, as: UInt8.self) }

        @inline(__always)
        func peek() -> UInt8? { index < bytes.count ? byte(at: index) : nil }

        func error(_ reason: String) -> MalformedJSON { MalformedJSON(offset: index, reason: reason) }

        @inline(__always)
        mutating func skipWhitespace() {
            while index < bytes.count {
                switch byte(at: index) {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        /// Steps over `byte`. Runs for every quote, colon and bracket, so the check is
        /// inlined and the message for a mismatch is built out of line.
        @inline(__always)
        mutating func expect(_ byte: UInt8) throws {
            guard peek() == byte else { throw unexpected(byte) }
            index += 1
        }

        @inline(never)
        func unexpected(_ byte: UInt8) -> MalformedJSON {
            error("expected '\(Character(UnicodeScalar(byte)))'")
        }

        /// Skips a string, its quotes included; returns whether it has escapes.
        @inline(__always)
        @discardableResult
        mutating func skipString() throws -> Bool {
            try expect(UInt8(ascii: "\""))
            var escaped = false
            while let found = Self.quoteOrBackslash(base, count: bytes.count, from: index) {
                if byte(at: found) == UInt8(ascii: "\"") {
                    index = found + 1
                    return escaped
                }
                // Past the backslash and the character it escapes.
                escaped = true
                index = found + 2
            }
            index = bytes.count
            throw error("unterminated string")
        }

        /// Steps over a member's key, the whitespace after it and its colon.
        @inline(__always)
        mutating func skipKey() throws -> RawKey {
            let start = index
            let escaped = try skipString()
            let key = RawKey(bytes: UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)]), offset: start, hasEscape: escaped)
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            return key
        }

        /// The offset of the first `"` or `\` at or after `start`, or nil.
        static func quoteOrBackslash(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
            guard let base = bytes.baseAddress else { return nil }
            return quoteOrBackslash(base, count: bytes.count, from: start)
        }

        /// The offset of the first `"` or `\` in the `count` bytes at `base`, at or after
        /// `start`, or nil.
        ///
        /// Most of a JSON text is inside strings, so this looks at eight bytes per step: a
        /// byte equal to either character makes its word's zero-byte test fire. The test
        /// can also flag a byte just above a real match (a borrow), never one below it, so
        /// the lowest flagged byte is the first match.
        @inline(__always)
        static func quoteOrBackslash(_ base: UnsafeRawPointer, count: Int, from start: Int) -> Int? {
            var i = start
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while i + 8 <= count {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
                let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
                let hits = ((quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes) & highs
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

        /// Steps over one value of any kind, checking its structure. Inlined for the
        /// strings and scalars that most members hold; containers are walked out of line.
        @inline(__always)
        mutating func skipValue() throws {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["): try skipContainer()
            default: try skipScalar()
            }
        }

        @inline(never)
        private mutating func skipContainer() throws {
            _ = try walkValue(counting: false) { _ in false }
        }

        /// Steps over a number or a literal: everything up to the next delimiter.
        @inline(__always)
        private mutating func skipScalar() throws {
            let start = index
            scalar: while index < bytes.count {
                switch byte(at: index) {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D: break scalar
                default: index += 1
                }
            }
            if index == start { throw error("expected a value") }
        }

        /// Steps over one value like ``skipValue()`` and returns the total length, as
        /// written between the quotes, of every string that is the value of a member
        /// whose key `isCounted`, at any depth within it.
        mutating func skipValue(countingStringsOf isCounted: (RawKey) -> Bool) throws -> Int {
            try walkValue(counting: true, isCounted)
        }

        @inline(__always)
        private mutating func walkValue(counting: Bool, _ isCounted: (RawKey) -> Bool) throws -> Int {
            // Bit d is set while the container at depth d is an object.
            var objects = InlineArray<8, UInt64>(repeating: 0)
            var depth = 0
            var counted = 0
            // Whether the value about to be read is a counted member's.
            var countsValue = false
            value: while true {
                skipWhitespace()
                guard let first = peek() else { throw error("expected a value") }
                switch first {
                case UInt8(ascii: "\""):
                    let start = index
                    try skipString()
                    if countsValue { counted += index - start - 2 }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    let isObject = first == UInt8(ascii: "{")
                    index += 1
                    skipWhitespace()
                    if peek() == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        index += 1
                        break
                    }
                    guard depth < Self.maxDepth else { throw error("nesting too deep") }
                    let bit = UInt64(1) &<< UInt64(depth & 63)
                    if isObject { objects[depth &>> 6] |= bit } else { objects[depth &>> 6] &= ~bit }
                    depth += 1
                    countsValue = isObject ? try countedKey(counting, isCounted) : false
                    continue value
                default:
                    try skipScalar()
                }
                // After a value: the next element of its container, or the container's end
                // (and perhaps its parents').
                while depth > 0 {
                    skipWhitespace()
                    guard let next = peek() else { throw error("unterminated container") }
                    index += 1
                    let inObject = objects[(depth - 1) &>> 6] & (UInt64(1) &<< UInt64((depth - 1) & 63)) != 0
                    if next == UInt8(ascii: ",") {
                        countsValue = inObject ? try countedKey(counting, isCounted) : false
                        continue value
                    }
                    guard next == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                        throw error("expected ',' in container")
                    }
                    depth -= 1
                }
                return counted
            }
        }

        /// Steps over a nested member's key and colon; whether its value is counted.
        @inline(__always)
        private mutating func countedKey(_ counting: Bool, _ isCounted: (RawKey) -> Bool) throws -> Bool {
            skipWhitespace()
            let key = try skipKey()
            return counting && isCounted(key)
        }
    }
}
