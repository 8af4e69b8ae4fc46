/// Checks a client-sent JSON document strictly, in one pass over its bytes, before
/// anything decodes it.
///
/// `JSONDecoder` accepts what RFC 8259 leaves open and what a gateway must not pass on:
/// the same key twice in one object (it keeps the last, while an upstream may keep the
/// first, so the gateway would check one request and forward another), `\u0000` in
/// strings (truncates text in C-based upstreams and databases), unpaired UTF-16
/// surrogate escapes (not text at all), and nesting limited only by its own stack. The
/// validator refuses all of these, and invalid UTF-8, with the path of the value at
/// fault (`messages[0].content`) so the client's 400 can name it as `param`.
///
/// It allocates only for keys (to compare them) and keeps an explicit stack, so its cost
/// is linear in the body and its depth is bounded whatever the input.
public enum JSONValidator {
    /// The deepest nesting of objects and arrays accepted.
    public static let maximumDepth = 128

    /// What is wrong with a document, and where.
    public struct Violation: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// Not JSON: a grammar error.
            case syntax
            /// Bytes that are not UTF-8.
            case invalidUTF8
            /// `\u0000` inside a string.
            case nul
            /// A `\uD800`–`\uDFFF` escape without its pair.
            case unpairedSurrogate
            /// Deeper than ``JSONValidator/maximumDepth``.
            case tooDeep
            /// A key that appears twice in one object.
            case duplicateKey(String)
        }

        public var kind: Kind
        /// The value at fault (`messages[0].content`); empty at the top level.
        public var path: String
        /// Byte offset of the fault.
        public var offset: Int
        /// For syntax errors: what was expected.
        public var reason: String

        public var description: String {
            let place = path.isEmpty ? "" : " in '\(path)'"
            switch kind {
            case .syntax: return "\(reason) at byte \(offset)"
            case .invalidUTF8: return "invalid UTF-8 at byte \(offset)\(place)"
            case .nul: return "NUL character (\\u0000)\(place)"
            case .unpairedSurrogate: return "unpaired UTF-16 surrogate escape at byte \(offset)\(place)"
            case .tooDeep: return "nesting deeper than \(JSONValidator.maximumDepth) levels at byte \(offset)"
            case .duplicateKey(let key): return "duplicate key '\(key)'\(place)"
            }
        }
    }

    /// Validates `bytes` as one JSON document.
    public static func validate(_ bytes: UnsafeRawBufferPointer) throws(Violation) {
        var parser = Parser(bytes: bytes)
        try parser.run()
    }

    /// Validates a byte collection (tests, small documents).
    public static func validate(_ bytes: some Collection<UInt8>) throws(Violation) {
        let array = Array(bytes)
        var failure: Violation?
        array.withUnsafeBytes { raw in
            do throws(Violation) { try validate(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// The offset of the first byte of `bytes` that is not valid UTF-8, if any: for
    /// documents that are text but not JSON (a YAML import).
    public static func invalidUTF8Offset(in bytes: UnsafeRawBufferPointer) -> Int? {
        var parser = Parser(bytes: bytes)
        while parser.index < bytes.count {
            if bytes[parser.index] < 0x80 {
                parser.index += 1
                continue
            }
            do throws(Violation) {
                try parser.multibyte()
            } catch {
                return error.offset
            }
        }
        return nil
    }

    /// Where a document's JSON text starts: after a UTF-8 byte order mark, which is
    /// tolerated, as RFC 8259 allows parsers to.
    static func afterByteOrderMark(_ bytes: UnsafeRawBufferPointer) -> Int {
        bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0
    }

    // MARK: - Parser

    /// A key of an object being read: its bytes as the document has them when it has no
    /// escapes (nearly always), else decoded into the parser's arena.
    private struct Key {
        var start: Int
        var count: Int
        var inArena: Bool
    }

    /// A plain value (no references), so the stack costs no reference counting.
    private struct Frame {
        var isObject: Bool
        /// Array: the element being read.
        var index = 0
        /// Object: this object's keys are `keys[firstKey...]`.
        var firstKey: Int
        var arenaStart: Int
        /// Object: the key whose value is being read.
        var currentKey: Int?
        /// Object with more than ``Parser/linearKeys`` keys: its keys are indexed by hash
        /// in the parser's `indexes`, under this frame's depth.
        var indexed = false
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0
        var frames: [Frame] = []
        /// The keys of the objects being read, innermost last.
        var keys: [Key] = []
        /// Decoded bytes of keys with escapes, back to back.
        var arena: [UInt8] = []
        /// Key positions by hash, for objects with many keys (by their frame's depth).
        var indexes: [Int: [Int: [Int]]] = [:]

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        /// Objects compare a new key against their keys one by one up to this many, and
        /// through a hash index beyond.
        static let linearKeys = 8

        mutating func run() throws(Violation) {
            // Room for a typical request up front: grown from empty, the arrays were
            // reallocated about ten times for a one-message chat request, which cost more
            // than checking its bytes. (Here, not in `init`: the UTF-8 check uses none of
            // them.) Keys are read in place, so the arena is only for escaped ones.
            frames.reserveCapacity(8)
            keys.reserveCapacity(16)
            index = JSONValidator.afterByteOrderMark(bytes)
            skipWhitespace()
            try value()
            while true {
                skipWhitespace()
                guard !frames.isEmpty else { break }
                guard index < bytes.count else { throw syntax("unexpected end of the body") }
                let byte = bytes[index]
                if frames[frames.count - 1].isObject {
                    if byte == UInt8(ascii: ",") {
                        index += 1
                        skipWhitespace()
                        try member()
                    } else if byte == UInt8(ascii: "}") {
                        index += 1
                        pop()
                    } else {
                        throw syntax("expected ',' or '}' after an object member")
                    }
                } else {
                    if byte == UInt8(ascii: ",") {
                        index += 1
                        frames[frames.count - 1].index += 1
                        skipWhitespace()
                        try value()
                    } else if byte == UInt8(ascii: "]") {
                        index += 1
                        pop()
                    } else {
                        throw syntax("expected ',' or ']' after an array element")
                    }
                }
            }
            guard index == bytes.count else { throw syntax("unexpected text after the JSON value") }
        }

        /// Reads a value; an object or array is opened (and read by `run`'s loop) unless empty.
        mutating func value() throws(Violation) {
            guard index < bytes.count else { throw syntax("unexpected end of the body") }
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let object = bytes[index] == UInt8(ascii: "{")
                try push(object: object)
                skipWhitespace()
                if index < bytes.count, bytes[index] == (object ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    index += 1
                    pop()
                } else if object {
                    try member()
                } else {
                    try value()
                }
            case UInt8(ascii: "\""):
                try string(isKey: false)
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try number()
            default:
                throw syntax("expected a JSON value")
            }
        }

        /// Reads `"key": value` in the innermost object.
        mutating func member() throws(Violation) {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw syntax("expected a string key")
            }
            // While the key is read, errors belong to the object, not to the previous member.
            frames[frames.count - 1].currentKey = nil
            let keyOffset = index
            let key = try string(isKey: true)
            try addKey(key, at: keyOffset)
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw syntax("expected ':' after a key") }
            index += 1
            skipWhitespace()
            try value()
        }

        mutating func push(object: Bool) throws(Violation) {
            guard frames.count < JSONValidator.maximumDepth else {
                throw Violation(kind: .tooDeep, path: path(), offset: index, reason: "")
            }
            index += 1
            frames.append(Frame(isObject: object, firstKey: keys.count, arenaStart: arena.count))
        }

        mutating func pop() {
            let frame = frames.removeLast()
            if frame.isObject {
                keys.removeLast(keys.count - frame.firstKey)
                if arena.count > frame.arenaStart { arena.removeLast(arena.count - frame.arenaStart) }
                if frame.indexed { indexes[frames.count] = nil }
            }
        }

        /// Records a key of the innermost object, refusing a repeat.
        mutating func addKey(_ key: Key, at offset: Int) throws(Violation) {
            let top = frames.count - 1
            let first = frames[top].firstKey
            if !frames[top].indexed {
                if keys.count - first < Self.linearKeys {
                    for i in first..<keys.count where same(keys[i], key) { throw duplicate(key, at: offset) }
                    frames[top].currentKey = keys.count
                    keys.append(key)
                    return
                }
                // Past a handful of keys, one-by-one comparison would make a large object
                // quadratic: its keys go into an index by hash from here on.
                var index: [Int: [Int]] = [:]
                for i in first..<keys.count { index[hash(keys[i]), default: []].append(i) }
                indexes[top] = index
                frames[top].indexed = true
            }
            let hash = hash(key)
            for i in indexes[top]?[hash] ?? [] where same(keys[i], key) { throw duplicate(key, at: offset) }
            indexes[top]?[hash, default: []].append(keys.count)
            frames[top].currentKey = keys.count
            keys.append(key)
        }

        /// Calls `body` with a key's bytes, wherever they are.
        func withBytes<R>(of key: Key, _ body: (UnsafeRawBufferPointer) -> R) -> R {
            guard key.inArena else { return body(UnsafeRawBufferPointer(rebasing: bytes[key.start..<(key.start + key.count)])) }
            return arena.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[key.start..<(key.start + key.count)])) }
        }

        func same(_ a: Key, _ b: Key) -> Bool {
            guard a.count == b.count else { return false }
            guard a.count > 0 else { return true }
            return withBytes(of: a) { x in withBytes(of: b) { y in RawBytes.equal(x.baseAddress!, y.baseAddress!, count: a.count) } }
        }

        func hash(_ key: Key) -> Int {
            var hasher = Hasher()
            withBytes(of: key) { hasher.combine(bytes: $0) }
            return hasher.finalize()
        }

        mutating func duplicate(_ key: Key, at offset: Int) -> Violation {
            let name = text(key)
            // The path names the repeated key itself.
            keys.append(key)
            frames[frames.count - 1].currentKey = keys.count - 1
            return Violation(kind: .duplicateKey(name), path: path(), offset: offset, reason: "")
        }

        func text(_ key: Key) -> String {
            withBytes(of: key) { String(decoding: $0, as: UTF8.self) }
        }

        // MARK: Strings

        /// Reads a string from its opening quote, and returns where its bytes are: in place
        /// when it has no escapes, else (a key's only) decoded into the arena. A value's
        /// escapes are checked, not decoded: its result is the text as written.
        ///
        /// Most of a request is text inside strings, so plain ASCII is stepped over eight
        /// bytes at a time (``specialBytes(_:)``); only a quote, a backslash, a control
        /// character or a UTF-8 sequence stops the word-wise loop.
        @discardableResult
        mutating func string(isKey: Bool) throws(Violation) -> Key {
            index += 1
            let start = index
            // Where the key's decoded bytes begin in the arena, once it has an escape.
            var decodedStart: Int?
            var runStart = index
            let count = bytes.count
            while true {
                while index &+ 8 <= count {
                    let special = Self.specialBytes(ByteWord.load(bytes.baseAddress!, at: index))
                    if special != 0 {
                        index &+= special.trailingZeroBitCount &>> 3
                        break
                    }
                    index &+= 8
                }
                guard index < count else { break }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    defer { index += 1 }
                    guard let decodedStart else { return Key(start: start, count: index - start, inArena: false) }
                    arena.append(contentsOf: bytes[runStart..<index])
                    return Key(start: decodedStart, count: arena.count - decodedStart, inArena: true)
                } else if byte == UInt8(ascii: "\\") {
                    if isKey {
                        if decodedStart == nil { decodedStart = arena.count }
                        arena.append(contentsOf: bytes[runStart..<index])
                    }
                    try escape(isKey: isKey)
                    runStart = index
                } else if byte < 0x20 {
                    throw syntax("unescaped control character in a string")
                } else if byte < 0x80 {
                    index += 1
                } else {
                    try multibyte()
                }
            }
            throw syntax("unterminated string")
        }

        /// Flags (see ``ByteWord``) the bytes of `word` that are a quote, a backslash,
        /// below 0x20 or above 0x7F; zero when there is none.
        @inline(__always)
        static func specialBytes(_ word: UInt64) -> UInt64 {
            ByteWord.equal(word, UInt8(ascii: "\"")) | ByteWord.equal(word, UInt8(ascii: "\\"))
                | ByteWord.below(word, 0x20) | ByteWord.nonASCII(word)
        }

        /// Reads one escape from its backslash; a key's decoded bytes go to the arena.
        mutating func escape(isKey: Bool) throws(Violation) {
            let start = index
            let (outcome, end) = JSONEscape.read(bytes, at: start)
            index = end
            switch outcome {
            case .invalid(let reason):
                throw syntax(reason, at: start)
            case .unpairedSurrogate:
                throw Violation(kind: .unpairedSurrogate, path: path(), offset: start, reason: "")
            case .scalar(let scalar) where scalar.value == 0:
                throw Violation(kind: .nul, path: path(), offset: start, reason: "")
            case .scalar(let scalar):
                if isKey { arena.append(contentsOf: UTF8.encode(scalar)!) }
            }
        }

        /// Checks one UTF-8 sequence of two to four bytes (RFC 3629: no overlong forms, no
        /// surrogates, nothing above U+10FFFF).
        mutating func multibyte() throws(Violation) {
            let lead = bytes[index]
            let length: Int
            var secondRange: ClosedRange<UInt8> = 0x80...0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; secondRange = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; secondRange = 0x80...0x9F
            case 0xF0: length = 4; secondRange = 0x90...0xBF
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; secondRange = 0x80...0x8F
            default: throw invalidUTF8(at: index)
            }
            guard index + length <= bytes.count else { throw invalidUTF8(at: index) }
            guard secondRange.contains(bytes[index + 1]) else { throw invalidUTF8(at: index + 1) }
            for i in 2..<length where bytes[index + i] & 0xC0 != 0x80 { throw invalidUTF8(at: index + i) }
            index += length
        }

        func invalidUTF8(at offset: Int) -> Violation {
            // Inside a key the fault is its object's (see `member`); inside a value, the value's.
            Violation(kind: .invalidUTF8, path: path(), offset: offset, reason: "")
        }

        // MARK: Scalars

        mutating func literal(_ word: StaticString) throws(Violation) {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw syntax("expected a JSON value") }
            for i in 0..<count where bytes[index + i] != word.utf8Start[i] { throw syntax("expected a JSON value") }
            index += count
        }

        mutating func number() throws(Violation) {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw syntax("invalid number", at: start) }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                if index < bytes.count, isDigit(bytes[index]) { throw syntax("leading zero in a number", at: start) }
            } else {
                skipDigits()
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw syntax("invalid number", at: start) }
                skipDigits()
            }
            if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw syntax("invalid number", at: start) }
                skipDigits()
            }
        }

        func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

        mutating func skipDigits() {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        // MARK: Errors

        func syntax(_ reason: String, at offset: Int? = nil) -> Violation {
            Violation(kind: .syntax, path: "", offset: offset ?? index, reason: reason)
        }

        /// `messages[0].content` for the value being read, or the object whose key is being
        /// read; at most 512 characters.
        func path() -> String {
            var out = ""
            for frame in frames {
                if frame.isObject {
                    guard let current = frame.currentKey else { break }
                    if !out.isEmpty { out += "." }
                    out += text(keys[current])
                } else {
                    out += "[\(frame.index)]"
                }
                if out.utf8.count > 512 { return String(out.prefix(509)) + "…" }
            }
            return out
        }
    }
}
