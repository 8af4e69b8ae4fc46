import Logging
import NIOCore

/// Cuts off clients that send a request too slowly ("slowloris"): the first handler of a
/// connection, on the raw bytes. From the first byte of a request, its head must be
/// complete within `headTimeout` and the whole request within `requestTimeout`, or the
/// connection is closed. The ``DataPlaneHandler`` behind the HTTP decoder, which sees
/// every request's parts, reports when a head and an end arrived. Between requests the
/// server's idle timeout applies instead.
final class ReadDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum Phase {
        /// Waiting for the next request's first byte.
        case betweenRequests
        /// A request has started; its head is not complete yet.
        case readingHead
        /// The head is in; the rest of the request is arriving.
        case readingBody
    }

    private let headTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    private let logger: Logger
    private var phase = Phase.betweenRequests
    /// When the current request's first byte was read.
    private var startedAt = NIODeadline.now()
    /// The one check scheduled for the current request, only while it spans reads.
    private var check: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(headTimeout: TimeAmount, requestTimeout: TimeAmount, logger: Logger) {
        self.headTimeout = headTimeout
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelCheck()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelCheck()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .betweenRequests = phase, unwrapInboundIn(data).readableBytes > 0 {
            phase = .readingHead
            startedAt = .now()
        }
        // The decoder behind runs now: a request that arrived whole in this read has
        // already ended when this returns, and needs no timer at all.
        context.fireChannelRead(data)
        if check == nil { scheduleCheck() }
    }

    /// A request's head was parsed.
    func headReceived() {
        guard case .readingHead = phase else { return }
        phase = .readingBody
    }

    /// A request was read to its end: the next one starts its own clock.
    func requestEnded() {
        phase = .betweenRequests
        cancelCheck()
    }

    /// The deadline the current phase must meet.
    private var deadline: NIODeadline? {
        switch phase {
        case .betweenRequests: return nil
        case .readingHead: return min(startedAt + headTimeout, startedAt + requestTimeout)
        case .readingBody: return startedAt + requestTimeout
        }
    }

    private func cancelCheck() {
        check?.cancel()
        check = nil
    }

    private func scheduleCheck() {
        guard let context, let deadline else { return }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: deadline) {
            let handler = handler.value
            handler.check = nil
            guard let context = handler.context, let deadline = handler.deadline else { return }
            // The head may have arrived since: then the whole request's deadline applies.
            if NIODeadline.now() < deadline {
                handler.scheduleCheck()
                return
            }
            let what = if case .readingHead = handler.phase { "request head" } else { "request" }
            handler.logger.info("closing a connection whose client sent its \(what) too slowly")
            context.close(promise: nil)
        }
    }
}
