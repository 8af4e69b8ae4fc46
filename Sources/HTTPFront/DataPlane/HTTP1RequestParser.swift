import HTTPTypes
import NIOCore
import NIOHTTPTypes
import OrchestratorCore

/// The client side's HTTP/1.x request parser: turns the bytes of a connection into
/// request heads (``RequestHead``: the field lines kept as bytes), body slices that
/// share the storage of the read they came in, and ends, one request after another.
///
/// - Request line: `method SP request-target SP HTTP/1.x`; the method must be a token,
///   the target visible ASCII. Empty lines before it are skipped (RFC 9112 §2.2). An
///   absolute-form target (`http://host/path?q`) becomes its path and query.
/// - Fields: as ``HTTP1HeadReader`` reads them; the first `Host` becomes the request's
///   authority. Beyond ``HTTP1ServerCodec/limits`` the head is refused as too large.
/// - Framing (RFC 9112 §6.3): a `Transfer-Encoding` must end in `chunked`, and must not
///   come with a `Content-Length` or in an HTTP/1.0 request (request smuggling); then
///   `Content-Length`; otherwise no body.
/// - Persistence: an HTTP/1.1 request keeps the connection unless it says `close`; an
///   HTTP/1.0 one only with `keep-alive`. A request that ends its connection carries
///   `Connection: close` onwards, so both paths behind close after its response.
struct HTTP1RequestParser {
    /// What the response to a request needs to know about it.
    struct Exchange: Equatable {
        /// A `HEAD`: the response carries no body (its fields say what a GET's would).
        var isHead = false
        /// A `CONNECT`: the response carries neither a body nor framing fields.
        var isConnect = false
        /// An HTTP/1.0 request: the response cannot be chunked.
        var http10 = false
        /// An HTTP/1.0 request that asked to keep the connection.
        var keepAlive10 = false
        /// An HTTP/1.1 request with a body and `Expect: 100-continue`: the client waits
        /// for a `100 Continue` before it sends the body.
        var expectsContinue = false
    }

    enum Event {
        case head(RequestHead, Exchange)
        case body(ByteBuffer)
        case end
    }

    private enum State {
        case head
        case body(HTTP1BodyReader)
    }

    private var state = State.head
    /// How many bytes of an incomplete head were read (or searched for its end) already;
    /// 0 while no head is under way.
    private var scanned = 0
    let limits: HTTP1HeadLimits

    init(limits: HTTP1HeadLimits) {
        self.limits = limits
    }

    /// Whether the parser is between requests (nothing of one has been read).
    var isBetweenRequests: Bool {
        if case .head = state { return true }
        return false
    }

