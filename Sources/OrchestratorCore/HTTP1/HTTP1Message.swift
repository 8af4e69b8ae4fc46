public import HTTPTypes
public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why bytes that should be an HTTP/1.x message are not one.
public struct HTTP1Malformed: Error, Equatable, CustomStringConvertible {
    /// The part of the message at fault (the server side maps it to its parser errors).
    public enum Kind: Sendable, Equatable {
        case startLine
        case version
        case method
        case target
        case field
        /// A limit was exceeded (the head, a field, the field count, a chunk line).
        case tooLarge
        case contentLength
        case transferEncoding
        case chunk
        /// Bytes where no message was expected, or a message cut short.
        case unexpected
    }

    public var kind: Kind
    public var reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { reason }
}

/// How much of a head a parser accepts.
public struct HTTP1HeadLimits: Sendable {
    /// The whole head, start line to blank line.
    public var maxHeadBytes: Int
    /// Header fields in one head.
    public var maxFields: Int
    /// One field line (name, value and line ending).
    public var maxFieldBytes: Int

    public init(maxHeadBytes: Int, maxFields: Int = .max, maxFieldBytes: Int = .max) {
        self.maxHeadBytes = maxHeadBytes
        self.maxFields = maxFields
        self.maxFieldBytes = maxFieldBytes
    }
}

/// The field section of a head, and what it says about framing and the connection.
public struct HTTP1FieldSection {
    public var fields = HTTPFields()
    /// The `Content-Length`, validated (repeated values must agree).
    public var contentLength: Int?
    /// Whether a `Transfer-Encoding` was sent, and whether its last coding is `chunked`.
    public var transferEncoding: TransferCoding = .none
    public var connectionClose = false
    public var connectionKeepAlive = false
    /// The first `Host` value, when the reader was asked to take it out of `fields`.
    public var host: String?

    public enum TransferCoding: Sendable, Equatable {
        case none
        case chunked
        case other
    }
}

/// Reads the lines of one head out of a buffer's bytes: the start line, then the field
/// section. Lines end with CRLF, or with a lone LF (RFC 9112 §2.2).
///
/// Refused as malformed: a field line without a colon or with whitespace before it, a
/// name that is not a token, obsolete line folding, a CR or NUL inside a value, and
/// conflicting or non-numeric `Content-Length`s.
public struct HTTP1HeadReader {
    public let bytes: UnsafeRawBufferPointer
    public var position = 0

    public init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The next line without its line ending, or nil when the bytes end before its LF.
    public mutating func nextLine() -> Range<Int>? {
        // memchr, not `firstIndex(of:)` on a slice, which tests a byte per step.
        guard position < bytes.count, let base = bytes.baseAddress,
            let found = memchr(base + position, Int32(UInt8(ascii: "\n")), bytes.count - position)
        else { return nil }
        let newline = UnsafeRawPointer(found) - base
        let start = position
        position = newline + 1
        var end = newline
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return start..<end
    }

