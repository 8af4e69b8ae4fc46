public import Logging
public import NIOCore
import HTTPTypes
import NIOHTTP1
public import NIOPosix
import NIOSSL
import NIOTLS
public import OrchestratorCore
import Synchronization

/// The gateway's own upstream HTTP/1.1 client on SwiftNIO: the production
/// ``HTTPTransport``.
///
/// - One pool of kept-alive connections per event loop and upstream (scheme, host, port,
///   trusted CA file). A call made on an event loop thread uses that loop's pool, so the
///   upstream connection shares the thread of the caller's inbound connection; other
///   callers spread over the loops.
/// - TLS through NIOSSL with SNI, the system trust store, and a provider's own CA file
///   added where configured; ALPN offers `http/1.1`.
/// - Response bodies stream with back-pressure: the socket is read only as fast as the
///   body is consumed. Dropping the body closes the connection (its unread bytes make it
///   unusable); a complete keep-alive response returns it to the pool.
/// - The deadline covers connecting and waiting for the head; `idleTimeout` is the
///   longest silence between body chunks.
///
/// It does not do proxies (``RoutingTransport`` sends proxied providers through
/// AsyncHTTPClient), HTTP/2, redirects or decompression (the gateway asks for none).
///
/// Call ``shutdown()`` before the event loop group goes away.
public final class NIOHTTPTransport: HTTPTransport {
    public struct Configuration: Sendable {
        /// Connect (TCP and TLS handshake) timeout, also bounded by the call's deadline.
        public var connectTimeout: Duration = .seconds(10)
        /// Idle pooled connections older than this are closed.
        public var idleConnectionTimeout: Duration = .seconds(60)
        /// Idle connections kept per upstream and event loop; more are closed on return.
        public var maxIdleConnectionsPerLoop = 512
        /// A pooled connection that closes within this long of a request going out,
        /// before any response byte, was already closing: the request is sent once more
        /// on a new connection. Later, the upstream may have acted on it: no resend.
        public var staleConnectionWindow: Duration = .milliseconds(250)

        public init() {}
    }

    /// An upstream's pool of connections: looked up twice per call (checkout and
    /// checkin), so its hash is computed once, when the key is made (hashing the host
    /// and CA file strings each time was about 1,100 instructions per call), and a
    /// prepared head carries the whole key.
    struct PoolKey: Hashable, Sendable {
        let secure: Bool
        let host: String
        let port: Int
        let caFile: String
        private let hash: Int

        init(secure: Bool, host: String, port: Int, caFile: String) {
            self.secure = secure
            self.host = host
            self.port = port
            self.caFile = caFile
            var hasher = Hasher()
            hasher.combine(secure)
            hasher.combine(host)
            hasher.combine(port)
            hasher.combine(caFile)
            hash = hasher.finalize()
        }

        static func == (lhs: PoolKey, rhs: PoolKey) -> Bool {
            lhs.hash == rhs.hash && lhs.secure == rhs.secure && lhs.port == rhs.port && lhs.host == rhs.host
                && lhs.caFile == rhs.caFile
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        /// The pool for `url` with `caFile` (none: the system's trust store only).
        init(_ url: UpstreamURL, caFile: String?) {
            self.init(secure: url.secure, host: url.host, port: url.port, caFile: caFile ?? "")
        }
    }

    private let group: any EventLoopGroup
    private let configuration: Configuration
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<ConnectionPool>]
    private let tlsContexts = Mutex<[String: NIOSSLContext]>([:])
    private let parsedURLs = Mutex<[String: UpstreamURL]>([:])

    public init(configuration: Configuration = .init(), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = eventLoopGroup
        self.configuration = configuration
        var pools: [ObjectIdentifier: NIOLoopBoundBox<ConnectionPool>] = [:]
        for loop in eventLoopGroup.makeIterator() {
            pools[ObjectIdentifier(loop)] = .makeBoxSendingValue(
                ConnectionPool(
                    eventLoop: loop, maxIdle: configuration.maxIdleConnectionsPerLoop,
                    idleTimeout: .nanoseconds(configuration.idleConnectionTimeout.totalNanoseconds),
                    staleWindow: .nanoseconds(configuration.staleConnectionWindow.totalNanoseconds)),
                eventLoop: loop)
        }
        self.pools = pools
    }

