import Foundation

/// An arbitrary JSON value that survives a decode/encode round trip.
///
/// Integers are kept as integers (64-bit signed or unsigned) so that values such as
/// `seed` or `logit_bias` keys above 2^53 are not rounded through `Double`.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The string payload, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The object payload, if this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The array payload, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The boolean payload, if this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The numeric payload as a `Double`, if this is a number.
    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }

    /// The numeric payload as an `Int`, if this is an integral number in range.
    public var intValue: Int? {
        switch self {
        case .int(let v): return Int(exactly: v)
        case .uint(let v): return Int(exactly: v)
        case .double(let v): return Int(exactly: v)
        default: return nil
        }
    }

    /// Looks up a key when this is an object.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// A short name of the JSON type, used in validation messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .uint, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        // The decoder cannot say what a value is, only fail to read it as something:
        // every wrong guess throws (and builds) a DecodingError. So the likeliest kinds
        // go first — strings, then objects and arrays (JSON schemas in `tools` are
        // almost all of these), then booleans and numbers. Each kind reads only as
        // itself, so the order changes no result; numbers keep Int64 before UInt64
        // before Double.
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let o = try? container.decode([String: JSONValue].self) {
            self = .object(o)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let u = try? container.decode(UInt64.self) {
            self = .uint(u)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unsupported JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .uint(let u): try container.encode(u)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// A coding key for any string, used to capture fields a type does not model.
public struct AnyCodingKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int?

    public init(_ string: String) {
        self.stringValue = string
        self.intValue = nil
    }

    public init?(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    public init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension KeyedDecodingContainer where K == AnyCodingKey {
    /// Decodes every key not in `known` as a raw JSON value.
    public func unknownFields(excluding known: Set<String>) throws -> [String: JSONValue] {
        var extra: [String: JSONValue] = [:]
        for key in allKeys where !known.contains(key.stringValue) {
            extra[key.stringValue] = try decode(JSONValue.self, forKey: key)
        }
        return extra
    }

    /// Decodes an optional value, treating an explicit JSON `null` as absent.
    public func optional<T: Decodable>(_ type: T.Type, _ key: String) throws -> T? {
        let codingKey = AnyCodingKey(key)
        // Most optional fields are absent: a presence check is cheaper than the
        // generic decode path with its error attribution.
        guard contains(codingKey) else { return nil }
        return try attributed(key) { try decodeIfPresent(T.self, forKey: codingKey) }
    }

    /// Decodes a required value.
    public func required<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
        try attributed(key) { try decode(T.self, forKey: AnyCodingKey(key)) }
    }

    /// Foundation reports a number that does not fit the type (`1.5` for an `Int`)
    /// without a coding path; attribute such failures to the key being decoded.
    private func attributed<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DecodingError {
            guard case .dataCorrupted(let context) = error, context.codingPath.isEmpty else { throw error }
            throw DecodingError.typeMismatch(
                T.self,
                .init(codingPath: codingPath + [AnyCodingKey(key)], debugDescription: context.debugDescription))
        } catch {
            // Foundation's own number errors (e.g. `1.5` for an Int) are not DecodingErrors.
            throw DecodingError.typeMismatch(
                T.self, .init(codingPath: codingPath + [AnyCodingKey(key)], debugDescription: "\(error)"))
        }
    }
}

extension KeyedEncodingContainer where K == AnyCodingKey {
    /// Encodes a value when it is present.
    public mutating func put<T: Encodable>(_ value: T?, _ key: String) throws {
        if let value { try encode(value, forKey: AnyCodingKey(key)) }
    }

    /// Encodes every unknown field back.
    public mutating func putUnknown(_ extra: [String: JSONValue]) throws {
        for (key, value) in extra { try encode(value, forKey: AnyCodingKey(key)) }
    }
}