    /// The bytes of `range`.
    public func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[range])
    }

    /// Reads field lines through the blank line that ends the head; nil when the bytes
    /// end first. `takeHost` moves the first `Host` value out of the fields.
    public mutating func readFields(limits: HTTP1HeadLimits, takeHost: Bool = false) throws(HTTP1Malformed) -> HTTP1FieldSection? {
        var unused: [HTTP1RawFields.Line] = []
        return try readFields(limits: limits, takeHost: takeHost, building: true, lines: &unused, linesFrom: 0)
    }

    /// Reads and checks field lines through the blank line that ends the head, as
    /// ``readFields(limits:takeHost:)`` does, and keeps them as bytes instead of building
    /// `HTTPFields` (the section's `fields` stay empty); nil when the bytes end first.
    /// `takeHost` sets the section's `host` as ``readFields(limits:takeHost:)`` does; the
    /// line stays in the bytes (``HTTP1RawFields/fields(takingHost:)`` leaves it out).
    public mutating func readRawFields(limits: HTTP1HeadLimits, takeHost: Bool = false) throws(HTTP1Malformed)
        -> (HTTP1FieldSection, HTTP1RawFields)?
    {
        let start = position
        var lines: [HTTP1RawFields.Line] = []
        lines.reserveCapacity(12)
        guard let section = try readFields(limits: limits, takeHost: takeHost, building: false, lines: &lines, linesFrom: start)
        else { return nil }
        return (section, HTTP1RawFields(checked: slice(start..<position), lines: lines))
    }

    /// Reads the field lines; with `building`, into the section's `fields`, otherwise
    /// noting in `lines` where each line's name and value are, as offsets from
    /// `linesFrom` (where the kept bytes start).
    private mutating func readFields(
        limits: HTTP1HeadLimits, takeHost: Bool, building: Bool, lines: inout [HTTP1RawFields.Line], linesFrom base: Int
    ) throws(HTTP1Malformed) -> HTTP1FieldSection? {
        var section = HTTP1FieldSection()
        // Collected in an array and added at the end in one call: `HTTPFields` appends
        // through its generic `replaceSubrange`, which is slow to call once per field.
        var fields = [HTTPField]()
        if building { fields.reserveCapacity(12) }
        var count = 0
        while true {
            let lineStart = position
            guard let line = nextLine() else { return nil }
            if line.isEmpty {
                if !fields.isEmpty {
                    section.fields.reserveCapacity(fields.count)
                    section.fields.append(contentsOf: fields)
                }
                return section
            }
            count += 1
            guard count <= limits.maxFields else { throw HTTP1Malformed(.tooLarge, "more than \(limits.maxFields) header fields") }
            guard position - lineStart <= limits.maxFieldBytes else {
                throw HTTP1Malformed(.tooLarge, "a header field larger than \(limits.maxFieldBytes) bytes")
            }
            let first = bytes[line.lowerBound]
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                throw HTTP1Malformed(.field, "obsolete line folding in the head")
            }
            guard let (nameRange, valueRange) = fieldParts(of: line) else {
                throw HTTP1Malformed(.field, "a header line without a colon")
            }
            guard !nameRange.isEmpty, HTTP1Syntax.isToken(slice(nameRange)) else {
                throw HTTP1Malformed(.field, "an invalid header name")
            }
            guard let ascii = HTTP1Syntax.checkFieldValue(slice(valueRange)) else {
                throw HTTP1Malformed(.field, "a CR or NUL inside a header value")
            }
            if !building {
                lines.append(
                    HTTP1RawFields.Line(
                        nameStart: Int32(nameRange.lowerBound - base), nameEnd: Int32(nameRange.upperBound - base),
                        valueStart: Int32(valueRange.lowerBound - base), valueEnd: Int32(valueRange.upperBound - base)))
            }
            switch HTTP1Syntax.framingField(slice(nameRange)) {
            case .contentLength:
                let length = try parseContentLength(valueRange)
                if let contentLength = section.contentLength, contentLength != length {
                    throw HTTP1Malformed(.contentLength, "conflicting Content-Length values")
                }
                section.contentLength = length
            case .transferEncoding:
                // Several fields are one list: the last coding of the last one decides.
                var last: UnsafeRawBufferPointer?
                forEachToken(in: valueRange) { last = $0 }
                section.transferEncoding = last.map { RawBytes.equalIgnoringCase($0, "chunked") } == true ? .chunked : .other
            case .connection:
                forEachToken(in: valueRange) { token in
                    if RawBytes.equalIgnoringCase(token, "close") { section.connectionClose = true }
                    if RawBytes.equalIgnoringCase(token, "keep-alive") { section.connectionKeepAlive = true }
                }
            case .host where takeHost && section.host == nil:
                section.host = String(decoding: slice(valueRange), as: UTF8.self)
                continue
            default:
                break
            }
            if building { fields.append(Self.field(HTTP1Syntax.fieldName(slice(nameRange)), slice(valueRange), ascii: ascii)) }
        }
    }

    /// A field line's name (up to the first colon) and its value without the whitespace
    /// around it; nil when the line has no colon.
    @inline(__always)
    fileprivate func fieldParts(of line: Range<Int>) -> (name: Range<Int>, value: Range<Int>)? {
        guard !line.isEmpty,
            let found = memchr(bytes.baseAddress! + line.lowerBound, Int32(UInt8(ascii: ":")), line.count)
        else { return nil }
        let colon = UnsafeRawPointer(found) - bytes.baseAddress!
        var start = colon + 1
        var end = line.upperBound
        while start < end, HTTP1Syntax.isWhitespace(bytes[start]) { start += 1 }
        while end > start, HTTP1Syntax.isWhitespace(bytes[end - 1]) { end -= 1 }
        return (line.lowerBound..<colon, start..<end)
    }

    /// A field from a checked line's name and value.
    fileprivate static func field(_ name: HTTPField.Name, _ value: UnsafeRawBufferPointer, ascii: Bool) -> HTTPField {
        // An ASCII value (nearly all) is made a string directly; `HTTPField`'s own bytes
        // initializer validates UTF-8 through an unspecialised generic path, which cost
        // 1 % of the data plane's CPU.
        ascii
            ? HTTPField(name: name, value: String(decoding: value.assumingMemoryBound(to: UInt8.self), as: UTF8.self))
            : HTTPField(name: name, value: value)
    }

    /// A `Content-Length` value: digits, or a list of the same digits repeated.
    private func parseContentLength(_ range: Range<Int>) throws(HTTP1Malformed) -> Int {
        var value: Int?
        var failure: HTTP1Malformed?
        forEachToken(in: range) { token in
            guard failure == nil else { return }
            guard let length = HTTP1Syntax.decimal(token) else {
                let digits = token.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                let reason = token.isEmpty ? "an empty Content-Length" : digits ? "a Content-Length too large" : "a non-numeric Content-Length"
                failure = HTTP1Malformed(.contentLength, reason)
                return
            }
            if let value, value != length { failure = HTTP1Malformed(.contentLength, "conflicting Content-Length values") }
            value = length
        }
        if let failure { throw failure }
        guard let value else { throw HTTP1Malformed(.contentLength, "an empty Content-Length") }
        return value
    }

    /// Calls `body` with each comma-separated element of a list value, trimmed.
    private func forEachToken(in range: Range<Int>, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = range.lowerBound
        while start <= range.upperBound {
            var end = start
            while end < range.upperBound, bytes[end] != UInt8(ascii: ",") { end += 1 }
            var tokenStart = start
            var tokenEnd = end
            while tokenStart < tokenEnd, HTTP1Syntax.isWhitespace(bytes[tokenStart]) { tokenStart += 1 }
            while tokenEnd > tokenStart, HTTP1Syntax.isWhitespace(bytes[tokenEnd - 1]) { tokenEnd -= 1 }
            if tokenStart < tokenEnd || range.isEmpty {
                body(slice(tokenStart..<tokenEnd))
            }
            start = end + 1
        }
    }
}

