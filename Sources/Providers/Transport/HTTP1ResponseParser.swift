import HTTPTypes
import NIOCore
import OrchestratorCore

/// The upstream side's HTTP/1.x response parser: turns the bytes of a connection into a
/// response head, body slices and an end, one response per request the connection sent.
///
/// Written for the one thing the gateway's client needs, not as a general parser: it
/// reads responses to requests it made itself (HTTP/1.1, no `Expect`, no upgrade). It
/// builds `HTTPFields` straight from the bytes, and body slices share the storage of
/// the read they came in.
///
/// - Framing (RFC 9112 §6.3): no body for 1xx, 204, 304 and responses to `HEAD`; a
///   `Transfer-Encoding` ending in `chunked` is chunked (chunk extensions and trailers
///   are read and dropped), any other `Transfer-Encoding` is read until the connection
///   closes; otherwise `Content-Length`, and without one, until the connection closes.
/// - Interim responses (100, 102, 103) are skipped; a 101 is refused (nothing asked for
///   an upgrade).
/// - Keep-alive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
///   `Connection: keep-alive`; never for a body delimited by the close, or when both
///   `Transfer-Encoding` and `Content-Length` were sent.
/// - Refused as malformed: a status line that is not `HTTP/1.x` and three digits, a
///   header line without a colon or with whitespace before it, a name that is not a
///   token, obsolete line folding, a CR or NUL inside a value, conflicting or
///   non-numeric `Content-Length`s, a chunk size that is not hex or overflows, a missing
///   CRLF after chunk data, and heads (or chunk-size lines and trailers) over their
///   limits. A lone LF ends a line as CRLF does (RFC 9112 §2.2).
struct HTTP1ResponseParser {
    struct Head {
        var status: Int
        var headers: HTTPFields
        /// Whether the connection may carry another request after this response's end.
        var keepAlive: Bool
    }

    enum Event {
        case head(Head)
        case body(ByteBuffer)
        case end
    }

    struct Malformed: Error, Equatable, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// The most a response head may take, status line to blank line.
    static let maxHeadBytes = 64 * 1024
    /// The most a chunk-size line (with extensions) or the trailer section may take.
    static let maxChunkLineBytes = 4 * 1024

    private enum State {
        /// No response expected: any byte is the upstream's mistake.
        case idle
        case head
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        case trailers(seen: Int)
        case untilClose
        /// The head of a response without a body was delivered; its end is next.
        case ending
    }

    private var state = State.idle
    private var headRequest = false

    /// Prepares for the response to a request just sent.
    mutating func expectResponse(toHEAD: Bool = false) {
        state = .head
        headRequest = toHEAD
    }

    /// Whether a complete response was read and no other is expected.
    var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// The connection closed. True when that ends the response in flight (a body read
    /// until the close); the parser is idle afterwards either way.
    mutating func connectionClosed() -> Bool {
        defer { state = .idle }
        if case .untilClose = state { return true }
        return false
    }