    public func execute(_ request: TransportRequest, deadline: ContinuousClock.Instant, logger: Logger) async throws
        -> TransportResponse
    {
        let url: UpstreamURL
        let wire: UpstreamRequestBytes
        let key: PoolKey
        if let prepared = request.prepared as? PreparedHead {
            url = prepared.url
            key = prepared.poolKey
            wire = Self.requestBytes(prepared, body: request.body)
        } else {
            do {
                url = try parsedURL(request.url)
            } catch {
                throw TransportError(.other, "invalid upstream URL: \(error.description)")
            }
            key = PoolKey(url, caFile: request.caFile)
            wire = Self.requestBytes(request, url: url)
        }
        let tls = try url.secure ? tlsContext(caFile: key.caFile) : nil
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero else { throw TransportError(.timeout, "the deadline passed before the upstream call") }
        let nioDeadline = NIODeadline.now() + .nanoseconds(remaining.totalNanoseconds)
        let idle = request.idleTimeout.map { TimeAmount.nanoseconds($0.totalNanoseconds) }
        let pool = self.pool(for: MultiThreadedEventLoopGroup.currentEventLoop ?? group.next())

        let start: UpstreamResponseStart
        do {
            start = try await exchange(
                pool: pool, key: key, url: url, tls: tls, request: wire, deadline: nioDeadline,
                idleTimeout: idle, reuse: true)
        } catch is ReusedConnectionLost {
            logger.debug("kept-alive upstream connection was closed; retrying on a new one")
            do {
                start = try await exchange(
                    pool: pool, key: key, url: url, tls: tls, request: wire, deadline: nioDeadline,
                    idleTimeout: idle, reuse: false)
            } catch is ReusedConnectionLost {
                throw TransportError(.closed, "upstream closed the connection before responding")
            }
        }
        return TransportResponse(status: start.status, rawHeaders: start.headers, body: start.body)
    }

    /// Closes every pooled connection; calls still in flight finish, then close theirs.
    public func shutdown() async {
        for pool in pools.values {
            try? await pool.eventLoop.submit { pool.value.shutdown() }.get()
        }
    }

    // MARK: Internals

    private func pool(for loop: any EventLoop) -> NIOLoopBoundBox<ConnectionPool> {
        if let pool = pools[ObjectIdentifier(loop)] { return pool }
        // A loop from another group (an embedder's): use one of ours.
        return pools[ObjectIdentifier(group.next())]!
    }