/// A head's field lines, kept as the bytes they came in after
/// ``HTTP1HeadReader/readRawFields(limits:)`` checked them.
///
/// Building `HTTPFields` costs a string and a validated `HTTPField` per line, about
/// 1,500 instructions for the eight fields of a small upstream response and more for
/// the twenty or so a hosted API sends, while the gateway reads one or two of them (the
/// upstream's request id, the content type). So the upstream client keeps the bytes,
/// and a field is found by name when asked for; ``fields`` builds them all.
public struct HTTP1RawFields: Sendable, Hashable {
    /// Where one field line's name and value are in ``bytes``.
    public struct Line: Sendable, Hashable {
        var nameStart: Int32
        var nameEnd: Int32
        var valueStart: Int32
        var valueEnd: Int32
    }

    /// The field lines, through the blank line after them.
    private let bytes: [UInt8]
    /// Each line's name and value, as the reader found them: a lookup compares names
    /// without finding the lines and colons again (four lookups of a chat request
    /// searched 45 times for a line's end or colon).
    private let lines: [Line]

    fileprivate init(checked bytes: UnsafeRawBufferPointer, lines: [Line]) {
        self.bytes = Array(bytes)
        self.lines = lines
    }

    /// The value of the first field named `name`, as `fields.firstValue(name)` gives it.
    public func firstValue(_ name: HTTPField.Name) -> String? {
        var found: String?
        forEachValue(of: name) { value in
            found = value
            return false
        }
        return found
    }

    /// The values of the fields named `name`, joined as `fields[name]` joins them
    /// (with "; " for cookies, ", " otherwise); nil when there is none.
    public subscript(name: HTTPField.Name) -> String? {
        var joined: String?
        let separator = name == .cookie ? "; " : ", "
        forEachValue(of: name) { value in
            joined = joined.map { $0 + separator + value } ?? value
            return true
        }
        return joined
    }