    /// The next event from `buffer`, consuming what it used; nil when more bytes are
    /// needed (what is left in `buffer` must be given again, ahead of the next read).
    mutating func next(_ buffer: inout ByteBuffer) throws(Malformed) -> Event? {
        while true {
            switch state {
            case .idle:
                if buffer.readableBytes > 0 { throw Malformed(reason: "bytes arrived while no response was expected") }
                return nil
            case .head:
                let parsed = try Self.parseHead(buffer, headRequest: headRequest)
                guard let (head, length) = parsed, length <= Self.maxHeadBytes else {
                    if parsed != nil || buffer.readableBytes > Self.maxHeadBytes {
                        throw Malformed(reason: "response head larger than \(Self.maxHeadBytes) bytes")
                    }
                    return nil
                }
                buffer.moveReaderIndex(forwardBy: length)
                switch head {
                case .interim:
                    continue
                case .final(let head, let framing):
                    switch framing {
                    case .none: state = .ending
                    case .length(0): state = .ending
                    case .length(let length): state = .length(remaining: length)
                    case .chunked: state = .chunkSize
                    case .untilClose: state = .untilClose
                    }
                    return .head(head)
                }
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
                        throw Malformed(reason: "chunk-size line longer than \(Self.maxChunkLineBytes) bytes")
                    }
                    return nil
                }
                buffer.moveReaderIndex(forwardBy: length)
                state = size == 0 ? .trailers(seen: 0) : .chunkData(remaining: size)
            case .chunkDataEnd:
                guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                if first == UInt8(ascii: "\r") {
                    guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return nil }
                    guard second == UInt8(ascii: "\n") else { throw Malformed(reason: "chunk data not followed by CRLF") }
                    buffer.moveReaderIndex(forwardBy: 2)
                } else if first == UInt8(ascii: "\n") {
                    buffer.moveReaderIndex(forwardBy: 1)
                } else {
                    throw Malformed(reason: "chunk data not followed by CRLF")
                }
                state = .chunkSize
            case .trailers(let seen):
                guard let length = Self.lineLength(buffer) else {
                    if seen + buffer.readableBytes > Self.maxChunkLineBytes {
                        throw Malformed(reason: "trailer section longer than \(Self.maxChunkLineBytes) bytes")
                    }
                    return nil
                }
                let blank = length == 1 || (length == 2 && buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "\r"))
                buffer.moveReaderIndex(forwardBy: length)
                if blank {
                    state = .idle
                    return .end
                }
                guard seen + length <= Self.maxChunkLineBytes else {
                    throw Malformed(reason: "trailer section longer than \(Self.maxChunkLineBytes) bytes")
                }
                state = .trailers(seen: seen + length)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            case .ending:
                state = .idle
                return .end
            }
        }
    }

    // MARK: Lines

    /// The length of the first line in `buffer` with its LF, or nil when it has none yet.
    private static func lineLength(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            bytes.firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }
        }
    }

    // MARK: Chunk sizes

    /// A chunk-size line (`1a;ext=v\r\n`): the size and the line's length.
    private static func parseChunkSize(_ buffer: ByteBuffer) throws(Malformed) -> (Int, Int)? {
        let parsed = buffer.withUnsafeReadableBytes { bytes -> Result<(Int, Int)?, Malformed> in
            guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return .success(nil) }
            var end = newline
            if end > 0, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            var index = 0
            var size = 0
            while index < end, let digit = hexValue(bytes[index]) {
                guard size <= (Int.max - 15) / 16 else { return .failure(Malformed(reason: "chunk size too large")) }
                size = size * 16 + digit
                index += 1
            }
            guard index > 0 else { return .failure(Malformed(reason: "chunk size is not hexadecimal")) }
            // Optional whitespace, then extensions, which are not used.
            while index < end, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
            guard index == end || bytes[index] == UInt8(ascii: ";") else {
                return .failure(Malformed(reason: "chunk size is not hexadecimal"))
            }
            for byte in bytes[index..<end] where byte == UInt8(ascii: "\r") || byte == 0 {
                return .failure(Malformed(reason: "invalid character in a chunk extension"))
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

    // MARK: Heads

    private enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    private enum ParsedHead {
        /// A 1xx other than 101: skipped.
        case interim
        case final(Head, Framing)
    }

    /// The head at the start of `buffer` and its length, or nil when it is not complete.
    private static func parseHead(_ buffer: ByteBuffer, headRequest: Bool) throws(Malformed) -> (ParsedHead, Int)? {
        let parsed = buffer.withUnsafeReadableBytes { bytes -> Result<(ParsedHead, Int)?, Malformed> in
            var reader = HeadReader(bytes: bytes)
            return Result { () throws(Malformed) in try reader.read(headRequest: headRequest) }
        }
        return try parsed.get()
    }

    /// Reads one head out of a buffer's bytes.
    private struct HeadReader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        /// The next line without its line ending, or nil when the bytes end before its LF.
        mutating func nextLine() -> Range<Int>? {
            guard let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            let start = position
            position = newline + 1
            var end = newline
            if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            return start..<end
        }

        mutating func read(headRequest: Bool) throws(Malformed) -> (ParsedHead, Int)? {
            // Lines are read as they come; a head cut short is read again with more bytes.
            guard let statusLine = nextLine() else { return nil }
            let (minorVersion, status) = try parseStatusLine(statusLine)

            var headers = HTTPFields()
            headers.reserveCapacity(12)
            var contentLength: Int?
            var transferEncoding: Range<Int>?
            var connectionClose = false
            var connectionKeepAlive = false
            var bothLengthAndEncoding = false
            while true {
                guard let line = nextLine() else { return nil }
                if line.isEmpty { break }
                let first = bytes[line.lowerBound]
                if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                    throw Malformed(reason: "obsolete line folding in the response head")
                }
                guard let colon = bytes[line].firstIndex(of: UInt8(ascii: ":")) else {
                    throw Malformed(reason: "a header line without a colon")
                }
                let nameRange = line.lowerBound..<colon
                guard !nameRange.isEmpty, nameRange.allSatisfy({ Self.isTokenByte(bytes[$0]) }) else {
                    throw Malformed(reason: "an invalid header name")
                }
                var valueStart = colon + 1
                var valueEnd = line.upperBound
                while valueStart < valueEnd, Self.isWhitespace(bytes[valueStart]) { valueStart += 1 }
                while valueEnd > valueStart, Self.isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
                let valueRange = valueStart..<valueEnd
                for index in valueRange where bytes[index] == UInt8(ascii: "\r") || bytes[index] == 0 {
                    throw Malformed(reason: "a CR or NUL inside a header value")
                }
                let name = Self.fieldName(UnsafeRawBufferPointer(rebasing: bytes[nameRange]))
                switch name {
                case .contentLength:
                    let length = try parseContentLength(valueRange)
                    if let contentLength, contentLength != length {
                        throw Malformed(reason: "conflicting Content-Length values")
                    }
                    contentLength = length
                case .transferEncoding:
                    // Several fields are one list: the last coding of the last one decides.
                    transferEncoding = valueRange
                case .connection:
                    forEachToken(in: valueRange) { token in
                        if RawBytes.equalIgnoringCase(token, "close") { connectionClose = true }
                        if RawBytes.equalIgnoringCase(token, "keep-alive") { connectionKeepAlive = true }
                    }
                default:
                    break
                }
                headers.append(HTTPField(name: name, value: UnsafeRawBufferPointer(rebasing: bytes[valueRange])))
            }

            if (100..<200).contains(status) {
                if status == 101 { throw Malformed(reason: "an unrequested 101 Switching Protocols") }
                return (.interim, position)
            }
            var framing: Framing
            if headRequest || status == 204 || status == 304 {
                framing = .none
            } else if let transferEncoding {
                var last: UnsafeRawBufferPointer?
                forEachToken(in: transferEncoding) { last = $0 }
                framing = last.map { RawBytes.equalIgnoringCase($0, "chunked") } == true ? .chunked : .untilClose
                bothLengthAndEncoding = contentLength != nil
            } else if let contentLength {
                framing = .length(contentLength)
            } else {
                framing = .untilClose
            }
            var keepAlive = minorVersion >= 1 ? !connectionClose : connectionKeepAlive && !connectionClose
            if framing == .untilClose || bothLengthAndEncoding { keepAlive = false }
            return (.final(Head(status: status, headers: headers, keepAlive: keepAlive), framing), position)
        }

        /// `HTTP/1.x NNN reason`: the minor version and the status.
        private func parseStatusLine(_ line: Range<Int>) throws(Malformed) -> (Int, Int) {
            guard line.count >= 9, RawBytes.hasPrefix(UnsafeRawBufferPointer(rebasing: bytes[line]), "HTTP/1.") else {
                throw Malformed(reason: "not an HTTP/1.x response")
            }
            let minor = bytes[line.lowerBound + 7]
            guard minor >= UInt8(ascii: "0"), minor <= UInt8(ascii: "9"), bytes[line.lowerBound + 8] == UInt8(ascii: " ")
            else { throw Malformed(reason: "not an HTTP/1.x response") }
            guard line.count >= 12 else { throw Malformed(reason: "a malformed status code") }
            var status = 0
            for offset in 9..<12 {
                let digit = bytes[line.lowerBound + offset]
                guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else {
                    throw Malformed(reason: "a malformed status code")
                }
                status = status * 10 + Int(digit - UInt8(ascii: "0"))
            }
            guard status >= 100, line.count == 12 || bytes[line.lowerBound + 12] == UInt8(ascii: " ") else {
                throw Malformed(reason: "a malformed status code")
            }
            return (Int(minor - UInt8(ascii: "0")), status)
        }

        /// A `Content-Length` value: digits, or a list of the same digits repeated.
        private func parseContentLength(_ range: Range<Int>) throws(Malformed) -> Int {
            var value: Int?
            var failure: Malformed?
            forEachToken(in: range) { token in
                guard failure == nil else { return }
                var length = 0
                guard !token.isEmpty else { failure = Malformed(reason: "an empty Content-Length"); return }
                for byte in token {
                    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                        failure = Malformed(reason: "a non-numeric Content-Length")
                        return
                    }
                    guard length <= (Int.max - 9) / 10 else {
                        failure = Malformed(reason: "a Content-Length too large")
                        return
                    }
                    length = length * 10 + Int(byte - UInt8(ascii: "0"))
                }
                if let value, value != length { failure = Malformed(reason: "conflicting Content-Length values") }
                value = length
            }
            if let failure { throw failure }
            guard let value else { throw Malformed(reason: "an empty Content-Length") }
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
                while tokenStart < tokenEnd, Self.isWhitespace(bytes[tokenStart]) { tokenStart += 1 }
                while tokenEnd > tokenStart, Self.isWhitespace(bytes[tokenEnd - 1]) { tokenEnd -= 1 }
                if tokenStart < tokenEnd || range.isEmpty {
                    body(UnsafeRawBufferPointer(rebasing: bytes[tokenStart..<tokenEnd]))
                }
                start = end + 1
            }
        }

        static func isWhitespace(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
        }

        /// RFC 9110 `tchar`.
        static func isTokenByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                return true
            default:
                return false
            }
        }

        /// The field name for a valid token: the common ones without the lower-casing
        /// parse and its string (every upstream response has several of them).
        static func fieldName(_ token: UnsafeRawBufferPointer) -> HTTPField.Name {
            for (spelling, name) in Self.commonNames where RawBytes.equalIgnoringCase(token, spelling) {
                return name
            }
            // A token is a valid field name.
            return HTTPField.Name(String(decoding: token, as: UTF8.self))!
        }

        static let commonNames: [(StaticString, HTTPField.Name)] = [
            ("content-type", .contentType), ("content-length", .contentLength), ("date", .date),
            ("server", .server), ("connection", .connection), ("transfer-encoding", .transferEncoding),
            ("x-request-id", .xRequestID), ("cache-control", .cacheControl), ("vary", .vary),
            ("etag", .eTag), ("last-modified", .lastModified), ("accept-ranges", .acceptRanges),
            ("retry-after", .retryAfter), ("keep-alive", HTTPField.Name("keep-alive")!),
        ]
    }
}
