import HTTPTypes
import NIOCore
import OrchestratorCore

/// The upstream side's HTTP/1.x response parser: turns the bytes of a connection into a
/// response head, body slices and an end, one response per request the connection sent.
///
/// Written for the one thing the gateway's client needs, not as a general parser: it
/// reads responses to requests it made itself (HTTP/1.1, no `Expect`, no upgrade). It
/// keeps the head's field lines as bytes (see `HTTP1RawFields`), and body slices share
/// the storage of the read they came in.
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
        /// The header fields as they came, checked; built into `HTTPFields` on demand.
        var rawHeaders: HTTP1RawFields
        var headers: HTTPFields { rawHeaders.fields }
        /// Whether the connection may carry another request after this response's end.
        var keepAlive: Bool
    }

    enum Event {
        case head(Head)
        case body(ByteBuffer)
        case end
    }

    typealias Malformed = HTTP1Malformed

    /// The most a response head may take, status line to blank line.
    static let maxHeadBytes = 64 * 1024
    private static let limits = HTTP1HeadLimits(maxHeadBytes: maxHeadBytes)

    private enum State {
        /// No response expected: any byte is the upstream's mistake.
        case idle
        case head
        case body(HTTP1BodyReader)
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
        if case .body(let reader) = state { return reader.endsAtClose }
        return false
    }

    /// The next event from `buffer`, consuming what it used; nil when more bytes are
    /// needed (what is left in `buffer` must be given again, ahead of the next read).
    mutating func next(_ buffer: inout ByteBuffer) throws(Malformed) -> Event? {
        while true {
            switch state {
            case .idle:
                if buffer.readableBytes > 0 { throw Malformed(.unexpected, "bytes arrived while no response was expected") }
                return nil
            case .head:
                let parsed = try Self.parseHead(buffer, headRequest: headRequest)
                guard let (head, length) = parsed, length <= Self.maxHeadBytes else {
                    if parsed != nil || buffer.readableBytes > Self.maxHeadBytes {
                        throw Malformed(.tooLarge, "response head larger than \(Self.maxHeadBytes) bytes")
                    }
                    return nil
                }
                buffer.moveReaderIndex(forwardBy: length)
                switch head {
                case .interim:
                    continue
                case .final(let head, let framing):
                    state = .body(HTTP1BodyReader(framing: framing))
                    return .head(head)
                }
            case .body(var reader):
                state = .idle  // no copy of the reader's state while it is advanced
                let event = try reader.next(&buffer)
                state = reader.isDone ? .idle : .body(reader)
                switch event {
                case .body(let bytes)?: return .body(bytes)
                case .end?: return .end
                case nil: return nil
                }
            }
        }
    }

    // MARK: Heads

    private enum ParsedHead {
        /// A 1xx other than 101: skipped.
        case interim
        case final(Head, HTTP1BodyReader.Framing)
    }

    /// The head at the start of `buffer` and its length, or nil when it is not complete.
    private static func parseHead(_ buffer: ByteBuffer, headRequest: Bool) throws(Malformed) -> (ParsedHead, Int)? {
        let parsed = buffer.withUnsafeReadableBytes { bytes -> Result<(ParsedHead, Int)?, Malformed> in
            var reader = HTTP1HeadReader(bytes: bytes)
            return Result { () throws(Malformed) in try read(&reader, headRequest: headRequest) }
        }
        return try parsed.get()
    }

    private static func read(_ reader: inout HTTP1HeadReader, headRequest: Bool) throws(Malformed) -> (ParsedHead, Int)? {
        // Lines are read as they come; a head cut short is read again with more bytes.
        guard let statusLine = reader.nextLine() else { return nil }
        let (minorVersion, status) = try parseStatusLine(reader.slice(statusLine))
        guard let (section, rawHeaders) = try reader.readRawFields(limits: limits) else { return nil }
        if (100..<200).contains(status) {
            if status == 101 { throw Malformed(.unexpected, "an unrequested 101 Switching Protocols") }
            return (.interim, reader.position)
        }
        var framing: HTTP1BodyReader.Framing
        var bothLengthAndEncoding = false
        if headRequest || status == 204 || status == 304 {
            framing = .none
        } else if section.transferEncoding != .none {
            framing = section.transferEncoding == .chunked ? .chunked : .untilClose
            bothLengthAndEncoding = section.contentLength != nil
        } else if let contentLength = section.contentLength {
            framing = .length(contentLength)
        } else {
            framing = .untilClose
        }
        var keepAlive = minorVersion >= 1 ? !section.connectionClose : section.connectionKeepAlive && !section.connectionClose
        if framing == .untilClose || bothLengthAndEncoding { keepAlive = false }
        return (.final(Head(status: status, rawHeaders: rawHeaders, keepAlive: keepAlive), framing), reader.position)
    }

    /// `HTTP/1.x NNN reason`: the minor version and the status.
    private static func parseStatusLine(_ line: UnsafeRawBufferPointer) throws(Malformed) -> (Int, Int) {
        guard line.count >= 9, RawBytes.hasPrefix(line, "HTTP/1.") else {
            throw Malformed(.version, "not an HTTP/1.x response")
        }
        let minor = line[7]
        guard minor >= UInt8(ascii: "0"), minor <= UInt8(ascii: "9"), line[8] == UInt8(ascii: " ") else {
            throw Malformed(.version, "not an HTTP/1.x response")
        }
        guard line.count >= 12, let status = HTTP1Syntax.decimal(UnsafeRawBufferPointer(rebasing: line[9..<12])),
            status >= 100, line.count == 12 || line[12] == UInt8(ascii: " ")
        else { throw Malformed(.startLine, "a malformed status code") }
        return (Int(minor - UInt8(ascii: "0")), status)
    }
}