    private func exchange(
        pool: NIOLoopBoundBox<ConnectionPool>, key: PoolKey, url: UpstreamURL, tls: NIOSSLContext?,
        request: UpstreamRequestBytes, deadline: NIODeadline, idleTimeout: TimeAmount?, reuse: Bool
    ) async throws -> UpstreamResponseStart {
        let loop = pool.eventLoop
        let cancellation = CancellationHook()
        let connectTimeout = min(
            TimeAmount.nanoseconds(configuration.connectTimeout.totalNanoseconds), deadline - NIODeadline.now())
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                let waiter = UpstreamHeadWaiter(continuation)
                @Sendable func start() {
                    Self.startExchange(
                        pool: pool, key: key, url: url, tls: tls, request: request, deadline: deadline,
                        idleTimeout: idleTimeout, reuse: reuse, connectTimeout: connectTimeout, cancellation: cancellation,
                        waiter: waiter)
                }
                // The data plane calls from the pool's own loop: start at once, with no
                // job queued on the loop.
                if loop.inEventLoop { start() } else { loop.execute(start) }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// Sends the request on a pooled (or new) connection; on the pool's loop. `waiter`
    /// gets the response head or the failure, once.
    private static func startExchange(
        pool: NIOLoopBoundBox<ConnectionPool>, key: PoolKey, url: UpstreamURL, tls: NIOSSLContext?,
        request: UpstreamRequestBytes, deadline: NIODeadline, idleTimeout: TimeAmount?, reuse: Bool,
        connectTimeout: TimeAmount, cancellation: CancellationHook, waiter: UpstreamHeadWaiter
    ) {
        let loop = pool.eventLoop
        @Sendable func begin(_ handler: UpstreamConnectionHandler) {
            guard let id = handler.start(
                request: request, deadline: deadline, idleTimeout: idleTimeout, waiter: waiter)
            else { return }
            let bound = NIOLoopBound(handler, eventLoop: loop)
            cancellation.attach { loop.execute { bound.value.cancel(exchangeID: id) } }
        }
        if cancellation.isCancelled {
            waiter.fail(CancellationError())
        } else if reuse, let handler = pool.value.checkout(key) {
            begin(handler)
        } else {
            pool.value.connect(key: key, url: url, tls: tls, timeout: connectTimeout).whenComplete { result in
                switch result {
                case .success(let handler):
                    if cancellation.isCancelled {
                        handler.closeConnection()
                        waiter.fail(CancellationError())
                    } else {
                        begin(handler)
                    }
                case .failure(let error):
                    waiter.fail(UpstreamErrors.classifyConnect(error))
                }
            }
        }
    }

    private func tlsContext(caFile: String) throws -> NIOSSLContext {
        if let context = tlsContexts.withLock({ $0[caFile] }) { return context }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.applicationProtocols = ["http/1.1"]
        if !caFile.isEmpty { tls.additionalTrustRoots = [.file(caFile)] }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw TransportError(.tls, "could not load the TLS trust roots (tls.ca_file \"\(caFile)\"): \(error)")
        }
        tlsContexts.withLock { $0[caFile] = context }
        return context
    }

    /// Fields the transport sets itself or that speak for one connection only: an
    /// adapter's or a provider's value for them is not sent (a `switch`, not a `Set`:
    /// this runs for every field of every upstream request, and hashing cost more).
    static func isHopByHop(_ canonicalName: String) -> Bool {
        // By length first: most fields are turned away without a string comparison.
        switch canonicalName.utf8.count {
        case 2, 4, 7, 10, 14, 16, 17: break
        default: return false
        }
        switch canonicalName {
        case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host",
            "content-length":
            return true
        default:
            return false
        }
    }

    /// The URL parsed, from the cache when it was seen before: adapters send the same
    /// few URLs over and over, and a lookup costs less than the parse and its strings.
    /// The cache is emptied when it reaches 256 URLs, so a stream of distinct URLs (a
    /// query string per request) cannot grow it.
    func parsedURL(_ text: String) throws(UpstreamURL.Invalid) -> UpstreamURL {
        if let known = parsedURLs.withLock({ $0[text] }) { return known }
        let parsed = try UpstreamURL(parsing: text)
        parsedURLs.withLock { cache in
            if cache.count >= 256 { cache.removeAll(keepingCapacity: true) }
            cache[text] = parsed
        }
        return parsed
    }

    /// Bodies up to this size go out in the same buffer as the head: one copy of a few
    /// kilobytes costs less than a second buffer in the write.
    static let inlineBodyLimit = 16 * 1024

    /// A request's method, URL, fields and CA file made ready to send: the URL parsed, its
    /// pool's key, and the head's bytes up to where the body's length goes. An adapter keeps one per provider
    /// and key (``HTTPTransport/prepare(_:)``), so a request copies these bytes instead
    /// of building the fields, serializing them and looking its URL up.
    final class PreparedHead: PreparedRequestHead {
        let url: UpstreamURL
        /// The pool the request's connection comes from (the URL's and the CA file's).
        let poolKey: PoolKey
        /// The request line, `host` and the fields (hop-by-hop ones dropped).
        let prefix: ByteBuffer
        /// POST, PUT and PATCH always say their length, even of no body.
        let methodSendsLength: Bool
        let isHEAD: Bool

