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
    private var headDeadline: Scheduled<Void>?
    private var requestDeadline: Scheduled<Void>?
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
        cancelDeadlines()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadlines()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .betweenRequests = phase, unwrapInboundIn(data).readableBytes > 0 {
            phase = .readingHead
            headDeadline = schedule(in: headTimeout, "request head")
            requestDeadline = schedule(in: requestTimeout, "request")
        }
        context.fireChannelRead(data)
    }

    /// A request's head was parsed.
    func headReceived() {
        guard case .readingHead = phase else { return }
        phase = .readingBody
        headDeadline?.cancel()
        headDeadline = nil
    }

    /// A request was read to its end: the next one starts its own clock.
    func requestEnded() {
        phase = .betweenRequests
        cancelDeadlines()
    }

    private func cancelDeadlines() {
        headDeadline?.cancel()
        headDeadline = nil
        requestDeadline?.cancel()
        requestDeadline = nil
    }

    private func schedule(in timeout: TimeAmount, _ what: String) -> Scheduled<Void>? {
        guard let context else { return nil }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        return context.eventLoop.scheduleTask(in: timeout) {
            let handler = handler.value
            guard let context = handler.context else { return }
            handler.logger.info("closing a connection whose client sent its \(what) too slowly")
            handler.cancelDeadlines()
            context.close(promise: nil)
        }
    }
}
