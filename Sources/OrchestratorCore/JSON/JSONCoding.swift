public import NIOCore
import Foundation

/// Shared JSON encoding and decoding with the gateway's conventions: slashes not
/// escaped, and decoding failures turned into 400s whose `param` names the field.
public enum JSONCoding {
    // Shared: their options never change after this, and decoding or encoding with one
    // instance from several threads is safe.
    private static let decoder = JSONDecoder()
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    /// Decodes a client-sent body, after ``JSONValidator`` has checked it strictly.
    /// - Throws: `.invalidRequest` with `param` set to the failing path (`messages[0].role`).
    public static func decodeRequest<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws(GatewayError) -> T {
        try validateRequest(buffer)
        return try decodeValidatedRequest(T.self, from: buffer)
    }

    /// Checks a client-sent body with ``JSONValidator``.
    /// - Throws: `.invalidRequest` naming the value at fault.
    public static func validateRequest(_ buffer: ByteBuffer) throws(GatewayError) {
        let violation = buffer.withUnsafeReadableBytes { raw -> JSONValidator.Violation? in
            do throws(JSONValidator.Violation) {
                try JSONValidator.validate(raw)
                return nil
            } catch {
                return error
            }
        }
        if let violation { throw describe(violation) }
    }

    /// Decodes a client-sent body that ``validateRequest(_:)`` has accepted.
    /// The body is read as a tree first (``JSONTreeDecoder``); `JSONDecoder` decodes
    /// what that cannot, and gives every error.
    public static func decodeValidatedRequest<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws(GatewayError) -> T {
        if let value = buffer.withUnsafeReadableBytes({ JSONTreeDecoder.decode(T.self, from: $0) }) { return value }
        return try decodeValidatedRequestWithJSONDecoder(T.self, from: buffer)
    }

    /// ``decodeValidatedRequest(_:from:)`` with `JSONDecoder` alone: the reading the tree
    /// decoder is held to (tests compare the two).
    static func decodeValidatedRequestWithJSONDecoder<T: Decodable>(
        _ type: T.Type, from buffer: ByteBuffer
    ) throws(GatewayError) -> T {
        do {
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw describe(error)
        } catch {
            throw .invalidRequest("We could not parse the JSON body of your request.")
        }
    }

