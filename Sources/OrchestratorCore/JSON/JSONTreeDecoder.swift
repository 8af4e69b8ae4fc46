import Foundation

/// Decodes `Decodable` types from a `JSONValue` tree read straight from a request's
/// bytes, for the bodies the fast paths do not cover (Anthropic's and Gemini's requests,
/// embeddings, a chat request of an unusual shape).
///
/// `JSONDecoder` decodes an untyped value (a tool's JSON Schema, a tool call's input) by
/// trying each kind in turn, and every wrong guess builds an error with its coding
/// path: a 4.7 KB Anthropic request of an agent took 473 µs and 3,052 allocations.
/// Here `JSONValue` is taken from the tree as it is, and typed values are read from
/// their nodes.
///
/// The result is `JSONDecoder`'s or nothing. The tree is read only where that is
/// certain (see ``JSONFastReader/document(_:)``); the types whose reading
/// `JSONDecoder` does its own way (`Data`, `Date`, `URL`, `Decimal`, `Float`) stop the
/// decoder; and any failure, whether thrown or swallowed by a `try?` on the way, sends
/// the caller to `JSONDecoder` for the whole body, which then gives the error a client
/// sees. So nodes keep no coding path: only errors would show one, and those are
/// `JSONDecoder`'s.
enum JSONTreeDecoder {
    /// The value decoded from `bytes` (validated), or nil when `JSONDecoder` must do it.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) -> T? {
        guard let tree = JSONFastReader.document(bytes) else { return nil }
        let state = State()
        guard let value = try? Node(value: tree, state: state).unbox(T.self), !state.gaveUp else {
            return nil
        }
        return value
    }

    /// Set when a node met something only `JSONDecoder` may decide, so that a `try?`
    /// that caught the error cannot turn it into a different result.
    final class State {
        var gaveUp = false
    }

    struct Unsupported: Error {}

    /// One node of the tree, as a `Decoder` and as a single-value container.
    struct Node: Decoder, SingleValueDecodingContainer {
        let value: JSONValue
        let state: State
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard case .object(let object) = value else { throw mismatch([String: JSONValue].self) }
            return KeyedDecodingContainer(Keyed<Key>(object: object, state: state))
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            guard case .array(let array) = value else { throw mismatch([JSONValue].self) }
            return Unkeyed(array: array, state: state)
        }

        func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

        func decodeNil() -> Bool { value == .null }

        func decode<T: Decodable>(_ type: T.Type) throws -> T { try unbox(T.self) }

        /// `T` from this node.
        ///
        /// The types are told apart by comparing metadata (`T.self == String.self`), and
        /// a value is handed back with `unsafeBitCast` once its type is known to be `T`:
        /// `is` tests and `as!` casts, or a conformance check for integers, are runtime
        /// lookups that cost more than reading most values.
        func unbox<T: Decodable>(_ type: T.Type) throws -> T {
            if T.self == JSONValue.self { return unsafeBitCast(value, to: T.self) }
            if T.self == String.self {
                guard case .string(let string) = value else { throw mismatch(T.self) }
                return unsafeBitCast(string, to: T.self)
            }
            if T.self == Bool.self {
                guard case .bool(let bool) = value else { throw mismatch(T.self) }
                return unsafeBitCast(bool, to: T.self)
            }
            if T.self == Double.self {
                switch value {
                case .int(let int): return unsafeBitCast(Double(int), to: T.self)
                case .uint(let uint): return unsafeBitCast(Double(uint), to: T.self)
                case .double(let double): return unsafeBitCast(double, to: T.self)
                default: throw mismatch(T.self)
                }
            }
            if let integer = try integer(T.self) { return integer }
            if T.self == Float.self || T.self == Data.self || T.self == Date.self || T.self == URL.self || T.self == Decimal.self {
                state.gaveUp = true
                throw Unsupported()
            }
            return try T(from: self)
        }

        /// `T` when it is one of the standard integer types, nil when it is none.
        private func integer<T>(_ type: T.Type) throws -> T? {
            func read<I: FixedWidthInteger>(_: I.Type) throws -> T {
                let result: I?
                switch value {
                case .int(let int): result = I(exactly: int)
                case .uint(let uint): result = I(exactly: uint)
                default: result = nil
                }
                guard let result else { throw mismatch(T.self) }
                return unsafeBitCast(result, to: T.self)
            }
            switch ObjectIdentifier(T.self) {
            case ObjectIdentifier(Int.self): return try read(Int.self)
            case ObjectIdentifier(Int64.self): return try read(Int64.self)
            case ObjectIdentifier(Int32.self): return try read(Int32.self)
            case ObjectIdentifier(Int16.self): return try read(Int16.self)
            case ObjectIdentifier(Int8.self): return try read(Int8.self)
            case ObjectIdentifier(UInt.self): return try read(UInt.self)
            case ObjectIdentifier(UInt64.self): return try read(UInt64.self)
            case ObjectIdentifier(UInt32.self): return try read(UInt32.self)
            case ObjectIdentifier(UInt16.self): return try read(UInt16.self)
            case ObjectIdentifier(UInt8.self): return try read(UInt8.self)
            default: return nil
            }
        }

        func mismatch(_ type: Any.Type) -> DecodingError {
            if value == .null {
                return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "null"))
            }
            return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "another kind of value"))
        }

        // The primitive requirements of a single-value container.
        func decode(_ type: Bool.Type) throws -> Bool { try unbox(type) }
        func decode(_ type: String.Type) throws -> String { try unbox(type) }
        func decode(_ type: Double.Type) throws -> Double { try unbox(type) }
        func decode(_ type: Float.Type) throws -> Float { try unbox(type) }
        func decode(_ type: Int.Type) throws -> Int { try unbox(type) }
        func decode(_ type: Int8.Type) throws -> Int8 { try unbox(type) }
        func decode(_ type: Int16.Type) throws -> Int16 { try unbox(type) }
        func decode(_ type: Int32.Type) throws -> Int32 { try unbox(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { try unbox(type) }
        func decode(_ type: UInt.Type) throws -> UInt { try unbox(type) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try unbox(type) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try unbox(type) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try unbox(type) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try unbox(type) }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let object: [String: JSONValue]
        let state: State
        var codingPath: [any CodingKey] { [] }

        var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

        private func node(_ key: Key) throws -> Node {
            guard let value = object[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no such key"))
            }
            return Node(value: value, state: state)
        }

        func decodeNil(forKey key: Key) throws -> Bool { try node(key).decodeNil() }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try node(key).unbox(T.self) }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            try node(key).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try node(key).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            state.gaveUp = true
            throw Unsupported()
        }

        func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder() }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try node(key).unbox(type) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try node(key).unbox(type) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try node(key).unbox(type) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try node(key).unbox(type) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try node(key).unbox(type) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try node(key).unbox(type) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try node(key).unbox(type) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try node(key).unbox(type) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try node(key).unbox(type) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try node(key).unbox(type) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try node(key).unbox(type) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try node(key).unbox(type) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try node(key).unbox(type) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try node(key).unbox(type) }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let array: [JSONValue]
        let state: State
        var codingPath: [any CodingKey] { [] }
        private(set) var currentIndex = 0

        init(array: [JSONValue], state: State) {
            self.array = array
            self.state = state
        }

        var count: Int? { array.count }
        var isAtEnd: Bool { currentIndex >= array.count }

        /// The next element; the index moves on only once it is decoded.
        private func next() throws -> Node {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(
                    JSONValue.self, .init(codingPath: codingPath, debugDescription: "the array has no more elements"))
            }
            return Node(value: array[currentIndex], state: state)
        }

        mutating func decodeNil() throws -> Bool {
            guard try next().decodeNil() else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try take(T.self) }

        private mutating func take<T: Decodable>(_ type: T.Type) throws -> T {
            let value = try next().unbox(T.self)
            currentIndex += 1
            return value
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            let container = try next().container(keyedBy: type)
            currentIndex += 1
            return container
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let container = try next().unkeyedContainer()
            currentIndex += 1
            return container
        }

        mutating func superDecoder() throws -> any Decoder {
            state.gaveUp = true
            throw Unsupported()
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool { try take(type) }
        mutating func decode(_ type: String.Type) throws -> String { try take(type) }
        mutating func decode(_ type: Double.Type) throws -> Double { try take(type) }
        mutating func decode(_ type: Float.Type) throws -> Float { try take(type) }
        mutating func decode(_ type: Int.Type) throws -> Int { try take(type) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try take(type) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try take(type) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try take(type) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try take(type) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try take(type) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try take(type) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try take(type) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try take(type) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try take(type) }
    }
}