        init(method: HTTPRequest.Method, url: UpstreamURL, headers: HTTPFields, caFile: String?) {
            self.url = url
            self.poolKey = PoolKey(url, caFile: caFile)
            var prefix = ByteBufferAllocator().buffer(
                capacity: NIOHTTPTransport.prefixSize(method: method, url: url) + HeadBytes.roughSize(of: headers))
            NIOHTTPTransport.writePrefix(method: method, url: url, headers: headers, to: &prefix)
            self.prefix = prefix
            self.methodSendsLength = NIOHTTPTransport.sendsLength(method)
            self.isHEAD = method == .head
        }
    }

    public func prepare(_ request: TransportRequest) -> (any PreparedRequestHead)? {
        guard let url = try? parsedURL(request.url) else { return nil }
        return PreparedHead(method: request.method, url: url, headers: request.headers, caFile: request.caFile)
    }

    /// The request serialized for the wire: request line, `host`, the request's own
    /// fields (hop-by-hop ones dropped), `content-length`, and the body.
    static func requestBytes(_ request: TransportRequest, url: UpstreamURL) -> UpstreamRequestBytes {
        let body = request.body
        var head = ByteBufferAllocator().buffer(
            capacity: prefixSize(method: request.method, url: url) + HeadBytes.roughSize(of: request.headers)
                + endingSize(body: body))
        writePrefix(method: request.method, url: url, headers: request.headers, to: &head)
        return finish(&head, sendsLength: sendsLength(request.method), body: body, isHEAD: request.method == .head)
    }

    /// The same bytes from a prepared head: its prefix copied, then the length and body.
    static func requestBytes(_ prepared: PreparedHead, body: ByteBuffer?) -> UpstreamRequestBytes {
        var head = ByteBufferAllocator().buffer(capacity: prepared.prefix.readableBytes + endingSize(body: body))
        head.writeImmutableBuffer(prepared.prefix)
        return finish(&head, sendsLength: prepared.methodSendsLength, body: body, isHEAD: prepared.isHEAD)
    }

    private static func sendsLength(_ method: HTTPRequest.Method) -> Bool {
        method == .post || method == .put || method == .patch
    }

    /// The request line and `host` line's size.
    private static func prefixSize(method: HTTPRequest.Method, url: UpstreamURL) -> Int {
        method.rawValue.utf8.count + 1 + url.target.utf8.count + url.hostHeader.utf8.count
            + " HTTP/1.1\r\nhost: \r\n".utf8.count
    }

    /// The `content-length` line at its longest, and the blank line.
    private static let lengthLinesSize = "content-length: \r\n\r\n".utf8.count + HeadBytes.maxDecimalDigits

    /// What ``finish(_:sendsLength:body:isHEAD:)`` may add: the length line, the blank
    /// line, and a body small enough to go in the same buffer.
    private static func endingSize(body: ByteBuffer?) -> Int {
        guard let length = body?.readableBytes, length <= inlineBodyLimit else { return lengthLinesSize }
        return lengthLinesSize + length
    }

    private static func writePrefix(
        method: HTTPRequest.Method, url: UpstreamURL, headers: HTTPFields, to head: inout ByteBuffer
    ) {
        head.writeHead(maximumBytes: prefixSize(method: method, url: url)) { out in
            out.append(method.rawValue)
            out.append(byte: UInt8(ascii: " "))
            out.append(url.target)
            out.append(" HTTP/1.1\r\nhost: ")
            out.append(url.hostHeader)
            out.append("\r\n")
        }
        head.writeFields(headers, where: { !isHopByHop($0.name.canonicalName) })
    }