    /// Calls `body` with the value of each field named `name`, in order, while it
    /// returns true.
    private func forEachValue(of name: HTTPField.Name, _ body: (String) -> Bool) {
        var wanted = name.canonicalName
        wanted.withUTF8 { wanted in
            let wanted = UnsafeRawBufferPointer(wanted)
            bytes.withUnsafeBytes { bytes in
                for line in lines where Int(line.nameEnd - line.nameStart) == wanted.count {
                    let lineName = UnsafeRawBufferPointer(rebasing: bytes[Int(line.nameStart)..<Int(line.nameEnd)])
                    guard RawBytes.equalIgnoringCase(lineName, lowercase: wanted) else { continue }
                    let value = UnsafeRawBufferPointer(rebasing: bytes[Int(line.valueStart)..<Int(line.valueEnd)])
                    guard body(Self.value(value, name: name)) else { return }
                }
            }
        }
    }

    /// A field's value as `HTTPField` gives it. Visible ASCII, spaces and tabs (nearly
    /// every value) are a legal value as they are, so the string is made directly,
    /// without the field's validation of every byte.
    private static func value(_ bytes: UnsafeRawBufferPointer, name: HTTPField.Name) -> String {
        let plain = bytes.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 }
        guard plain else { return HTTP1HeadReader.field(name, bytes, ascii: !bytes.contains { $0 >= 0x80 }).value }
        return String(decoding: bytes.assumingMemoryBound(to: UInt8.self), as: UTF8.self)
    }

    /// Every field, in order.
    public var fields: HTTPFields { fields(takingHost: false) }

    /// Every field, in order; `takingHost` leaves out the first `Host`, as the reader
    /// that kept these bytes with `takeHost` did.
    public func fields(takingHost: Bool) -> HTTPFields {
        bytes.withUnsafeBytes { bytes in
            var reader = HTTP1HeadReader(bytes: bytes)
            // The lines were checked under the parser's limits already.
            return (try? reader.readFields(limits: HTTP1HeadLimits(maxHeadBytes: .max), takeHost: takingHost))?.fields ?? HTTPFields()
        }
    }
}

/// The bytes a parser left unread at the end of one read (part of a head, a chunk-size
/// line): they go ahead of the next read.
public struct HTTP1Unparsed {
    private var held: ByteBuffer?

    public init() {}

    /// Whether nothing is held.
    public var isEmpty: Bool { held == nil }

    /// `read`, behind what earlier reads left.
    public mutating func joined(with read: ByteBuffer) -> ByteBuffer {
        guard var held = held.take() else { return read }
        var read = read
        held.writeBuffer(&read)
        return held
    }

    /// Keeps what is left unread of `buffer` for the next read (nothing when it was all
    /// read), compacted: a few bytes must not hold on to a whole receive buffer.
    public mutating func keep(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else {
            held = nil
            return
        }
        var rest = buffer
        rest.discardReadBytes()
        held = rest
    }

    public mutating func clear() {
        held = nil
    }
}