    /// The next event from `buffer`, consuming what it used; nil when more bytes are
    /// needed (what is left in `buffer` must be given again, ahead of the next read).
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1Malformed) -> Event? {
        switch state {
        case .head:
            Self.skipEmptyLines(&buffer)
            guard buffer.readableBytes > 0 else { return nil }
            // A head that arrives whole (nearly always) is parsed in one pass. One that
            // does not is parsed again only once its end has arrived: a client sending
            // it a byte at a time costs a scan of each new byte, not a parse per read.
            var complete: Int?
            if scanned > 0 {
                guard let length = Self.headLength(buffer, scannedBefore: scanned) else {
                    scanned = buffer.readableBytes
                    try checkHeadSize(scanned)
                    return nil
                }
                complete = length
            }
            let limits = self.limits
            let parsed = buffer.withUnsafeReadableBytes { bytes -> Result<(RequestHead, Exchange, HTTP1BodyReader.Framing, Int)?, HTTP1Malformed> in
                var reader = HTTP1HeadReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<(complete ?? bytes.count)]))
                return Result { () throws(HTTP1Malformed) in try Self.readHead(&reader, limits: limits) }
            }
            guard let (head, exchange, framing, length) = try parsed.get() else {
                guard complete == nil else { throw HTTP1Malformed(.startLine, "a malformed request head") }
                scanned = buffer.readableBytes
                try checkHeadSize(scanned)
                return nil
            }
            try checkHeadSize(length)
            scanned = 0
            buffer.moveReaderIndex(forwardBy: length)
            state = .body(HTTP1BodyReader(framing: framing))
            return .head(head, exchange)
        case .body(var reader):
            state = .head  // no copy of the reader's state while it is advanced
            let event = try reader.next(&buffer)
            if !reader.isDone { state = .body(reader) }
            switch event {
            case .body(let bytes)?: return .body(bytes)
            case .end?: return .end
            case nil: return nil
            }
        }
    }

    private func checkHeadSize(_ bytes: Int) throws(HTTP1Malformed) {
        guard bytes <= limits.maxHeadBytes else {
            throw HTTP1Malformed(.tooLarge, "request head larger than \(limits.maxHeadBytes) bytes")
        }
    }

    private static func skipEmptyLines(_ buffer: inout ByteBuffer) {
        while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
        {
            buffer.moveReaderIndex(forwardBy: 1)
        }
    }

    /// The length of the head at the start of `buffer` through its blank line, or nil
    /// when that has not arrived; the first `scannedBefore` bytes held no end already.
    private static func headLength(_ buffer: ByteBuffer, scannedBefore: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            var index = max(0, scannedBefore - 2)
            while let newline = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) {
                var next = newline + 1
                if next < bytes.count, bytes[next] == UInt8(ascii: "\r") { next += 1 }
                guard next < bytes.count else { return nil }
                if bytes[next] == UInt8(ascii: "\n") { return next + 1 }
                index = newline + 1
            }
            return nil
        }
    }

    private static func readHead(
        _ reader: inout HTTP1HeadReader, limits: HTTP1HeadLimits
    ) throws(HTTP1Malformed) -> (RequestHead, Exchange, HTTP1BodyReader.Framing, Int)? {
        guard let line = reader.nextLine() else { return nil }
        let (method, target, minorVersion) = try parseRequestLine(reader.slice(line))
        guard let (section, fields) = try reader.readRawFields(limits: limits, takeHost: true) else { return nil }

        let http10 = minorVersion == 0
        var framing = HTTP1BodyReader.Framing.none
        switch section.transferEncoding {
        case .none:
            if let length = section.contentLength { framing = .length(length) }
        case .chunked where !http10 && section.contentLength == nil:
            framing = .chunked
        case .chunked, .other:
            throw HTTP1Malformed(
                .transferEncoding,
                http10 ? "Transfer-Encoding in an HTTP/1.0 request"
                    : section.contentLength != nil ? "both Transfer-Encoding and Content-Length" : "a Transfer-Encoding that does not end in chunked")
        }
        let keepAlive = http10 ? section.connectionKeepAlive && !section.connectionClose : !section.connectionClose
        // RFC 9110 §10.1.1: an HTTP/1.0 client's expectation is ignored, and a request
        // without a body needs no 100.
        let hasBody = framing != .none && framing != .length(0)
        let expectsContinue = !http10 && hasBody && fields[.expect]?.lowercased() == "100-continue"
        let exchange = Exchange(
            isHead: method == .head, isConnect: method == .connect, http10: http10, keepAlive10: http10 && keepAlive,
            expectsContinue: expectsContinue)
        let head = RequestHead(method: method, path: target, authority: section.host, fields: fields, closes: !keepAlive)
        return (head, exchange, framing, reader.position)
    }

    /// `METHOD SP target SP HTTP/1.x`.
    private static func parseRequestLine(_ line: UnsafeRawBufferPointer) throws(HTTP1Malformed) -> (HTTPRequest.Method, String, Int) {
        guard let firstSpace = line.firstIndex(of: UInt8(ascii: " ")), firstSpace > 0 else {
            throw HTTP1Malformed(.startLine, "a malformed request line")
        }
        let methodBytes = UnsafeRawBufferPointer(rebasing: line[..<firstSpace])
        guard HTTP1Syntax.isToken(methodBytes) else { throw HTTP1Malformed(.method, "an invalid method") }
        guard let secondSpace = line[(firstSpace + 1)...].firstIndex(of: UInt8(ascii: " ")), secondSpace > firstSpace + 1 else {
            throw HTTP1Malformed(.startLine, "a malformed request line")
        }
        let version = UnsafeRawBufferPointer(rebasing: line[(secondSpace + 1)...])
        guard version.count == 8, RawBytes.hasPrefix(version, "HTTP/1."), version[7] >= UInt8(ascii: "0"), version[7] <= UInt8(ascii: "9")
        else { throw HTTP1Malformed(.version, "not an HTTP/1.x request") }
        let targetBytes = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)..<secondSpace])
        // Visible ASCII only: no controls, no spaces, nothing above 0x7E.
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw HTTP1Malformed(.target, "an invalid request target") }
        return (method(methodBytes), path(of: targetBytes), Int(version[7] - UInt8(ascii: "0")))
    }

    /// The method for a valid token, the common ones without their string's validation.
    private static func method(_ token: UnsafeRawBufferPointer) -> HTTPRequest.Method {
        switch token.count {
        case 3 where RawBytes.hasPrefix(token, "GET"): return .get
        case 3 where RawBytes.hasPrefix(token, "PUT"): return .put
        case 4 where RawBytes.hasPrefix(token, "POST"): return .post
        case 4 where RawBytes.hasPrefix(token, "HEAD"): return .head
        case 5 where RawBytes.hasPrefix(token, "PATCH"): return .patch
        case 6 where RawBytes.hasPrefix(token, "DELETE"): return .delete
        case 7 where RawBytes.hasPrefix(token, "OPTIONS"): return .options
        case 7 where RawBytes.hasPrefix(token, "CONNECT"): return .connect
        default:
            // A token is a valid method.
            return HTTPRequest.Method(String(decoding: token, as: UTF8.self))!
        }
    }

    /// The request's path and query: an origin-form target as it is; an absolute-form one
    /// (`scheme://authority/path?query`) without its scheme and authority.
    private static func path(of target: UnsafeRawBufferPointer) -> String {
        guard target.first != UInt8(ascii: "/"), let schemeEnd = schemeEnd(target) else {
            return String(decoding: target, as: UTF8.self)
        }
        let afterAuthority = target[schemeEnd...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }
        guard let afterAuthority, target[afterAuthority] != UInt8(ascii: "#") else { return "/" }
        let rest = UnsafeRawBufferPointer(rebasing: target[afterAuthority...])
        let pathAndQuery = rest.firstIndex(of: UInt8(ascii: "#")).map { UnsafeRawBufferPointer(rebasing: rest[..<$0]) } ?? rest
        let text = String(decoding: pathAndQuery, as: UTF8.self)
        return pathAndQuery.first == UInt8(ascii: "?") ? "/" + text : text
    }

    /// Where the authority of `scheme://…` starts, when the target is in that form.
    private static func schemeEnd(_ target: UnsafeRawBufferPointer) -> Int? {
        guard let colon = target.firstIndex(of: UInt8(ascii: ":")), colon > 0,
            target[..<colon].allSatisfy({ isSchemeByte($0) }), target.count >= colon + 3,
            target[colon + 1] == UInt8(ascii: "/"), target[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        return colon + 3
    }

    private static func isSchemeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }
}

