/// A reader of JSON documents that ``JSONValidator`` has accepted (well-formed, UTF-8,
/// no duplicate keys), for decoders that read a request's common shape straight from its
/// bytes: ``ChatRequestFastDecoder`` here, and the Anthropic and other providers' request
/// decoders. Each reading gives nil (or false) where it cannot be sure to read a value
/// as `JSONDecoder` and the wire types' `Codable` readings would — an escaped key, a
/// number whose reading as an integer is `JSONDecoder`'s to decide — and the caller then
/// decodes the whole body the slow way, which also gives every error.
///
/// The primitives a shape is written with are inlinable: a decoder in another module
/// runs its member readers without a closure call or an unspecialized generic per value.
public struct JSONFastReader {
    public let bytes: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    public var index: Int
    /// The members of the objects ``value()`` is reading, innermost last.
    private var pending: [(String, JSONValue)] = []

    public init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.index = 0
    }

    /// Reads a whole document with `read`: after a byte order mark and whitespace, and
    /// only if nothing but whitespace follows what `read` read.
    public static func document<T>(_ bytes: UnsafeRawBufferPointer, _ read: (inout JSONFastReader) -> T?) -> T? {
        var reader = JSONFastReader(bytes: bytes)
        reader.index = JSONValidator.afterByteOrderMark(bytes)
        reader.skipWhitespace()
        guard let value = read(&reader) else { return nil }
        reader.skipWhitespace()
        return reader.index == bytes.count ? value : nil
    }

    /// A whole validated document as the `JSONValue` that decoding it as one gives, or
    /// nil when reading it that way is not certain to agree (see ``value()``).
    static func document(_ bytes: UnsafeRawBufferPointer) -> JSONValue? {
        document(bytes) { $0.value() }
    }

    /// The byte at ``index``, if any.
    @inlinable
    public var next: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// The text of a key (a range of a plain, unescaped key, as ``object(_:)`` hands it).
    public func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    // MARK: Untyped values

    /// An object of untyped values (`metadata`, `logit_bias`), or null for none.
    public mutating func optionalValues(_ target: inout [String: JSONValue]?) -> Bool {
        if takeNull() { return true }
        guard let values = objectValue() else { return false }
        target = values
        return true
    }

    /// An untyped value, or null for none (as `decodeIfPresent` reads a `JSONValue`).
    public mutating func optionalValue(_ target: inout JSONValue?) -> Bool {
        if takeNull() { return true }
        guard let value = value() else { return false }
        target = value
        return true
    }

    /// A member a type does not model, kept as sent under its key (null as `.null`).
    public mutating func extraMember(_ key: Range<Int>, into extra: inout [String: JSONValue]) -> Bool {
        guard let value = value() else { return false }
        extra[text(key)] = value
        return true
    }

    /// An object of untyped values; nil for anything else.
    public mutating func objectValue() -> [String: JSONValue]? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{"), case .object(let members)? = value() else { return nil }
        return members
    }

    /// Any JSON value, as `JSONValue`'s decoding makes it: plain integers as `.int` (or
    /// `.uint` above `Int64.max`), other numbers as `.double` when they have a fractional
    /// part. Whether `JSONDecoder` reads `1.0` or `1e3` as an integer is for it to say,
    /// so those give nil, as do integers beyond `UInt64` and escaped keys. The
    /// validator bounds the nesting, so the recursion is bounded too.
    public mutating func value() -> JSONValue? {
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return string().map(JSONValue.string)
        case UInt8(ascii: "{"):
            // Members wait on `pending` until the object's end, so that its
            // dictionary is made once at its size: inserted as they came, a schema's
            // objects were reallocated and rehashed as they grew, a third of the time
            // it took to read an agent's tool definitions.
            let base = pending.count
            let complete = object { decoder, key in
                guard let value = decoder.value() else { return false }
                decoder.pending.append((decoder.text(key), value))
                return true
            }
            let count = pending.count - base
            guard complete else {
                pending.removeLast(count)
                return nil
            }
            var members = [String: JSONValue](minimumCapacity: count)
            while pending.count > base {
                let (key, value) = pending.removeLast()
                members[key] = value
            }
            // Two keys that differ in bytes but not as strings (one precomposed, one
            // not) make one entry: which one stays is for the slow path to say.
            return members.count == count ? .object(members) : nil
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
    public mutating func number() -> JSONValue? {
        let start = index
        if let integer = integer() { return integer }
        index = start
        guard let value = double(), value.rounded(.towardZero) != value else { return nil }
        return .double(value)
    }

    /// `-?[0-9]+` that fits in `Int64` (or, when positive, `UInt64`), not followed by a
    /// fraction or an exponent: anything else is for `JSONDecoder` where an integer is
    /// expected.
    public mutating func integer() -> JSONValue? {
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
    @inlinable
    public mutating func optionalArray<Element>(
        _ target: inout [Element]?, _ element: (inout JSONFastReader) -> Element?
    ) -> Bool {
        if takeNull() { return true }
        guard let elements = array(element) else { return false }
        target = elements
        return true
    }

    /// Reads an array, each element with `element`; nil when one cannot be read.
    /// (Inlined, so that each use runs its element's reader without a closure call.)
    @inlinable @inline(__always)
    public mutating func array<Element>(_ element: (inout JSONFastReader) -> Element?) -> [Element]? {
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
    @inlinable
    public mutating func object(_ member: (inout JSONFastReader, Range<Int>) -> Bool) -> Bool {
        var nothing: Void = ()
        return object(filling: &nothing) { decoder, _, key in member(&decoder, key) }
    }

    /// ``object(_:)`` with a value that `member` fills as it reads.
    @inlinable
    public mutating func object<Value>(
        filling value: inout Value, _ member: (inout JSONFastReader, inout Value, Range<Int>) -> Bool
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

    // MARK: Skipping and looking ahead

    /// Steps over any value, as a decoder steps over a member its type does not read.
    /// The validator has checked the document, so this only finds the value's end: a
    /// string's closing quote (escaped keys included), a container's closing bracket.
    public mutating func skipValue() -> Bool {
        guard let byte = next else { return false }
        switch byte {
        case UInt8(ascii: "\""):
            return skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let isObject = byte == UInt8(ascii: "{")
            index += 1
            skipWhitespace()
            if take(isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) { return true }
            while true {
                skipWhitespace()
                if isObject {
                    guard skipString() else { return false }
                    skipWhitespace()
                    guard take(UInt8(ascii: ":")) else { return false }
                    skipWhitespace()
                }
                guard skipValue() else { return false }
                skipWhitespace()
                if take(UInt8(ascii: ",")) { continue }
                return take(isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
            }
        case UInt8(ascii: "t"):
            return takeWord("true")
        case UInt8(ascii: "f"):
            return takeWord("false")
        case UInt8(ascii: "n"):
            return takeNull()
        default:
            let start = index
            while let byte = next, Self.isNumberByte(byte) { index += 1 }
            return index > start
        }
    }

    /// Steps over a string, escapes and all.
    private mutating func skipString() -> Bool {
        guard next == UInt8(ascii: "\""), let base = bytes.baseAddress,
            let end = JSONObjectRewriter.Scanner.stringEnd(base, count: bytes.count, quoteAt: index)?.end
        else { return false }
        index = end
        return true
    }

    /// The string value of the object member `key` of the object that starts at
    /// ``index``, without moving past the object: what a decoder whose reading depends
    /// on a `type` member needs first, wherever the member is. Nil when the member is
    /// missing or not a string, or a key is escaped.
    public mutating func peekString(member key: StaticString) -> String? {
        let start = index
        defer { index = start }
        var found: String?
        _ = object { reader, name in
            guard reader.equals(name, key) else { return reader.skipValue() }
            found = reader.string()
            // Stop the walk here: the rest of the object is read by the caller.
            return false
        }
        return found
    }

    // MARK: Scalars

    public mutating func optionalBool(_ target: inout Bool?) -> Bool {
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
    public mutating func requiredString(_ target: inout String?) -> Bool {
        guard let value = string() else { return false }
        target = value
        return true
    }

    public mutating func optionalString(_ target: inout String?) -> Bool {
        if takeNull() { return true }
        guard let value = string() else { return false }
        target = value
        return true
    }

    /// A plain integer (`-?[0-9]+`) that fits in an `Int`; anything else is for `JSONDecoder`.
    public mutating func optionalInt(_ target: inout Int?) -> Bool {
        if takeNull() { return true }
        guard case .int(let value)? = integer() else { return false }
        target = Int(value)
        return true
    }

    public mutating func optionalDouble(_ target: inout Double?) -> Bool {
        if takeNull() { return true }
        guard let value = double() else { return false }
        target = value
        return true
    }

    /// A finite number as `Double` (Swift's and Foundation's parsers both round
    /// correctly; the validator has checked the number's grammar).
    public mutating func double() -> Double? {
        let start = index
        while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard index > start, let value = Double(text), value.isFinite else { return nil }
        return value
    }

    static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
            UInt8(ascii: "e"), UInt8(ascii: "E"):
            return true
        default:
            return false
        }
    }

    /// A string value, escapes decoded (the validator has checked them and the UTF-8).
    public mutating func string() -> String? {
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

    @inlinable @inline(__always)
    public func equals(_ range: Range<Int>, _ word: StaticString) -> Bool {
        guard range.count == word.utf8CodeUnitCount else { return false }
        for i in 0..<range.count where bytes[range.lowerBound + i] != word.utf8Start[i] { return false }
        return true
    }

    @inlinable @inline(__always)
    public mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    @inlinable @inline(__always)
    public mutating func takeWord(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count, equals(index..<(index + count), word) else { return false }
        index += count
        return true
    }

    @inlinable @inline(__always)
    public mutating func takeNull() -> Bool { takeWord("null") }

    @inlinable @inline(__always)
    public mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }
}