    /// Decodes an upstream body (a translated provider's answer); failures are not the
    /// client's fault.
    ///
    /// A body ``JSONValidator`` accepts is read straight from its bytes when `T` has a
    /// reader for its common shape (``JSONFastDecodable``), else as a tree
    /// (``JSONTreeDecoder``); each gives `JSONDecoder`'s value or nothing. `JSONDecoder`
    /// decodes the rest (a body with the same key twice, `\u0000`, a `1.0` where an
    /// integer is meant) and gives every error, so what a caller gets is what
    /// `JSONDecoder` alone gave.
    public static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try buffer.withUnsafeReadableBytes { try decode(T.self, from: $0) }
    }

    /// The same as decoding a `ByteBuffer`, from bytes in place (an SSE event's data).
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        try decodeValidated(T.self, from: bytes) ?? decodeWithJSONDecoder(T.self, from: bytes)
    }

    /// The same for a type with its own reader, called directly: the generic forms find
    /// it with a dynamic cast, which looked the conformance up for every event.
    public static func decode<T: JSONFastDecodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        try decodeValidated(T.self, from: bytes, reader: T.read) ?? decodeWithJSONDecoder(T.self, from: bytes)
    }

    public static func decode<T: JSONFastDecodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try buffer.withUnsafeReadableBytes { try decode(T.self, from: $0) }
    }

    /// Decodes from a string (an SSE event's data).
    public static func decode<T: Decodable>(_ type: T.Type, from string: String) throws -> T {
        var string = string
        return try string.withUTF8 { try decode(T.self, from: UnsafeRawBufferPointer($0)) }
    }

    /// Decoding an upstream body with `JSONDecoder` alone: the reading the tree is
    /// held to (tests and benchmarks compare the two).
    public static func decodeWithJSONDecoder<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        try decoder.decode(T.self, from: Data(bytes))
    }

    /// `T` read without `JSONDecoder` when ``JSONValidator`` accepts `bytes` and the fast
    /// reader or the tree decoder is sure of its reading; nil otherwise.
    static func decodeValidated<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) -> T? {
        if let fast = T.self as? any JSONFastDecodable.Type {
            return decodeValidated(T.self, from: bytes) { fast.read(&$0) as? T }
        }
        return decodeValidated(T.self, from: bytes, reader: nil)
    }

    /// ``decodeValidated(_:from:)`` with `T`'s reader given (nil: none).
    static func decodeValidated<T: Decodable>(
        _ type: T.Type, from bytes: UnsafeRawBufferPointer, reader: ((inout JSONFastReader) -> T?)?
    ) -> T? {
        do throws(JSONValidator.Violation) {
            try JSONValidator.validate(bytes)
        } catch {
            return nil
        }
        if let reader, let value = JSONFastReader.document(bytes, reader) { return value }
        return JSONTreeDecoder.decode(T.self, from: bytes)
    }

    /// `text` as a JSON string literal, escaped as `JSONEncoder` does with
    /// `.withoutEscapingSlashes` (quotes, backslashes and control characters).
    public static func quoted(_ text: String) -> String {
        var out: [UInt8] = []
        appendQuoted(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `text` as a JSON string literal (see `quoted`) to `out`.
    ///
    /// Works on UTF-8 bytes: only `"`, `\\` and bytes below 0x20 need escaping, and every
    /// byte of a multi-byte sequence is 0x80 or above, so those pass through as they are.
    public static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendQuoted($0, to: &out) }
    }

    /// Appends the UTF-8 text `utf8` as a JSON string literal. Runs of bytes that need no
    /// escape (nearly all of them) are copied whole: appending byte by byte checked the
    /// array's capacity and uniqueness for each one, about twenty instructions a byte,
    /// for every name and id in every request-log row.
    static func appendQuoted(_ utf8: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + utf8.count + 2)
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        for index in utf8.indices {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            runStart = index + 1
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            default:
                out.append(contentsOf: "\\u00".utf8)
                out.append(Hex.digit(byte >> 4))
                out.append(Hex.digit(byte & 0x0F))
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        out.append(UInt8(ascii: "\""))
    }

    /// Encodes a value to a buffer: compact, keys sorted, slashes not escaped.
    ///
    /// Written by the gateway itself (``JSONTreeEncoder``, then
    /// ``appendSortedCompact(_:to:)``), byte for byte as `JSONEncoder` writes it: every
    /// request translated for another provider is encoded here, and `JSONEncoder` took
    /// about 250 µs for an agent's request with eight tool schemas. What the tree encoder
    /// leaves (dates, data, non-finite numbers, …) goes to `JSONEncoder`, which also
    /// gives every error.
    public static func encode(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try encodedBytes(value))
    }

    /// Encodes a value to a string, as ``encode(_:)`` does.
    public static func encodeString(_ value: some Encodable) throws -> String {
        String(decoding: try encodedBytes(value), as: UTF8.self)
    }

    /// The tree encoder and the writer, else (rarely) `JSONEncoder`.
    private static func encodedBytes(_ value: some Encodable) throws -> [UInt8] {
        var out: [UInt8] = []
        if let tree = JSONTreeEncoder.encode(value), appendSortedCompact(tree, to: &out) { return out }
        return [UInt8](try encoder.encode(value))
    }

    /// `JSONEncoder`'s own encoding, which ``encode(_:)`` is held to (tests compare the two).
    static func encodeWithJSONEncoder(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Appends `value` as `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes`
    /// writes it; false (with `out` partly written) when it holds a number that is not
    /// finite, which `JSONEncoder` refuses.
    static func appendSortedCompact(_ value: JSONValue, to out: inout [UInt8]) -> Bool {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): out.append(contentsOf: String(number).utf8)
        case .uint(let number): out.append(contentsOf: String(number).utf8)
        case .double(let number):
            guard number.isFinite else { return false }
            appendNumber(number, to: &out)
        case .string(let text): appendQuoted(text, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                guard appendSortedCompact(element, to: &out) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            // Ordered as `JSONEncoder` orders them: by their UTF-8 bytes (not by `String`'s
            // `<`, which compares them normalized: `e` and U+0301 sort as `é` there).
            for (index, member) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendQuoted(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                guard appendSortedCompact(member.value, to: &out) else { return false }
            }
            out.append(UInt8(ascii: "}"))
        }
        return true
    }

    /// A finite `Double` as `JSONEncoder` writes it: a whole number below 2^53 as an
    /// integer (`-0` for negative zero), anything else as Swift's shortest
    /// representation without a trailing `.0` (`0.5`, `1e-07`, `1e+16`). Checked against
    /// `JSONEncoder` on 200,000 numbers of every magnitude and on the edges.
    static func appendNumber(_ number: Double, to out: inout [UInt8]) {
        if number.rounded(.towardZero) == number, number.magnitude < 9_007_199_254_740_992 {
            if number == 0 {
                out.append(contentsOf: (number.sign == .minus ? "-0" : "0").utf8)
            } else {
                out.append(contentsOf: String(Int64(number)).utf8)
            }
            return
        }
        var text = number.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        out.append(contentsOf: text.utf8)
    }

    /// Renders a coding path as `messages[0].content`.
    public static func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                if !out.isEmpty { out += "." }
                out += key.stringValue
            }
        }
        return out
    }

    static func describe(_ violation: JSONValidator.Violation) -> GatewayError {
        let path = violation.path
        let param = path.isEmpty ? nil : path
        let subject = path.isEmpty ? "Invalid value" : "Invalid value for '\(path)'"
        switch violation.kind {
        case .syntax:
            return .invalidRequest("We could not parse the JSON body of your request: \(violation.reason) at byte \(violation.offset).")
        case .invalidUTF8:
            return .invalidRequest(
                "The request body is not valid UTF-8 (byte \(violation.offset)\(path.isEmpty ? "" : " in '\(path)'")).", param: param)
        case .nul:
            return .invalidRequest("\(subject): strings may not contain NUL characters (\\u0000).", param: param)
        case .unpairedSurrogate:
            return .invalidRequest(
                "\(subject): the \\u escape at byte \(violation.offset) is an unpaired UTF-16 surrogate.", param: param)
        case .tooDeep:
            // The path down to the excess is hundreds of `[0]`s; the top-level member names it.
            let member = path.prefix { $0 != "." && $0 != "[" }
            return .invalidRequest(
                "The JSON body nests objects and arrays deeper than \(JSONValidator.maximumDepth) levels.",
                param: member.isEmpty ? nil : String(member))
        case .duplicateKey(let key):
            let parent = path.count > key.count ? String(path.dropLast(key.count + 1)) : ""
            return .invalidRequest(
                "Duplicate key '\(key)'\(parent.isEmpty ? "" : " in '\(parent)'"): each key may appear only once in an object.",
                param: param)
        }
    }

    static func describe(_ error: DecodingError) -> GatewayError {
        switch error {
        case .typeMismatch(let type, let context):
            let param = path(context.codingPath)
            let expected = typeName(type).map { "expected \($0)." } ?? context.debugDescription
            return .invalidRequest("Invalid type for '\(param)': \(expected)", param: param.isEmpty ? nil : param)
        case .valueNotFound(let type, let context):
            let param = path(context.codingPath)
            return .invalidRequest(
                "Invalid value for '\(param)': expected \(typeName(type) ?? "a value"), got null.",
                param: param.isEmpty ? nil : param)
        case .keyNotFound(let key, let context):
            let param = path(context.codingPath + [key])
            return .invalidRequest("Missing required parameter: '\(param)'.", param: param)
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return .invalidRequest(
                    "We could not parse the JSON body of your request. (\(context.underlyingError.map { "\($0)" } ?? context.debugDescription))"
                )
            }
            let param = path(context.codingPath)
            return .invalidRequest("Invalid value for '\(param)': \(context.debugDescription)", param: param)
        @unknown default:
            return .invalidRequest("We could not parse the JSON body of your request.")
        }
    }

    private static func typeName(_ type: Any.Type) -> String? {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int64.Type, is UInt64.Type: return "an integer"
        case is Double.Type: return "a number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return nil
        }
    }
}