/// A request head as the parser read it, its field lines kept as the bytes they came
/// in (checked): the data plane reads the few it needs by name, and only a request
/// that Hummingbird serves gets its fields built, in ``request``. Building them cost a
/// string and a validated `HTTPField` per line, and `HTTPRequest` its pseudo-fields,
/// about 6,000 instructions for a small chat request.
struct RequestHead: Sendable {
    var method: HTTPRequest.Method
    /// The path and query.
    let path: String
    /// Where the query (`?`) starts in `path`, if it has one: found once, for the route
    /// and the access log alike.
    let queryStart: String.Index?
    /// The first `Host` value.
    var authority: String?
    /// Every field line, the `Host` one included (``request`` leaves it out).
    var fields: HTTP1RawFields
    /// The connection ends after the response: an HTTP/1.1 request that says `close`,
    /// an HTTP/1.0 one that does not ask for `keep-alive`.
    var closes: Bool

    init(method: HTTPRequest.Method, path: String, authority: String?, fields: HTTP1RawFields, closes: Bool) {
        self.method = method
        self.path = path
        self.queryStart = Self.queryStart(in: path)
        self.authority = authority
        self.fields = fields
        self.closes = closes
    }

    /// The head as `HTTPRequest`. A request that ends its connection says exactly
    /// `Connection: close` there (Hummingbird compares it so): `Close`, `close, TE` or
    /// an HTTP/1.0 default say the same, and are passed on that way.
    var request: HTTPRequest {
        var headerFields = fields.fields(takingHost: true)
        if closes, headerFields[.connection] != "close" { headerFields[.connection] = "close" }
        return HTTPRequest(method: method, scheme: "http", authority: authority, path: path, headerFields: headerFields)
    }

    /// The path without its query.
    var pathWithoutQuery: Substring {
        queryStart.map { path[..<$0] } ?? path[...]
    }

    /// Where the query (`?`) starts in a request target, if it has one. Over the UTF-8
    /// bytes in place: a search by `Character` segments graphemes, and the generic search
    /// over the `UTF8View` steps its index about fifty instructions a byte.
    static func queryStart(in target: String) -> String.Index? {
        let utf8 = target.utf8
        guard let found = utf8.withContiguousStorageIfAvailable({ $0.firstIndex(of: UInt8(ascii: "?")) }) else {
            return utf8.firstIndex(of: UInt8(ascii: "?"))
        }
        return found.map { utf8.index(utf8.startIndex, offsetBy: $0) }
    }
}

/// What the codec passes on for each request: its head, body slices, its end; or, for
/// a request that arrived in one read (nearly all), the whole of it in one part: one
/// pass through the pipeline instead of three, each of which boxed its part and cast it
/// back.
enum RequestPart: Sendable {
    case head(RequestHead)
    case body(ByteBuffer)
    case end
    /// A head, its body (nil when it has none) and its end.
    case whole(RequestHead, ByteBuffer?)

    /// The part as the parts Hummingbird takes, in order.
    func forEachHTTPPart(_ body: (HTTPRequestPart) -> Void) {
        switch self {
        case .head(let head): body(.head(head.request))
        case .body(let bytes): body(.body(bytes))
        case .end: body(.end(nil))
        case .whole(let head, let bytes):
            body(.head(head.request))
            if let bytes { body(.body(bytes)) }
            body(.end(nil))
        }
    }
}