    /// Ends `head` with `content-length` (when the body or the method needs one) and the
    /// blank line, and adds a small body to it.
    private static func finish(_ head: inout ByteBuffer, sendsLength: Bool, body: ByteBuffer?, isHEAD: Bool)
        -> UpstreamRequestBytes
    {
        let bodyLength = body?.readableBytes
        head.writeHead(maximumBytes: lengthLinesSize) { out in
            if sendsLength || bodyLength != nil {
                out.append("content-length: ")
                out.append(decimal: bodyLength ?? 0)
                out.append("\r\n")
            }
            out.append("\r\n")
        }
        var body = body
        if let length = bodyLength, length <= inlineBodyLimit, var bytes = body {
            head.writeBuffer(&bytes)
            body = nil
        }
        return UpstreamRequestBytes(head: head, body: body, isHEAD: isHEAD)
    }
}

/// A request as it goes on the wire: the head (and a small body) in one buffer.
struct UpstreamRequestBytes: Sendable {
    var head: ByteBuffer
    /// A body too large to copy into `head`; sent after it.
    var body: ByteBuffer?
    var isHEAD: Bool
}

/// Idle kept-alive connections of one event loop, by upstream; confined to that loop.
final class ConnectionPool {
    let eventLoop: any EventLoop
    let maxIdle: Int
    let idleTimeout: TimeAmount
    /// An idle connection and when it became idle.
    private typealias IdleConnection = (handler: UpstreamConnectionHandler, since: NIODeadline)
    private var idle: [NIOHTTPTransport.PoolKey: [IdleConnection]] = [:]
    private var sweeper: RepeatedTask?
    private var closed = false

    init(eventLoop: any EventLoop, maxIdle: Int, idleTimeout: TimeAmount, staleWindow: TimeAmount) {
        self.eventLoop = eventLoop
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
        self.staleWindow = staleWindow
    }

    /// Appends `entry` unless `list` already holds `limit` entries.
    private static func append(_ entry: IdleConnection, to list: inout [IdleConnection], limit: Int) -> Bool {
        guard list.count < limit else { return false }
        list.append(entry)
        return true
    }

    /// Given to every connection's handler (see `Configuration.staleConnectionWindow`).
    let staleWindow: TimeAmount

    /// The most recently used idle connection to `key` that is still open.
    func checkout(_ key: NIOHTTPTransport.PoolKey) -> UpstreamConnectionHandler? {
        while let entry = idle[key]?.popLast() {
            if entry.handler.isIdle { return entry.handler }
            entry.handler.closeConnection()
        }
        return nil
    }

