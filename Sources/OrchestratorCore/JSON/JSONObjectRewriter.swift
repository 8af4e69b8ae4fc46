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

    private var replacements: [(key: String, value: [UInt8])] = []

    public init() {}

    /// Sets top-level `key` to `json` (already-encoded JSON text), replacing any existing value.
    public mutating func set(_ key: String, json: some Sequence<UInt8>) {
        replacements.removeAll { $0.key == key }
        replacements.append((key, Array(json)))
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
            let members = try Self.members(of: raw)
            var out = ByteBuffer()
            out.reserveCapacity(raw.count + replacements.reduce(0) { $0 + $1.value.count + $1.key.utf8.count + 4 })
            out.writeInteger(UInt8(ascii: "{"))
            var first = true
            var written = Set<String>()
            for member in members {
                if let replacement = replacements.first(where: { $0.key == member.key }) {
                    if written.contains(member.key) { continue }
                    written.insert(member.key)
                    if !first { out.writeInteger(UInt8(ascii: ",")) }
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[member.memberRange.lowerBound..<member.valueRange.lowerBound]))
                    out.writeBytes(replacement.value)
                } else {
                    if !first { out.writeInteger(UInt8(ascii: ",")) }
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[member.memberRange]))
                }
                first = false
            }
            for replacement in replacements where !written.contains(replacement.key) {
                if !first { out.writeInteger(UInt8(ascii: ",")) }
                out.writeBytes(Self.encodeString(replacement.key))
                out.writeInteger(UInt8(ascii: ":"))
                out.writeBytes(replacement.value)
                first = false
            }
            out.writeInteger(UInt8(ascii: "}"))
            return out
        }
    }

    /// Lists the members of the top-level object in `bytes`.
    public static func members(of bytes: UnsafeRawBufferPointer) throws -> [Member] {
        var scanner = Scanner(bytes: bytes)
        scanner.skipWhitespace()
        try scanner.expect(UInt8(ascii: "{"))
        var members: [Member] = []
        scanner.skipWhitespace()
        if scanner.peek() == UInt8(ascii: "}") {
            scanner.index += 1
        } else {
            while true {
                scanner.skipWhitespace()
                let keyStart = scanner.index
                let key = try scanner.readString()
                scanner.skipWhitespace()
                try scanner.expect(UInt8(ascii: ":"))
                scanner.skipWhitespace()
                let valueStart = scanner.index
                try scanner.skipValue(depth: 0)
                members.append(Member(key: key, memberRange: keyStart..<scanner.index, valueRange: valueStart..<scanner.index))
                scanner.skipWhitespace()
                guard let next = scanner.peek() else { throw scanner.error("unterminated object") }
                scanner.index += 1
                if next == UInt8(ascii: "}") { break }
                if next != UInt8(ascii: ",") { throw scanner.error("expected ',' or '}'") }
            }
        }
        scanner.skipWhitespace()
        if scanner.index != bytes.count { throw scanner.error("trailing characters after the object") }
        return members
    }

    static func encodeString(_ s: String) -> [UInt8] {
        Array(JSONCoding.quoted(s).utf8)
    }

    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        func error(_ reason: String) -> MalformedJSON { MalformedJSON(offset: index, reason: reason) }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func expect(_ byte: UInt8) throws {
            guard peek() == byte else { throw error("expected '\(Character(UnicodeScalar(byte)))'") }
            index += 1
        }

        /// Reads a string and returns its decoded value.
        mutating func readString() throws -> String {
            let start = index
            try skipString()
            let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
            if !raw.contains(UInt8(ascii: "\\")) {
                return String(decoding: raw[1..<(raw.count - 1)], as: UTF8.self)
            }
            guard let decoded = try? JSONDecoder().decode(String.self, from: Data(raw)) else {
                throw MalformedJSON(offset: start, reason: "invalid string escape")
            }
            return decoded
        }

        mutating func skipString() throws {
            try expect(UInt8(ascii: "\""))
            while index < bytes.count {
                let b = bytes[index]
                if b == UInt8(ascii: "\\") {
                    index += 2
                } else if b == UInt8(ascii: "\"") {
                    index += 1
                    return
                } else {
                    index += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func skipValue(depth: Int) throws {
            guard depth < 512 else { throw error("nesting too deep") }
            guard let b = peek() else { throw error("expected a value") }
            switch b {
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = b == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                index += 1
                skipWhitespace()
                if peek() == close {
                    index += 1
                    return
                }
                while true {
                    skipWhitespace()
                    if close == UInt8(ascii: "}") {
                        try skipString()
                        skipWhitespace()
                        try expect(UInt8(ascii: ":"))
                        skipWhitespace()
                    }
                    try skipValue(depth: depth + 1)
                    skipWhitespace()
                    guard let next = peek() else { throw error("unterminated container") }
                    index += 1
                    if next == close { return }
                    if next != UInt8(ascii: ",") { throw error("expected ',' in container") }
                }
            default:
                let start = index
                while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                        if index == start { throw error("expected a value") }
                        return
                    default: index += 1
                    }
                }
                if index == start { throw error("expected a value") }
            }
        }
    }
}
