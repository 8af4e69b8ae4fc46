import HTTPTypes
import NIOCore
import OrchestratorCore

/// The response head of an exchange, with its body still arriving.
struct UpstreamResponseStart: Sendable {
    var status: Int
    var headers: HTTP1RawFields
    var body: ErasedAsyncSequence<ByteBuffer>
}

/// A kept-alive connection that turned out to be closed as the request went out: it
/// closed or reset within the transport's `staleConnectionWindow` of the request,
/// before a response head (a garbled head is a parse error, never retried). The transport retries once on a new connection. A
/// later failure, or one after response bytes, is never retried here: the upstream may
/// have acted on the request (the engine's own retry policy decides).
struct ReusedConnectionLost: Error {}

/// The last handler of an upstream HTTP/1.1 connection: runs one exchange at a time,
/// writes the request as the transport serialized it, parses the response with
/// ``HTTP1ResponseParser``, hands the head to the waiting caller and the body to an async sequence with
/// back-pressure (reads from the socket stop while the consumer is behind), enforces the
/// head deadline and the idle timeout between body chunks, and gives the connection
/// back to its pool after a complete keep-alive response.
///
/// Confined to its channel's event loop; other threads reach it only through
/// `eventLoop.execute`.
final class UpstreamConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Exchange {
        var id: UInt64
        var waiter: UpstreamHeadWaiter
        var idleTimeout: TimeAmount?
        /// When the response head must have arrived.
        var deadline: NIODeadline
        var onReusedConnection: Bool
        var sentAt: NIODeadline
    }

    /// How soon after the request a closed kept-alive connection counts as stale.
    /// See ``NIOHTTPTransport/Configuration/staleConnectionWindow``.
    private let staleWindow: TimeAmount

    private enum State {
        case idle
        case awaitingHead(Exchange)
        case streaming(Streaming)
        case closed
    }

    /// A struct, not a tuple payload: the tuple's copies went through the runtime's
    /// generic tuple witnesses, on every response.
    private struct Streaming {
        var exchange: Exchange
        var source: UpstreamBody
        var keepAlive: Bool
    }

    private var state = State.idle
    private var parser = HTTP1ResponseParser()
    /// The start of a head or chunk-size line that the last read cut short.
    private var unparsed = HTTP1Unparsed()
    private var context: ChannelHandlerContext?
    private var exchangeCounter: UInt64 = 0
    /// Reads held back while the body consumer is behind.
    private var paused = false
    private var pendingRead = false
    private var lastActivity = NIODeadline.now()
    /// The connection's one timer, for the head deadline and the body idle timeout. It is
    /// re-armed only when a limit comes due sooner than it fires: a timer that fires
    /// early checks and re-arms itself. Kept-alive exchanges follow one another with
    /// ever later deadlines, so most requests schedule and cancel no timer at all.
    private var timer: Scheduled<Void>?
    private var timerFiresAt = NIODeadline.distantFuture
    /// Called on the event loop when an exchange completed and the connection may be reused.
    var onReusable: ((UpstreamConnectionHandler) -> Void)?

    init(staleWindow: TimeAmount) {
        self.staleWindow = staleWindow
    }

    var isIdle: Bool {
        if case .idle = state { return context?.channel.isActive ?? false }
        return false
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        let closeEndsBody = parser.connectionClosed()
        if case .streaming(let streaming) = state {
            if closeEndsBody {
                // A body delimited by the close: this is its end.
                disarmTimer()
                streaming.source.finish()
            } else {
                fail(TransportError(.closed, "upstream closed the connection mid-response"), connectionLost: true)
            }
        } else {
            fail(TransportError(.closed, "upstream closed the connection"), connectionLost: true)
        }
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or broken pipe may be a stale connection; a parse or TLS error is not.
        fail(UpstreamErrors.classify(error), connectionLost: error is IOError || error is ChannelError)
        state = .closed
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if paused {
            pendingRead = true
        } else {
            context.read()
        }
    }

    /// Not passed on: nothing after this handler reads, and the hop to the pipeline's
    /// tail came with every read.
    func channelReadComplete(context: ChannelHandlerContext) {}

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unparsed.joined(with: unwrapInboundIn(data))
        // The body bytes of this read, handed over together: one wake-up of the reader
        // per read, however many chunks the read held.
        var body: ByteBuffer?
        do throws(HTTP1ResponseParser.Malformed) {
            while let event = try parser.next(&buffer) {
                switch event {
                case .head(let head):
                    guard case .awaitingHead(let exchange) = state else { return }
                    let source = Self.makeBody(
                        handler: NIOLoopBound(self, eventLoop: context.eventLoop), exchangeID: exchange.id)
                    state = .streaming(Streaming(exchange: exchange, source: source, keepAlive: head.keepAlive))
                    lastActivity = .now()
                    if let idle = exchange.idleTimeout { armTimer(by: lastActivity + idle) }
                    exchange.waiter.succeed(
                        UpstreamResponseStart(status: head.status, headers: head.rawHeaders, body: source.sequence))
                case .body(var bytes):
                    if body == nil {
                        body = bytes
                    } else {
                        body!.writeBuffer(&bytes)
                    }
                case .end:
                    deliver(&body)
                    guard case .streaming(let streaming) = state else { return }
                    state = .idle
                    paused = false
                    streaming.source.finish()
                    // Bytes after the end answer no request: the connection is not reused.
                    if streaming.keepAlive, buffer.readableBytes == 0 {
                        if pendingRead {
                            pendingRead = false
                            context.read()
                        }
                        onReusable?(self)
                    } else {
                        closeConnection()
                    }
                    return
                }
                // The caller may have let go of the exchange (and closed this connection).
                if case .closed = state { return }
            }
        } catch {
            deliver(&body)
            fail(TransportError(.other, "malformed HTTP response from upstream: \(error.reason)"), connectionLost: false)
            state = .closed
            context.close(promise: nil)
            return
        }
        deliver(&body)
        unparsed.keep(buffer)
    }

    /// Hands the body bytes gathered from a read to the reader.
    private func deliver(_ body: inout ByteBuffer?) {
        guard let bytes = body else { return }
        body = nil
        guard case .streaming(let streaming) = state else { return }
        lastActivity = .now()
        switch streaming.source.yield(bytes) {
        case .produceMore: break
        case .stopProducing: paused = true
        case .dropped:
            // The consumer is gone before the body ended: the connection has unread
            // bytes, so it cannot be reused.
            closeConnection()
        }
    }

    // MARK: Exchanges (called on the event loop)

    /// Sends a request (its head serialized, and the body if it was not appended to the
    /// head); `waiter` gets the response head or the failure.
    func start(
        request: UpstreamRequestBytes, deadline: NIODeadline, idleTimeout: TimeAmount?, waiter: UpstreamHeadWaiter
    ) -> UInt64? {
        guard case .idle = state, let context, context.channel.isActive else {
            waiter.fail(ReusedConnectionLost())
            return nil
        }
        exchangeCounter += 1
        let id = exchangeCounter
        let exchange = Exchange(
            id: id, waiter: waiter, idleTimeout: idleTimeout, deadline: deadline, onReusedConnection: id > 1,
            sentAt: .now())
        armTimer(by: deadline)
        state = .awaitingHead(exchange)
        paused = false
        parser.expectResponse(toHEAD: request.isHEAD)
        // No write promise: a write that fails closes the channel, and `channelInactive`
        // fails the exchange (a kept-alive connection found closed, as a reset is).
        context.write(wrapOutboundOut(request.head), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(body), promise: nil) }
        context.flush()
        return id
    }

    /// The caller stopped waiting for the head (its task was cancelled).
    func cancel(exchangeID: UInt64) {
        guard case .awaitingHead(let exchange) = state, exchange.id == exchangeID else { return }
        disarmTimer()
        state = .closed
        exchange.waiter.fail(CancellationError())
        context?.close(promise: nil)
    }

    /// The body consumer asked for more.
    func resume(exchangeID: UInt64) {
        guard case .streaming(let streaming) = state, streaming.exchange.id == exchangeID, paused else { return }
        paused = false
        // Silence while reads were held was the consumer's, not the upstream's.
        lastActivity = .now()
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    /// Whether exchange `exchangeID` is still receiving its body.
    func isStreaming(exchangeID: UInt64) -> Bool {
        if case .streaming(let streaming) = state { return streaming.exchange.id == exchangeID }
        return false
    }

    /// The body consumer is gone (finished or dropped its iterator).
    func consumerTerminated(exchangeID: UInt64) {
        guard case .streaming(let streaming) = state, streaming.exchange.id == exchangeID else { return }
        closeConnection()
    }

    func closeConnection() {
        disarmTimer()
        switch state {
        case .streaming(let streaming):
            streaming.source.finish(TransportError(.closed, "upstream response abandoned"))
        case .awaitingHead(let exchange):
            exchange.waiter.fail(TransportError(.closed, "upstream connection closed by the gateway"))
        case .idle, .closed:
            break
        }
        state = .closed
        context?.close(promise: nil)
    }

    /// Makes sure the connection's timer fires no later than `at`.
    private func armTimer(by at: NIODeadline) {
        guard let context else { return }
        if timer != nil, timerFiresAt <= at { return }
        timer?.cancel()
        timerFiresAt = at
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: at) { loopBound.value.timerFired() }
    }

    private func disarmTimer() {
        timer?.cancel()
        timer = nil
        timerFiresAt = .distantFuture
    }

    /// Enforces the limit of the exchange in flight, if one is due; otherwise re-arms
    /// for when the next one will be.
    private func timerFired() {
        timer = nil
        timerFiresAt = .distantFuture
        let now = NIODeadline.now()
        switch state {
        case .awaitingHead(let exchange):
            guard now >= exchange.deadline else {
                armTimer(by: exchange.deadline)
                return
            }
            state = .closed
            exchange.waiter.fail(TransportError(.timeout, "no response head from upstream before the deadline"))
            context?.close(promise: nil)
        case .streaming(let streaming):
            guard let idle = streaming.exchange.idleTimeout else { return }
            // A paused read is the client being slow, not the upstream being silent.
            if paused {
                armTimer(by: now + idle)
                return
            }
            guard now - lastActivity >= idle else {
                armTimer(by: lastActivity + idle)
                return
            }
            state = .closed
            streaming.source.finish(TransportError(.idleTimeout, "no data from upstream within the stream idle timeout"))
            context?.close(promise: nil)
        case .idle, .closed:
            break
        }
    }

    /// Fails the exchange in flight, if any.
    private func fail(_ error: any Error, connectionLost: Bool) {
        disarmTimer()
        switch state {
        case .awaitingHead(let exchange):
            state = .closed
            let stale =
                connectionLost && exchange.onReusedConnection && NIODeadline.now() - exchange.sentAt < staleWindow
            exchange.waiter.fail(stale ? ReusedConnectionLost() : error)
        case .streaming(let streaming):
            state = .closed
            streaming.source.finish(error)
        case .idle, .closed:
            break
        }
    }

    /// A body whose reader's demand and departure reach this handler on its event loop
    /// (at once when the reader already runs there, as data-plane requests do).
    private static func makeBody(handler: NIOLoopBound<UpstreamConnectionHandler>, exchangeID: UInt64) -> UpstreamBody {
        UpstreamBody(
            onDemand: {
                if handler.eventLoop.inEventLoop {
                    handler.value.resume(exchangeID: exchangeID)
                } else {
                    handler.eventLoop.execute { handler.value.resume(exchangeID: exchangeID) }
                }
            },
            onReaderGone: {
                // A reader that read to the end lets go after the exchange ended: nothing
                // to do (and nothing to queue, on the data plane's hot path).
                if handler.eventLoop.inEventLoop, !handler.value.isStreaming(exchangeID: exchangeID) { return }
                // Otherwise queued: the reader may let go inside a call into this handler.
                handler.eventLoop.execute { handler.value.consumerTerminated(exchangeID: exchangeID) }
            })
    }
}

/// Where an exchange's response head goes: the caller waiting in ``NIOHTTPTransport``,
/// resumed exactly once (the handler leaves `awaitingHead` as it answers, and a
/// request it never took is answered at once). A continuation, not an
/// `EventLoopPromise`: the future, its callback and its `Result` type's metadata lookup
/// cost about 4,000 instructions per request.
struct UpstreamHeadWaiter: Sendable {
    private let continuation: UnsafeContinuation<UpstreamResponseStart, any Error>

    init(_ continuation: UnsafeContinuation<UpstreamResponseStart, any Error>) {
        self.continuation = continuation
    }

    func succeed(_ start: UpstreamResponseStart) { continuation.resume(returning: start) }
    func fail(_ error: any Error) { continuation.resume(throwing: error) }
}