    func checkin(_ handler: UpstreamConnectionHandler, key: NIOHTTPTransport.PoolKey) {
        // The key's list is changed in place: one hash of the key (its host and CA
        // file strings) per request instead of two.
        guard !closed, Self.append((handler, .now()), to: &idle[key, default: []], limit: maxIdle) else {
            handler.closeConnection()
            return
        }
        if sweeper == nil {
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            let period = min(idleTimeout, .seconds(5))
            sweeper = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
                bound.value.sweep()
            }
        }
    }

    func connect(key: NIOHTTPTransport.PoolKey, url: UpstreamURL, tls: NIOSSLContext?, timeout: TimeAmount)
        -> EventLoopFuture<UpstreamConnectionHandler>
    {
        let loop = eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let serverName = url.hostIsIPLiteral ? nil : url.host
        let staleWindow = self.staleWindow
        return ClientBootstrap(group: loop)
            .connectTimeout(max(timeout, .milliseconds(1)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        try sync.addHandler(TLSHandshakeWaiter(promise: channel.eventLoop.makePromise()))
                    }
                    // The handler writes requests serialized by `requestBytes` and parses
                    // responses itself (see `HTTP1ResponseParser`).
                    let handler = UpstreamConnectionHandler(staleWindow: staleWindow)
                    handler.onReusable = { handler in bound.value.checkin(handler, key: key) }
                    try sync.addHandler(handler)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: url.host, port: url.port)
            .flatMap { channel in
                // With TLS the connection is up once the handshake is done, under the
                // same connect timeout: a server that stalls the handshake fails over as
                // a connect failure, not after the whole deadline.
                guard tls != nil, let waiter = try? channel.pipeline.syncOperations.handler(type: TLSHandshakeWaiter.self)
                else { return channel.eventLoop.makeSucceededVoidFuture().map { channel } }
                let bound = NIOLoopBound(waiter, eventLoop: channel.eventLoop)
                let timer = channel.eventLoop.scheduleTask(in: max(timeout, .milliseconds(1))) {
                    bound.value.fail(TransportError(.timeout, "the TLS handshake with the upstream timed out"))
                    channel.close(promise: nil)
                }
                return waiter.done.always { _ in timer.cancel() }.map { channel }
            }
            .flatMapThrowing { channel in
                try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
            }
    }

    private func sweep() {
        let now = NIODeadline.now()
        for (key, entries) in idle {
            var kept: [IdleConnection] = []
            for entry in entries {
                if entry.handler.isIdle, now - entry.since < idleTimeout {
                    kept.append(entry)
                } else {
                    entry.handler.closeConnection()
                }
            }
            idle[key] = kept.isEmpty ? nil : kept
        }
        if idle.isEmpty {
            sweeper?.cancel()
            sweeper = nil
        }
    }

    func shutdown() {
        closed = true
        sweeper?.cancel()
        sweeper = nil
        for entries in idle.values {
            for entry in entries { entry.handler.closeConnection() }
        }
        idle = [:]
    }
}

/// Lets a task's cancellation reach an exchange that starts on another thread.
final class CancellationHook: Sendable {
    private enum State {
        case waiting
        case attached(@Sendable () -> Void)
        case cancelled
    }
    private let state = Mutex(State.waiting)

    var isCancelled: Bool {
        state.withLock {
            if case .cancelled = $0 { return true }
            return false
        }
    }

    func attach(_ onCancel: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if case .cancelled = state { return true }
            state = .attached(onCancel)
            return false
        }
        if runNow { onCancel() }
    }

    func cancel() {
        let action = state.withLock { state -> (@Sendable () -> Void)? in
            defer { state = .cancelled }
            if case .attached(let action) = state { return action }
            return nil
        }
        action?()
    }
}

/// Maps NIO, NIOSSL and socket errors to ``TransportError`` kinds.
enum UpstreamErrors {
    static func classify(_ error: any Error) -> any Error {
        if error is TransportError || error is CancellationError || error is ReusedConnectionLost { return error }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return TransportError(.tls, "\(error)")
        }
        if let channelError = error as? ChannelError {
            switch channelError {
            case .connectTimeout: return TransportError(.timeout, "connecting to the upstream timed out")
            case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed:
                return TransportError(.closed, "upstream closed the connection")
            default: return TransportError(.other, "\(channelError)")
            }
        }
        if error is IOError { return TransportError(.closed, "upstream connection failed: \(error)") }
        return TransportError(.other, "\(error)")
    }

    /// A failure before the connection was up: refused, unresolvable, timed out, TLS.
    static func classifyConnect(_ error: any Error) -> any Error {
        let classified = classify(error)
        if let transport = classified as? TransportError, transport.kind == .closed || transport.kind == .other {
            return TransportError(.connect, "could not connect to the upstream: \(error)")
        }
        return classified
    }
}

/// Completes `done` when the TLS handshake finished (or failed), then leaves the pipeline.
final class TLSHandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let promise: EventLoopPromise<Void>
    private var completed = false

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    var done: EventLoopFuture<Void> { promise.futureResult }

    func fail(_ error: any Error) {
        guard !completed else { return }
        completed = true
        promise.fail(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event, !completed {
            completed = true
            promise.succeed(())
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(TransportError(.tls, "the upstream closed the connection during the TLS handshake"))
        context.fireChannelInactive()
    }
}