/// Reads one message body out of the bytes that follow its head, by its framing.
///
/// Chunk extensions and trailers are read and dropped; a chunk-size line or a trailer
/// section over `maxChunkLineBytes` is refused, as is a chunk size that is not hex or
/// overflows, and chunk data not followed by its line ending.
public struct HTTP1BodyReader {
    public enum Framing: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
        /// Until the connection closes (responses only).
        case untilClose
    }

    public enum Event {
        case body(ByteBuffer)
        case end
    }

    /// The most a chunk-size line (with extensions) or the trailer section may take.
    public static let maxChunkLineBytes = 4 * 1024

    private enum State {
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        case trailers(seen: Int)
        case untilClose
        /// Only the end is left.
        case ending
        case done
    }

    private var state: State

    public init(framing: Framing) {
        switch framing {
        case .none, .length(0): state = .ending
        case .length(let length): state = .length(remaining: length)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
    }

    /// Whether the body is read to its end.
    public var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// The connection closed: true when that ends the body (one read until the close).
    public var endsAtClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// The next event from `buffer`, consuming what it used; nil when more bytes are
    /// needed (what is left in `buffer` must be given again, ahead of the next read).
    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1Malformed) -> Event? {
        while true {
            switch state {
            case .done:
                return nil
            case .ending:
                state = .done
                return .end
            case .length(let remaining), .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let count = min(remaining, buffer.readableBytes)
                let left = remaining - count
                if case .length = state {
                    state = left == 0 ? .ending : .length(remaining: left)
                } else {
                    state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                }
                return .body(buffer.readSlice(length: count)!)
            case .chunkSize:
                guard let (size, length) = try Self.parseChunkSize(buffer) else {
                    if buffer.readableBytes > Self.maxChunkLineBytes {
                        throw HTTP1Malformed(.tooLarge, "chunk-size line longer than \(Self.maxChunkLineBytes) bytes")
                    }
                    return nil
                }
                buffer.moveReaderIndex(forwardBy: length)
                state = size == 0 ? .trailers(seen: 0) : .chunkData(remaining: size)
            case .chunkDataEnd:
                guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                if first == UInt8(ascii: "\r") {
                    guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return nil }
                    guard second == UInt8(ascii: "\n") else { throw HTTP1Malformed(.chunk, "chunk data not followed by CRLF") }
                    buffer.moveReaderIndex(forwardBy: 2)
                } else if first == UInt8(ascii: "\n") {
                    buffer.moveReaderIndex(forwardBy: 1)
                } else {
                    throw HTTP1Malformed(.chunk, "chunk data not followed by CRLF")
                }
                state = .chunkSize
            case .trailers(let seen):
                let line = buffer.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } }
                guard let length = line else {
                    if seen + buffer.readableBytes > Self.maxChunkLineBytes {
                        throw HTTP1Malformed(.tooLarge, "trailer section longer than \(Self.maxChunkLineBytes) bytes")
                    }
                    return nil
                }
                let blank = length == 1 || (length == 2 && buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "\r"))
                buffer.moveReaderIndex(forwardBy: length)
                if blank {
                    state = .done
                    return .end
                }
                guard seen + length <= Self.maxChunkLineBytes else {
                    throw HTTP1Malformed(.tooLarge, "trailer section longer than \(Self.maxChunkLineBytes) bytes")
                }
                state = .trailers(seen: seen + length)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            }
        }
    }

    /// A chunk-size line (`1a;ext=v\r\n`): the size and the line's length.
    private static func parseChunkSize(_ buffer: ByteBuffer) throws(HTTP1Malformed) -> (Int, Int)? {
        let parsed = buffer.withUnsafeReadableBytes { bytes -> Result<(Int, Int)?, HTTP1Malformed> in
            guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return .success(nil) }
            var end = newline
            if end > 0, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            var index = 0
            var size = 0
            while index < end, let digit = hexValue(bytes[index]) {
                guard size <= (Int.max - 15) / 16 else { return .failure(HTTP1Malformed(.chunk, "chunk size too large")) }
                size = size * 16 + digit
                index += 1
            }
            guard index > 0 else { return .failure(HTTP1Malformed(.chunk, "chunk size is not hexadecimal")) }
            // Optional whitespace, then extensions, which are not used.
            while index < end, HTTP1Syntax.isWhitespace(bytes[index]) { index += 1 }
            guard index == end || bytes[index] == UInt8(ascii: ";") else {
                return .failure(HTTP1Malformed(.chunk, "chunk size is not hexadecimal"))
            }
            for byte in bytes[index..<end] where byte == UInt8(ascii: "\r") || byte == 0 {
                return .failure(HTTP1Malformed(.chunk, "invalid character in a chunk extension"))
            }
            return .success((size, newline + 1))
        }
        return try parsed.get()
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

/// The byte classes and names both sides' HTTP/1 code shares.
public enum HTTP1Syntax {
    /// `Host`, which HTTPTypes leaves to the request's authority.
    public static let host = HTTPField.Name("host")!

