import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import OrchestratorCore
import Synchronization

/// The gateway's HTTP/1.1 child channel: the gateway's own HTTP/1 codec
/// (``HTTP1ServerCodec``, which also keeps the idle timeout and graceful shutdown that
/// Hummingbird's connection-state handler would), and the ``DataPlaneHandler`` between
/// that and Hummingbird's responder, so `/v1/chat/completions` is served from the
/// pipeline and every other route by the Hummingbird router, on one port.
struct GatewayHTTP1Channel: HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let idleTimeout: Duration?
    let dataPlane: DataPlaneHandler.Shared
    /// From a request's first byte: how long its head, and the whole request, may take.
    var headTimeout: TimeAmount = .seconds(10)
    var requestTimeout: TimeAmount = .seconds(60)
    /// Client connections open at once (`server.max_connections`).
    var connections = ConnectionCount(limit: .max)

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Beyond the limit a connection is closed as soon as it is accepted, before it
        // costs a pipeline (its client sees the connection end and may retry).
        guard connections.open() else {
            // Counted, and logged only at debug level: a flood must not become a log flood.
            ConnectionCount.refused.increment()
            logger.debug("connection refused: server.max_connections reached", metadata: ["limit": "\(connections.limit)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionCount.Full())
        }
        let connections = self.connections
        channel.closeFuture.whenComplete { _ in connections.close() }
        return channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            let readDeadlines = ReadDeadlineHandler(headTimeout: headTimeout, requestTimeout: requestTimeout, logger: logger)
            try sync.addHandler(readDeadlines)
            // Beyond the codec's head limits: 431, then the connection closes.
            let codec = HTTP1ServerCodec(idleTimeout: idleTimeout.map { .nanoseconds($0.totalNanoseconds) })
            let dataPlaneHandler = DataPlaneHandler(shared: dataPlane, readDeadlines: readDeadlines)
            try sync.addHandler(codec)
            try sync.addHandler(dataPlaneHandler)
            // Next to each other: parts pass between them by direct calls.
            HTTP1ServerCodec.pair(codec, with: dataPlaneHandler)
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

/// The client connections open now, against `server.max_connections`.
final class ConnectionCount: Sendable {
    struct Full: Error {}

    static let refused = Counter(label: "orchestrator_connections_refused_total")

    let limit: Int
    private let count = Mutex(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Counts a new connection in; false when `limit` are already open.
    func open() -> Bool {
        count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func close() {
        count.withLock { $0 = max(0, $0 - 1) }
    }

    var current: Int { count.withLock { $0 } }
}
