import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import OrchestratorCore

/// The gateway's server side of HTTP/1.x, in one handler: request bytes in,
/// ``RequestPart``s out (see ``HTTP1RequestParser``); ``ResponsePart``s in,
/// response bytes out. It takes the place of NIO's request decoder and response encoder
/// and of the `HTTPRequestHead` ⇄ `HTTPRequest` conversion between them, which cost a
/// string per header name and value, two header copies and a URL parse per request.
///
/// Responses (always `HTTP/1.1`, RFC 9110 §2.5) are framed for the request they answer,
/// in request order:
/// - 1xx, 204 and 304 carry no body: their `Content-Length` and `Transfer-Encoding`
///   are dropped. A response to `HEAD` or `CONNECT` keeps its framing fields, and its
///   body bytes are not sent.
/// - Otherwise a `Content-Length` frames the body; without one, the body is chunked
///   (any `Transfer-Encoding` given is replaced), except for an HTTP/1.0 client, which
///   gets the body unframed, `Connection: close`, and the close after it.
/// - An HTTP/1.0 client that asked for keep-alive, and keeps it, is told so.
/// - An HTTP/1.1 request with a body and `Expect: 100-continue` gets its `100 Continue`
///   as soon as its head is read, or, behind a response still going out, right after
///   that response's end (curl waits a second for it before sending a large body).
///
/// Malformed requests reach the handlers behind as NIO's `HTTPParserError` (Hummingbird
/// answers those 400; the data plane answers too many or too large fields 431), and
/// nothing more is read from the connection. A request cut short by the end of input
/// is `invalidEOFState`.
///
/// It also keeps the connection's state, as Hummingbird's `HTTPConnectionStateHandler`
/// would behind it (one handler fewer for every part of every request, and two clock
/// reads per request instead of five):
/// - **Idle timeout.** A connection closes once nothing has been read for the idle
///   timeout, unless a request is being answered (then the time counts from the end of
///   its response). A connection with no request yet counts from when it opened.
/// - **Graceful shutdown.** On `ChannelShouldQuiesceEvent` an idle connection closes at
///   once; one with requests underway closes after the end of the last response.
/// Like that handler, it passes neither event on, nor `channelInactive`: the async
/// channel behind learns of the close when its handler is removed.
final class HTTP1ServerCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = RequestPart
    typealias OutboundIn = ResponsePart
    typealias OutboundOut = ByteBuffer

    /// Real clients send a dozen fields and a few KiB.
    static let limits = HTTP1HeadLimits(maxHeadBytes: 48 * 1024, maxFields: 128, maxFieldBytes: 16 * 1024)

    private var parser: HTTP1RequestParser
    /// Bytes of a message part that has not arrived whole.
    private var unparsed = HTTP1Unparsed()
    /// A malformed request was reported: the rest of the input is ignored.
    private var failed = false
    /// The requests whose responses have not started, oldest first.
    private var awaiting = CircularBuffer<HTTP1RequestParser.Exchange>(initialCapacity: 4)
    /// How the response being written is framed.
    private var framing = ResponseFraming.identity
    private var suppressBody = false
    private var closeAfterResponse = false
    /// A final response's head went out and its end has not.
    private var responding = false

    /// How long a connection may sit without input while no request is answered; nil:
    /// forever.
    private let idleTimeout: TimeAmount?
    /// When input last arrived, or a response last ended.
    private var lastActive = NIODeadline.uptimeNanoseconds(0)
    private var idleTimer: Scheduled<Void>?
    /// Graceful shutdown asked this connection to close once its requests are answered.
    private var quiescing = false

    /// Requests read whose responses have not ended.
    private var requestsInProgress: Int { awaiting.count + (responding ? 1 : 0) }

    /// The data plane right behind, paired with this codec (see ``pair(_:with:)``): it
    /// gets request parts by a direct call, and writes response parts by one. Nil: parts
    /// go through the pipeline.
    fileprivate(set) var dataPlane: DataPlaneHandler?
    private var context: ChannelHandlerContext?

    private enum ResponseFraming {
        case identity
        case chunked
    }

    private static let chunkedEnd: ByteBuffer = ByteBuffer(staticString: "0\r\n\r\n")
    private static let continueHead: ByteBuffer = ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")
    private static let lineEnd: ByteBuffer = ByteBuffer(staticString: "\r\n")
    /// Chunks up to this size are copied into one buffer with their framing (one iovec
    /// instead of three); larger ones are written between their framing.
    private static let copyChunkLimit = 4 * 1024

    init(limits: HTTP1HeadLimits = HTTP1ServerCodec.limits, idleTimeout: TimeAmount? = nil) {
        parser = HTTP1RequestParser(limits: limits)
        self.idleTimeout = idleTimeout
    }

    // MARK: Connection state

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startIdleCount(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startIdleCount(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        idleTimer = nil
        unpair()
        self.context = nil
    }

    // MARK: Pairing with the data plane

    /// Pairs `codec` with the data plane added right behind it in the pipeline: request
    /// parts go to the data plane, and its response parts to the codec, by direct calls
    /// rather than through the pipeline, where each part was boxed into an `NIOAny` (a
    /// heap box: the parts are larger than its inline room) and cast back out by the
    /// runtime's dynamic cast, about 2,000 instructions of every request. The two are
    /// next to each other, so the order of events is the pipeline's. Undone when either
    /// leaves the pipeline.
    static func pair(_ codec: HTTP1ServerCodec, with dataPlane: DataPlaneHandler) {
        codec.dataPlane = dataPlane
        dataPlane.codec = codec
    }

    /// Ends the pairing (the two referred to each other).
    func unpair() {
        dataPlane?.codec = nil
        dataPlane = nil
    }

    /// Passes a request part on: to the paired data plane, else down the pipeline.
    private func emit(_ part: RequestPart, context: ChannelHandlerContext) {
        if let dataPlane {
            dataPlane.read(part)
        } else {
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    /// The connection counts as idle from now: at connect, and when the last response
    /// ends.
    private func startIdleCount(context: ChannelHandlerContext) {
        guard let idleTimeout else { return }
        lastActive = context.eventLoop.now
        armIdleTimer(at: lastActive + idleTimeout, context: context)
    }

    /// Arms the idle timer unless it is armed already (it re-arms itself when it fires
    /// early).
    private func armIdleTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        guard idleTimer == nil else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (codec, context) = bound.value
            codec.idleTimerFired(context: context)
        }
    }

    private func idleTimerFired(context: ChannelHandlerContext) {
        idleTimer = nil
        guard let idleTimeout, context.channel.isActive else { return }
        // A request read whole and being answered: the timer is armed again when the
        // last response ends.
        if parser.isBetweenRequests, requestsInProgress > 0 { return }
        let deadline = lastActive + idleTimeout
        if context.eventLoop.now >= deadline {
            context.close(promise: nil)
        } else {
            armIdleTimer(at: deadline, context: context)
        }
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        if idleTimeout != nil { lastActive = context.eventLoop.now }
        var bytes = unparsed.joined(with: unwrapInboundIn(data))
        // A head, and the one body part after it, held back while this read may still
        // hold the request's end: then the request goes on whole, in one part.
        var heldHead: RequestHead?
        var heldBody: ByteBuffer?
        func passHeld() {
            guard let head = heldHead.take() else { return }
            emit(.head(head), context: context)
            if let body = heldBody.take() { emit(.body(body), context: context) }
        }
        do {
            while let event = try parser.next(&bytes) {
                switch event {
                case .head(let head, var exchange):
                    // A client waiting with `Expect: 100-continue` is told to send its
                    // body now when nothing is answered ahead of its request; otherwise
                    // once the responses ahead of it have ended (a 100 in the middle of
                    // another response would corrupt it). Its `expectsContinue` stays
                    // set while the 100 is owed.
                    if exchange.expectsContinue, !responding, awaiting.isEmpty {
                        exchange.expectsContinue = false
                        context.writeAndFlush(wrapOutboundOut(Self.continueHead), promise: nil)
                    }
                    awaiting.append(exchange)
                    heldHead = head
                    continue
                case .body(let body):
                    if heldHead != nil, heldBody == nil {
                        heldBody = body
                        continue
                    }
                    passHeld()
                    emit(.body(body), context: context)
                case .end:
                    if let head = heldHead.take() {
                        emit(.whole(head, heldBody.take()), context: context)
                    } else {
                        emit(.end, context: context)
                    }
                }
                // A handler behind may have closed the connection on what it was given.
                if failed || !context.channel.isActive { return }
            }
            passHeld()
        } catch {
            passHeld()
            if failed || !context.channel.isActive { return }
            fail(Self.parserError(error), context: context)
            return
        }
        if failed || !context.channel.isActive { return }
        unparsed.keep(bytes)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            if requestsInProgress == 0 {
                context.close(promise: nil)
            } else {
                quiescing = true
            }
            return
        }
        if case ChannelEvent.inputClosed = event { endOfInput(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        endOfInput(context: context)
    }

    /// The client sent all it will: a request it left unfinished is an error.
    private func endOfInput(context: ChannelHandlerContext) {
        guard !failed else { return }
        if !parser.isBetweenRequests || !unparsed.isEmpty {
            fail(.invalidEOFState, context: context)
        }
        unparsed.clear()
    }

    private func fail(_ error: HTTPParserError, context: ChannelHandlerContext) {
        failed = true
        unparsed.clear()
        context.fireErrorCaught(error)
    }

    /// NIO's error for what the parser found (the handlers behind know those).
    static func parserError(_ error: HTTP1Malformed) -> HTTPParserError {
        switch error.kind {
        case .tooLarge: return .headerOverflow
        case .startLine, .target: return .invalidURL
        case .version: return .invalidVersion
        case .method: return .invalidMethod
        case .field: return .invalidHeaderToken
        case .contentLength: return .unexpectedContentLength
        case .transferEncoding: return .unexpectedContentLength
        case .chunk: return .invalidChunkSize
        case .unexpected: return .invalidEOFState
        }
    }

    // MARK: Responses

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        write(unwrapOutboundIn(data), context: context, promise: promise)
    }

    /// Writes a response part of the paired data plane (see ``pair(_:with:)``).
    func writePart(_ part: ResponsePart, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        write(part, context: context, promise: promise)
    }

    private func write(_ part: ResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(let head, let gateway):
            writeHead(head, gateway, context: context, promise: promise)
        case .body(let bytes):
            writeBody(bytes, context: context, promise: promise)
        case .end(let trailers):
            writeEnd(trailers, context: context, promise: promise)
        case .last(let bytes):
            writeLast(bytes, context: context, promise: promise)
        case .headAndBody(let head, let bytes, let gateway):
            writeHead(head, gateway, context: context, promise: nil)
            writeBody(bytes, context: context, promise: promise)
        case .whole(let head, let bytes, let gateway):
            writeHead(head, gateway, context: context, promise: nil)
            // Without chunks the end writes nothing: the promise rides on the body's
            // bytes rather than on an empty write behind them.
            let endWritesNothing: Bool
            if case .identity = framing { endWritesNothing = true } else { endWritesNothing = false }
            writeBody(bytes, context: context, promise: endWritesNothing ? promise : nil)
            writeEnd(nil, context: context, promise: endWritesNothing ? nil : promise)
        }
    }

    private func writeHead(
        _ head: HTTPResponse, _ gateway: GatewayFields, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?
    ) {
        context.write(wrapOutboundOut(encode(head, gateway, allocator: context.channel.allocator)), promise: promise)
    }

    private func writeBody(_ bytes: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard !suppressBody, bytes.readableBytes > 0 else {
            // Nothing to send, but a promise completes in order with the writes ahead.
            if let promise { context.write(wrapOutboundOut(ByteBuffer()), promise: promise) }
            return
        }
        switch framing {
        case .identity:
            context.write(wrapOutboundOut(bytes), promise: promise)
        case .chunked where bytes.readableBytes <= Self.copyChunkLimit:
            context.write(wrapOutboundOut(Self.copiedChunk(bytes, room: 0, allocator: context.channel.allocator)), promise: promise)
        case .chunked:
            var size = context.channel.allocator.buffer(capacity: 10)
            Self.writeChunkSize(bytes.readableBytes, to: &size)
            context.write(wrapOutboundOut(size), promise: nil)
            context.write(wrapOutboundOut(bytes), promise: nil)
            context.write(wrapOutboundOut(Self.lineEnd), promise: promise)
        }
    }

    /// A last body part and the end: a small last chunk and the chunked end go out as
    /// one buffer (a stream's closing event and its end).
    private func writeLast(_ bytes: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard case .chunked = framing, !suppressBody, bytes.readableBytes > 0, bytes.readableBytes <= Self.copyChunkLimit
        else {
            writeBody(bytes, context: context, promise: nil)
            writeEnd(nil, context: context, promise: promise)
            return
        }
        var chunk = Self.copiedChunk(bytes, room: Self.chunkedEnd.readableBytes, allocator: context.channel.allocator)
        chunk.writeImmutableBuffer(Self.chunkedEnd)
        context.write(wrapOutboundOut(chunk), promise: promise)
        responseEnded(context: context)
    }

    /// `bytes` framed as one chunk in a buffer of their own, with `room` to spare after
    /// it (small chunks are copied rather than written as three parts).
    private static func copiedChunk(_ bytes: ByteBuffer, room: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var chunk = allocator.buffer(capacity: bytes.readableBytes + 12 + room)
        writeChunkSize(bytes.readableBytes, to: &chunk)
        chunk.writeImmutableBuffer(bytes)
        chunk.writeStaticString("\r\n")
        return chunk
    }

    private func writeEnd(_ trailers: HTTPFields?, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if case .chunked = framing {
            if let trailers, !trailers.isEmpty {
                var end = context.channel.allocator.buffer(capacity: 64)
                end.writeStaticString("0\r\n")
                end.writeFields(trailers)
                end.writeStaticString("\r\n")
                context.write(wrapOutboundOut(end), promise: promise)
            } else {
                context.write(wrapOutboundOut(Self.chunkedEnd), promise: promise)
            }
        } else if let promise {
            context.write(wrapOutboundOut(ByteBuffer()), promise: promise)
        }
        responseEnded(context: context)
    }

    /// The response's end has been written: the connection goes on, or closes.
    private func responseEnded(context: ChannelHandlerContext) {
        let close = closeAfterResponse
        framing = .identity
        suppressBody = false
        closeAfterResponse = false
        responding = false
        if close || (quiescing && requestsInProgress == 0) {
            // The body was delimited by the close, or the server is shutting down.
            context.flush()
            context.close(promise: nil)
            return
        }
        if requestsInProgress == 0 { startIdleCount(context: context) }
        if awaiting.first?.expectsContinue == true {
            awaiting[awaiting.startIndex].expectsContinue = false
            context.write(wrapOutboundOut(Self.continueHead), promise: nil)
        }
    }

    /// The head's bytes, with its framing fields set for the request it answers.
    private func encode(_ head: HTTPResponse, _ gateway: GatewayFields, allocator: ByteBufferAllocator) -> ByteBuffer {
        // Read once: the getter parses the status pseudo-field each time.
        let status = head.status
        let code = status.code
        let informational = (100..<200).contains(code)
        var exchange = HTTP1RequestParser.Exchange()
        // A 1xx other than 101 is followed by the final response to the same request.
        if !informational || code == 101, let next = awaiting.popFirst() { exchange = next }
        // No body and no framing fields: 1xx, 204, 304, and the answer to a CONNECT.
        let bodiless = informational || code == 204 || code == 304 || exchange.isConnect
        let hasLength = !bodiless && (gateway.contentLength != nil || head.headerFields.contains(.contentLength))
        let hasConnection = gateway.close || head.headerFields.contains(.connection)
        suppressBody = bodiless || exchange.isHead
        framing = .identity
        closeAfterResponse = false
        responding = !informational
        var extra: StaticString?
        if !bodiless, !hasLength, !exchange.http10 {
            // A HEAD response says what the GET would have had.
            extra = "transfer-encoding: chunked\r\n"
            if !exchange.isHead { framing = .chunked }
        } else if !bodiless, !hasLength, !exchange.isHead {
            // HTTP/1.0 has no chunks: the close ends the body.
            closeAfterResponse = true
            if !hasConnection { extra = "connection: close\r\n" }
        } else if exchange.keepAlive10, !informational, !hasConnection {
            extra = "connection: keep-alive\r\n"
        }

        // A status made from its code alone has no phrase: the standard one is sent.
        let given = status.reasonPhrase
        let phrase = given.isEmpty ? HTTPResponseStatus(statusCode: code).reasonPhrase : given
        // The framing is this codec's: a Transfer-Encoding given is replaced, and a
        // message without a body has no Content-Length either.
        func sent(_ field: HTTPField) -> Bool {
            // Names of another length are told apart without comparing the strings.
            let length = field.name.canonicalName.utf8.count
            if length == Self.transferEncodingLength, field.name == .transferEncoding { return false }
            return !(bodiless && length == Self.contentLengthLength && field.name == .contentLength)
        }
        let statusLine = "HTTP/1.1 000 \r\n".utf8.count + phrase.utf8.count
        let ending = (extra?.utf8CodeUnitCount ?? 0) + 2
        var buffer = allocator.buffer(
            capacity: statusLine + HeadBytes.roughSize(of: head.headerFields) + gateway.roughSize + ending)
        buffer.writeHead(maximumBytes: statusLine) { out in
            out.append("HTTP/1.1 ")
            out.append(byte: UInt8(ascii: "0") + UInt8(code / 100 % 10))
            out.append(byte: UInt8(ascii: "0") + UInt8(code / 10 % 10))
            out.append(byte: UInt8(ascii: "0") + UInt8(code % 10))
            out.append(byte: UInt8(ascii: " "))
            out.append(phrase)
            out.append("\r\n")
        }
        buffer.writeFields(head.headerFields, where: sent)
        gateway.write(to: &buffer, bodiless: bodiless)
        buffer.writeHead(maximumBytes: ending) { out in
            if let extra { out.append(extra) }
            out.append("\r\n")
        }
        return buffer
    }

    private static let transferEncodingLength = HTTPField.Name.transferEncoding.canonicalName.utf8.count
    private static let contentLengthLength = HTTPField.Name.contentLength.canonicalName.utf8.count

    /// The size in hex and CRLF, written in one go (a write per digit checked the
    /// buffer's capacity and uniqueness each time).
    static func writeChunkSize(_ size: Int, to buffer: inout ByteBuffer) {
        let digits = max(1, (Int.bitWidth - size.leadingZeroBitCount + 3) / 4)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 2) { out in
            var rest = size
            for index in stride(from: digits - 1, through: 0, by: -1) {
                let digit = UInt8(rest & 0xF)
                out[index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                rest >>= 4
            }
            out[digits] = UInt8(ascii: "\r")
            out[digits + 1] = UInt8(ascii: "\n")
            return digits + 2
        }
    }
}

/// What the codec writes: the parts of a response (as Hummingbird writes them, one by
/// one), or a whole response with its body in one part, as the data plane writes a
/// completion: one pass through the pipeline instead of three, each of which boxed its
/// part and cast it back.
enum ResponsePart: Sendable {
    /// A head: the response's fields, then the gateway's own.
    case head(HTTPResponse, GatewayFields = GatewayFields())
    case body(ByteBuffer)
    case end(HTTPFields?)
    /// A last body part, then the end.
    case last(ByteBuffer)
    /// A head and the first part of its body (a stream's first events).
    case headAndBody(HTTPResponse, ByteBuffer, GatewayFields = GatewayFields())
    case whole(HTTPResponse, ByteBuffer, GatewayFields = GatewayFields())

    init(_ part: HTTPResponsePart) {
        switch part {
        case .head(let head): self = .head(head)
        case .body(let bytes): self = .body(bytes)
        case .end(let trailers): self = .end(trailers)
        }
    }
}