    public static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// RFC 9110 `tchar`: ALPHA, DIGIT and ``tokenSymbols``, looked up as a bit in a
    /// 128-bit map (bit `b` of `tokenBitsLow` for bytes 0–63, bit `b - 64` of
    /// `tokenBitsHigh` for 64–127) instead of a range test per class.
    @inline(__always)
    public static func isTokenByte(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenBitsLow &>> UInt64(byte)) & 1 != 0 }
        if byte < 128 { return (tokenBitsHigh &>> UInt64(byte &- 64)) & 1 != 0 }
        return false
    }

    /// The `tchar`s besides letters and digits (RFC 9110 §5.6.2).
    public static let tokenSymbols = "!#$%&'*+-.^_`|~"
    /// `!`, `#`–`'`, `*`, `+`, `-`, `.` and `0`–`9`.
    static let tokenBitsLow: UInt64 = 0x03FF_6CFA_0000_0000
    /// `A`–`Z`, `^`, `_`, `` ` ``, `a`–`z`, `|` and `~`.
    static let tokenBitsHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// Whether every byte is a `tchar` (true for no bytes).
    @inline(__always)
    public static func isToken(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes where !isTokenByte(byte) { return false }
        return true
    }

    /// Checks a field value's bytes: nil when one is a CR or a NUL, else whether they
    /// are all ASCII.
    ///
    /// Eight bytes at a time: a header value is tens of bytes, and testing each byte for
    /// three values was most of the cost of reading a head. For a word `w`, `(w - 0x01…)
    /// & ~w & 0x80…` is non-zero exactly when one of its bytes is zero (a borrow only
    /// reaches the bytes above a zero one), so XOR with `0x0D…` finds a CR the same way.
    @inline(__always)
    public static func checkFieldValue(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let crs: UInt64 = 0x0D0D_0D0D_0D0D_0D0D
        var high: UInt64 = 0
        var i = 0
        while i &+ 8 <= count {
            let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let crWord = word ^ crs
            let zero = (word &- ones) & ~word & highs
            let cr = (crWord &- ones) & ~crWord & highs
            if zero | cr != 0 { return nil }
            high |= word
            i &+= 8
        }
        while i < count {
            let byte = base.load(fromByteOffset: i, as: UInt8.self)
            if byte == UInt8(ascii: "\r") || byte == 0 { return nil }
            high |= UInt64(byte)
            i &+= 1
        }
        return high & highs == 0
    }

    /// Digits only, without overflow; nil otherwise (and for no digits).
    public static func decimal(_ token: UnsafeRawBufferPointer) -> Int? {
        guard !token.isEmpty else { return nil }
        var value = 0
        for byte in token {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), value <= (Int.max - 9) / 10 else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// The field name for a valid token: the common ones without the lower-casing parse
    /// and its string (every message has several of them).
    public static func fieldName(_ token: UnsafeRawBufferPointer) -> HTTPField.Name {
        // Only the spellings of the token's length are compared: a pass over all of
        // them cost about 200 instructions per field.
        if token.count < spellingsByLength.count {
            for index in spellingsByLength[token.count] where RawBytes.equalIgnoringCase(token, commonNames[index].spelling) {
                return commonNames[index].name
            }
        }
        // A token is a valid field name.
        return HTTPField.Name(String(decoding: token, as: UTF8.self))!
    }

    /// The fields the head reader acts on itself.
    public enum FramingField: Sendable {
        case contentLength, transferEncoding, connection, host
    }

    /// Which framing field a valid token names, if any, told by length first (bytes
    /// compared, not `HTTPField.Name`s, which compare strings).
    public static func framingField(_ token: UnsafeRawBufferPointer) -> FramingField? {
        switch token.count {
        case 4: RawBytes.equalIgnoringCase(token, "host") ? .host : nil
        case 10: RawBytes.equalIgnoringCase(token, "connection") ? .connection : nil
        case 14: RawBytes.equalIgnoringCase(token, "content-length") ? .contentLength : nil
        case 17: RawBytes.equalIgnoringCase(token, "transfer-encoding") ? .transferEncoding : nil
        default: nil
        }
    }

    /// Indexes into `commonNames`, by the length of their spelling.
    private static let spellingsByLength: [[Int]] = {
        var table = [[Int]](repeating: [], count: (commonNames.map(\.spelling.utf8CodeUnitCount).max() ?? 0) + 1)
        for (index, entry) in commonNames.enumerated() { table[entry.spelling.utf8CodeUnitCount].append(index) }
        return table
    }()

    private static let commonNames: [(spelling: StaticString, name: HTTPField.Name)] = [
        ("content-type", .contentType), ("content-length", .contentLength), ("date", .date),
        ("server", .server), ("connection", .connection), ("transfer-encoding", .transferEncoding),
        ("x-request-id", HTTPField.Name("x-request-id")!), ("cache-control", .cacheControl), ("vary", .vary),
        ("etag", .eTag), ("last-modified", .lastModified), ("accept-ranges", .acceptRanges),
        ("retry-after", .retryAfter), ("keep-alive", HTTPField.Name("keep-alive")!),
        // Request fields.
        ("host", host), ("authorization", .authorization), ("accept", .accept), ("user-agent", .userAgent),
        ("accept-encoding", .acceptEncoding), ("origin", .origin), ("x-api-key", HTTPField.Name("x-api-key")!),
    ]
}
