import HTTPTypes
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import OrchestratorCore

/// The NIO data plane: serves the API routes (`POST /v1/chat/completions`,
/// `/v1/messages`, `/v1/embeddings`, `/v1/responses`, Gemini's `/v1beta/models/…`)
/// straight from the channel pipeline and passes every other request on to
/// Hummingbird's responder behind it.
///
/// It sits after the HTTP/1 codec (which sees every request and response, so idle
/// timeouts and graceful shutdown work for both paths) and before the async channel that
/// feeds the router. A hot request's body is collected here, then one task, preferring
/// this connection's event loop as its executor, runs the shared ``ChatEndpoint`` and
/// writes the response.
///
/// Responses leave in request order: while a response of either path is in progress,
/// later request parts wait in a backlog (and reading pauses while it is non-empty).
final class DataPlaneHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = RequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = ResponsePart

    /// What every connection's handler shares. A class: each request's task holds it,
    /// and copying it as a struct retained (and later released) every endpoint's
    /// references, about twenty, per request.
    final class Shared: Sendable {
        /// The API endpoints this data plane serves.
        let endpoints: APIEndpoints
        let clock: any GatewayClock
        let logger: Logger
        /// How long a response may stay stuck behind a client that does not read before
        /// the connection is closed (so it cannot hold an upstream connection and key).
        let writeStallTimeout: TimeAmount
        /// Counts the requests being served, so shutdown can wait for them.
        let inFlight: InFlightRequests
        /// How long a stream may stay silent before its keep-alive comment goes out.
        let streamKeepAlive: TimeAmount
        /// Cross-origin access for browsers (`server.cors_origins`).
        let cors: CORSPolicy

        init(
            endpoints: APIEndpoints, clock: any GatewayClock, logger: Logger, writeStallTimeout: TimeAmount = .seconds(60),
            inFlight: InFlightRequests = InFlightRequests(), streamKeepAlive: TimeAmount = .seconds(15),
            cors: CORSPolicy = CORSPolicy(origins: [])
        ) {
            self.endpoints = endpoints
            self.clock = clock
            self.logger = logger
            self.writeStallTimeout = writeStallTimeout
            self.inFlight = inFlight
            self.streamKeepAlive = streamKeepAlive
            self.cors = cors
        }
    }

    private struct HotRequest: Sendable {
        var endpoint: ChatEndpoint
        var route: RouteParameters
        var head: RequestHead
        var body: ByteBuffer
        var tooLarge: Bool
        var requestID: String
        var receivedAt: ContinuousClock.Instant
        var receivedAtMillis: Int64
        /// The client sent `Connection: close`: the connection ends after the response.
        var closeAfter: Bool

        /// The request's path without its query (for the access log).
        var path: String { String(head.pathWithoutQuery) }
    }

    private enum Mode {
        case idle
        /// A hot request's head arrived; its body is being collected (into `collected`).
        case collecting
        /// A hot request is being served.
        case responding
        /// A request Hummingbird serves; `requestEnded` once its `.end` went through.
        case forwarding(requestEnded: Bool)
    }

    private let shared: Shared
    private var mode = Mode.idle
    /// The hot request being collected. Kept outside `mode` so that each body part is
    /// appended in place, without copying the request out of the enum and back.
    private var collected: HotRequest?
    private var backlog = CircularBuffer<RequestPart>()
    private var pendingRead = false
    /// Parts went on to Hummingbird since the last read-complete passed on to it.
    private var forwardedUnannounced = false
    /// The client half-closed while a request was underway: passed on once it is done.
    private var heldInputClosed = false
    /// A request error arrived behind the response in progress: close after it.
    private var closeWhenIdle = false
    /// A flush is queued on the event loop for parts written without one.
    private var flushQueued = false
    /// A stream's head, held until its first part or the queued flush, whichever comes
    /// first: the two then go through the pipeline as one part.
    private var unsentHead: ResponseHead?
    private var context: ChannelHandlerContext?
    /// The codec right ahead, when paired (``HTTP1ServerCodec/pair(_:with:)``): response
    /// parts go to it by a direct call. Nil: through the pipeline.
    var codec: HTTP1ServerCodec?
    private var executor: EventLoopTaskExecutor?
    private var inFlight: Task<Void, Never>?
    /// When a part of the hot response last went out (for the stream keep-alive).
    private var lastWriteAt = NIODeadline.now()
    /// The comment a running stream sends when silent; nil when no stream runs.
    private var keepAliveBytes: ByteBuffer?
    /// The connection's keep-alive timer. It stays armed across the streams of a kept-
    /// alive connection and re-arms itself when it fires, so a stream schedules and
    /// cancels no timer of its own (see `keepAliveFired`).
    private var keepAliveTimer: Scheduled<Void>?

    /// Told when a request's head and end arrive (slow-client deadlines); nil: none.
    private let readDeadlines: ReadDeadlineHandler?

    init(shared: Shared, readDeadlines: ReadDeadlineHandler? = nil) {
        self.shared = shared
        self.readDeadlines = readDeadlines
    }

    /// The endpoint serving a request on this data plane (and what its path says), or
    /// nil for Hummingbird's router.
    static func hotEndpoint(_ head: RequestHead, shared: Shared) -> (ChatEndpoint, RouteParameters)? {
        guard head.method == .post else { return nil }
        let target = head.path
        let queryStart = head.queryStart
        guard let (endpoint, matched) = shared.endpoints.match(path: target[..<(queryStart ?? target.endIndex)]) else {
            return nil
        }
        var route = matched
        if let queryStart { route.query = String(target[target.index(after: queryStart)...]) }
        return (endpoint, route)
    }

    // MARK: Pipeline events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.executor = EventLoopTaskExecutor(context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        inFlight?.cancel()
        stopKeepAlive()
        keepAliveTimer?.cancel()
        keepAliveTimer = nil
        codec?.unpair()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The codec ahead does not pass this event on (as Hummingbird's connection-state
        // handler did not), so `handlerRemoved` usually does the cancelling; this covers
        // pipelines where it does.
        inFlight?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client that sends its request and then shuts down its side still gets the
        // answer: the router behind would end the connection at once, so the event waits
        // until nothing of ours is underway.
        if case ChannelEvent.inputClosed = event, isBusy {
            heldInputClosed = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        read(unwrapInboundIn(data), context: context)
    }

    /// A request part from the paired codec ahead (see ``HTTP1ServerCodec/pair(_:with:)``).
    func read(_ part: RequestPart) {
        guard let context else { return }
        read(part, context: context)
    }

    private func read(_ part: RequestPart, context: ChannelHandlerContext) {
        if let readDeadlines {
            switch part {
            case .head: readDeadlines.headReceived()
            case .end: readDeadlines.requestEnded()
            case .whole:
                readDeadlines.headReceived()
                readDeadlines.requestEnded()
            case .body: break
            }
        }
        if backlog.isEmpty, canProcess(part) {
            process(part, context: context)
        } else {
            backlog.append(part)
        }
    }

    /// Passed on only when parts went on to Hummingbird: the async channel behind hands
    /// what it was given to the router on read-complete, and a hot request's parts never
    /// reach it (the event cost two more handler hops for nothing, on every read).
    func channelReadComplete(context: ChannelHandlerContext) {
        guard forwardedUnannounced else { return }
        forwardedUnannounced = false
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch mode {
        case .collecting:
            guard let hot = collected.take() else { return }
            // Our own request is malformed (a broken chunked body, say): answer 400 and
            // end the connection, as Hummingbird does for its routes.
            shared.logger.debug("malformed request", metadata: ["error": "\(error)", "request.id": "\(hot.requestID)"])
            refuse(.invalidRequest("The HTTP request is malformed."), codec: hot.endpoint.codec, requestID: hot.requestID, closing: .all)
        case .responding:
            // A malformed request behind the one being answered: Hummingbird would answer
            // it out of order, so the connection ends once the current response is out.
            shared.logger.debug("closing connection after a request error", metadata: ["error": "\(error)"])
            closeWhenIdle = true
            backlog.removeAll()
        case .idle where error is HTTPParserError:
            // A request head the codec refused: too many or too large header fields (its
            // limits) are a 431, anything else a 400, both in the documented error shape
            // (Hummingbird's own answer has no body). Only the output is closed: closing
            // all with the rest of the request unread would reset the connection and lose
            // the answer. The client closes its side (or the request deadline does).
            let tooLarge = (error as? HTTPParserError) == .headerOverflow
            if tooLarge {
                shared.logger.info("request header fields too large; closing the connection")
            } else {
                shared.logger.debug("malformed request head; closing the connection", metadata: ["error": "\(error)"])
            }
            refuse(
                tooLarge ? .headersTooLarge : .invalidRequest("The HTTP request is malformed."),
                codec: shared.endpoints.chat.codec, requestID: RequestID.generate(), closing: .output)
        case .idle, .forwarding:
            context.fireErrorCaught(error)
        }
    }

    /// Answers `error` to a request that cannot be served and closes the connection (or
    /// its `mode` side) after the answer.
    private func refuse(_ error: GatewayError, codec: any InboundCodec, requestID: String, closing mode: CloseMode) {
        guard let context else { return }
        self.mode = .responding
        var response = FrontDoor.errorResponse(error, codec: codec)
        response.gateway.close = true
        response.gateway.requestID = requestID
        let (head, body) = Self.head(of: response)
        close(mode, after: writeResponse(head: head, body: body, end: true), context: context)
    }

    /// Closes the connection (or its `mode` side) once `written` is done.
    private func close(_ mode: CloseMode, after written: Written, context: ChannelHandlerContext) {
        let channel = context.channel
        if case .pending(let future) = written {
            future.whenComplete { _ in channel.close(mode: mode, promise: nil) }
        } else {
            channel.close(mode: mode, promise: nil)
        }
    }

    func read(context: ChannelHandlerContext) {
        if backlog.isEmpty {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Hummingbird's responses pass through here; their end frees the connection.
        let part = unwrapOutboundIn(data)
        let isEnd: Bool
        if case .end = part { isEnd = true } else { isEnd = false }
        write(ResponsePart(part), promise: promise, context: context)
        if isEnd, case .forwarding = mode {
            mode = .idle
            drainBacklog(context: context)
        }
    }

    // MARK: Request parts

    /// Whether a hot request or queued parts are underway.
    private var isBusy: Bool {
        switch mode {
        case .collecting, .responding: return true
        case .idle, .forwarding: return !backlog.isEmpty
        }
    }

    private func canProcess(_ part: RequestPart) -> Bool {
        switch mode {
        case .responding: return false
        case .forwarding(let requestEnded): return !requestEnded
        case .idle, .collecting: return true
        }
    }

    private func process(_ part: RequestPart, context: ChannelHandlerContext) {
        switch (mode, part) {
        case (.idle, .head(let head)):
            if !collect(head) {
                mode = .forwarding(requestEnded: false)
                forward(part, context: context)
            }
        case (.idle, .whole(let head, let body)):
            if collect(head) {
                if let body { append(body) }
                mode = .responding
                if let hot = collected.take() { serve(hot, context: context) }
            } else {
                mode = .forwarding(requestEnded: true)
                forward(part, context: context)
            }
        case (.collecting, .body(let bytes)):
            append(bytes)
        case (.collecting, .end):
            mode = .responding
            if let hot = collected.take() { serve(hot, context: context) }
        case (.forwarding, .end):
            mode = .forwarding(requestEnded: true)
            forward(part, context: context)
        default:
            // Parts of a request Hummingbird is already answering (it drains the body
            // of a request it rejected early): they are its business.
            forward(part, context: context)
        }
    }

    /// Starts collecting a hot request (`mode` becomes `.collecting`); false for a
    /// request Hummingbird serves.
    private func collect(_ head: RequestHead) -> Bool {
        guard let (endpoint, route) = Self.hotEndpoint(head, shared: shared) else { return false }
        mode = .collecting
        collected = HotRequest(
            endpoint: endpoint, route: route, head: head, body: ByteBuffer(), tooLarge: false,
            requestID: FrontDoor.requestID(given: head.fields.firstValue(.xRequestID)), receivedAt: shared.clock.now,
            receivedAtMillis: shared.clock.epochMillis, closeAfter: head.closes)
        return true
    }

    /// Adds a part of the collected request's body, up to the endpoint's limit.
    private func append(_ bytes: ByteBuffer) {
        guard collected?.tooLarge == false else { return }
        var bytes = bytes
        if collected!.body.readableBytes + bytes.readableBytes > collected!.endpoint.maxBodyBytes {
            collected!.tooLarge = true
            collected!.body = ByteBuffer()
        } else if collected!.body.readableBytes == 0 {
            collected!.body = bytes
        } else {
            collected!.body.writeBuffer(&bytes)
        }
    }

    /// Passes a part on to Hummingbird, as the parts it takes.
    private func forward(_ part: RequestPart, context: ChannelHandlerContext) {
        forwardedUnannounced = true
        part.forEachHTTPPart { context.fireChannelRead(wrapInboundOut($0)) }
    }

    private func drainBacklog(context: ChannelHandlerContext) {
        while let part = backlog.first, canProcess(part) {
            backlog.removeFirst()
            process(part, context: context)
        }
        // The async channel behind hands what it read to the router on read-complete.
        if forwardedUnannounced {
            forwardedUnannounced = false
            context.fireChannelReadComplete()
        }
        if heldInputClosed, !isBusy {
            heldInputClosed = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        if backlog.isEmpty, pendingRead {
            pendingRead = false
            context.read()
        }
    }

    // MARK: Serving a hot request

    private func serve(_ hot: HotRequest, context: ChannelHandlerContext) {
        guard shared.inFlight.tryEnter() else {
            shed(hot)
            return
        }
        let sink = ResponseSink(handler: NIOLoopBound(self, eventLoop: context.eventLoop))
        inFlight = Self.startTask(hot, shared: shared, sink: sink, executor: executor)
    }

    /// Over `server.max_in_flight`: a 503 with `Retry-After` at once, before any work (no
    /// authentication, no log row: the point is to spend nothing), counted in the metrics.
    private func shed(_ hot: HotRequest) {
        Self.shedCounter.increment()
        var response = FrontDoor.errorResponse(.overloaded(limit: shared.inFlight.limit), codec: hot.endpoint.codec)
        response.gateway.requestID = hot.requestID
        response.gateway.close = hot.closeAfter
        shared.cors.decorate(&response.headers, origin: hot.head.fields.firstValue(.origin))
        FrontDoor.logAccess(
            method: hot.head.method, path: hot.path, status: 503, elapsed: hot.receivedAt.duration(to: shared.clock.now),
            requestID: hot.requestID, logger: shared.logger)
        let (head, body) = Self.head(of: response)
        let written = writeResponse(head: head, body: body, end: true)
        responseFinished(completed: !written.clientGone, close: hot.closeAfter)
    }

    private static let shedCounter = Counter(label: "orchestrator_requests_shed_total")

    private static func startTask(
        _ hot: HotRequest, shared: Shared, sink: ResponseSink, executor: EventLoopTaskExecutor?
    ) -> Task<Void, Never> {
        Task(executorPreference: executor) {
            // One slab for every frame below, allocated at once (see TaskStack).
            await TaskStack.reserve()
            await respond(to: hot, shared: shared, sink: sink)
            shared.inFlight.leave()
        }
    }

    private static func respond(to hot: HotRequest, shared: Shared, sink: ResponseSink) async {
        let endpoint = hot.endpoint
        let path = hot.path
        let body = hot.body
        // The limit, not the endpoint: the closure then retains one buffer, not the
        // endpoint's references.
        let limit = hot.tooLarge ? endpoint.maxBodyBytes : nil
        let call = ChatEndpoint.Call(
            headers: RequestHeaders(raw: hot.head.fields), query: hot.route.query, route: hot.route,
            readBody: {
                if let limit { throw GatewayError.payloadTooLarge(limit: limit) }
                return body
            }, requestID: hot.requestID, receivedAt: hot.receivedAt, receivedAtMillis: hot.receivedAtMillis,
            logger: shared.logger)
        // A completion is written from inside the engine's call, before its bookkeeping.
        await endpoint.serve(call) { outcome in
            var response: FrontResponse
            switch outcome {
            case .success(let served):
                response = served
            case .failure(let error):
                let mapped = ErrorMapping.gatewayError(from: error, maxBodyBytes: endpoint.maxBodyBytes)
                let logger = ChatEndpoint.Call.requestLogger(shared.logger, requestID: hot.requestID)
                FrontDoor.logUnexpected(error, mapped: mapped, logger: logger)
                response = FrontDoor.errorResponse(mapped, codec: endpoint.codec)
            }
            response.gateway.requestID = hot.requestID
            response.gateway.close = hot.closeAfter
            shared.cors.decorate(&response.headers, origin: hot.head.fields.firstValue(.origin))
            FrontDoor.logAccess(
                method: hot.head.method, path: path, status: response.status.code,
                elapsed: hot.receivedAt.duration(to: shared.clock.now), requestID: hot.requestID, logger: shared.logger)
            await sink.send(response, thenClose: hot.closeAfter)
        }
    }

    /// The head of a response, and its body when it is complete (with its length set).
    static func head(of response: FrontResponse) -> (ResponseHead, ByteBuffer?) {
        var head = ResponseHead(
            response: HTTPResponse(status: response.status, headerFields: response.headers), gateway: response.gateway)
        guard case .bytes(let bytes) = response.body else { return (head, nil) }
        head.gateway.contentLength = bytes.readableBytes
        return (head, bytes)
    }

    /// A response head as the data plane writes it: its fields, and the gateway's own.
    struct ResponseHead: Sendable {
        var response: HTTPResponse
        var gateway: GatewayFields
    }

    /// What writing parts of the hot response came to.
    fileprivate enum Written: Sendable {
        /// The client is gone: nothing was written.
        case gone
        /// Queued, or already written: the caller goes on without waiting.
        case queued
        /// The caller waits for this: the parts reached the socket (or failed to).
        case pending(EventLoopFuture<Void>)

        var clientGone: Bool {
            if case .gone = self { true } else { false }
        }
    }

    /// Writes the given parts of the hot response (on the event loop).
    ///
    /// `flushNow` false (stream parts) leaves the flush to a task queued behind the
    /// current one on the event loop: parts written in one run of the response task
    /// (a head and the events of one upstream read, say) leave in one system call, and
    /// a part is never held longer than it takes the task to wait for more.
    @discardableResult
    fileprivate func writeResponse(head: ResponseHead?, body: ByteBuffer?, end: Bool, flushNow: Bool = true) -> Written {
        precondition(head != nil || body != nil || end, "nothing to write")
        guard let context else { return .gone }
        let channel = context.channel
        guard channel.isActive else { return .gone }
        lastWriteAt = .now()
        var head = head
        if head == nil {
            head = unsentHead.take()
        } else if body == nil, !end, !flushNow, !heldInputClosed, channel.isWritable {
            // A stream's head: it goes with the first part, or alone at the queued flush.
            unsentHead = head
            queueFlush(context)
            return .queued
        }
        var promise: EventLoopPromise<Void>?
        if let head, let body, end {
            // A whole response (a completion, an error) in one part.
            promise = context.eventLoop.makePromise()
            write(.whole(head.response, body, head.gateway), promise: promise, context: context)
        } else if head == nil, let body, end {
            // A stream's closing bytes and its end.
            promise = context.eventLoop.makePromise()
            write(.last(body), promise: promise, context: context)
        } else if let head, let body {
            // A stream's head and its first events.
            write(.headAndBody(head.response, body, head.gateway), promise: nil, context: context)
        } else {
            if let head { write(.head(head.response, head.gateway), promise: nil, context: context) }
            if let body { write(.body(body), promise: nil, context: context) }
            if end {
                promise = context.eventLoop.makePromise()
                write(.end(nil), promise: promise, context: context)
            }
        }
        // Wait while the client is behind, so a slow client slows the stream down
        // instead of filling memory; and at every part once the client has closed its
        // side (it may be gone: the first write that fails must stop the stream).
        let mustWait = flushNow || heldInputClosed || !channel.isWritable
        if mustWait, promise == nil {
            // The promise rides on an empty body part behind the parts: the HTTP/1
            // codec sends nothing for it and completes it in order.
            let marker = context.eventLoop.makePromise(of: Void.self)
            write(.body(ByteBuffer()), promise: marker, context: context)
            promise = marker
        }
        if flushNow {
            flushQueued = false
            context.flush()
        } else {
            queueFlush(context)
        }
        guard mustWait, let promise else { return .queued }
        // Usually the socket took the parts during the flush: then there is nothing to
        // wait for, and the response task goes on without suspending.
        switch watchForStall(promise.futureResult, context: context) {
        case true?: return .queued
        case false?: return .gone
        case nil: return .pending(promise.futureResult)
        }
    }

    /// Writes a response part: to the paired codec by a direct call, else down the
    /// pipeline.
    private func write(_ part: ResponsePart, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        if let codec {
            codec.writePart(part, promise: promise)
        } else {
            context.write(wrapOutboundOut(part), promise: promise)
        }
    }

    /// Flushes behind the current task on the event loop (once, however many parts).
    private func queueFlush(_ context: ChannelHandlerContext) {
        guard !flushQueued else { return }
        flushQueued = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = handler.value
            guard handler.flushQueued, let context = handler.context else { return }
            handler.flushQueued = false
            handler.sendUnsentHead(context)
            context.flush()
        }
    }

    /// Writes a stream's held head, if any, ahead of whatever is written next.
    private func sendUnsentHead(_ context: ChannelHandlerContext) {
        if let head = unsentHead.take() { write(.head(head.response, head.gateway), promise: nil, context: context) }
    }

    /// While a stream runs: every time it has been silent for `streamKeepAlive`, `bytes`
    /// go out (on the event loop, so between whole parts, never inside one).
    fileprivate func startKeepAlive(_ bytes: ByteBuffer) {
        keepAliveBytes = bytes
        if keepAliveTimer == nil { armKeepAlive(at: lastWriteAt + shared.streamKeepAlive) }
    }

    fileprivate func stopKeepAlive() {
        keepAliveBytes = nil
    }

    private func armKeepAlive(at deadline: NIODeadline) {
        guard let context else { return }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        keepAliveTimer = context.eventLoop.scheduleTask(deadline: deadline) { handler.value.keepAliveFired() }
    }

    /// Sends the comment if the stream has been silent for the interval, and re-arms
    /// for the next time it could be; lets the timer lapse once no stream runs.
    private func keepAliveFired() {
        keepAliveTimer = nil
        guard let bytes = keepAliveBytes, let context, context.channel.isActive else { return }
        let interval = shared.streamKeepAlive
        // A little slack: a part that went out just under an interval ago still counts.
        if NIODeadline.now() - lastWriteAt >= interval - .milliseconds(10) {
            lastWriteAt = .now()
            sendUnsentHead(context)
            write(.body(bytes), promise: nil, context: context)
            context.flush()
        }
        armKeepAlive(at: lastWriteAt + interval)
    }

    /// Closes the connection when `written` (a write the response task waits for) has
    /// not reached the socket within the write-stall timeout: the client stopped
    /// reading. Nothing is scheduled when the write is already done: then the result is
    /// whether it succeeded; nil while it is pending.
    private func watchForStall(_ written: EventLoopFuture<Void>, context: ChannelHandlerContext) -> Bool? {
        let done = NIOLoopBoundBox(Bool?.none, eventLoop: context.eventLoop)
        written.whenComplete { result in
            if case .success = result { done.value = true } else { done.value = false }
        }
        if let finished = done.value { return finished }
        let channel = context.channel
        let logger = shared.logger
        let check = context.eventLoop.scheduleTask(in: shared.writeStallTimeout) {
            logger.info("closing a connection whose client stopped reading")
            channel.close(promise: nil)
        }
        written.whenComplete { _ in check.cancel() }
        return nil
    }

    /// The hot response is complete (or abandoned): the next request may go.
    fileprivate func responseFinished(completed: Bool, close: Bool) {
        inFlight = nil
        guard let context else { return }
        guard completed, !close, !closeWhenIdle, context.channel.isActive else {
            // Asked to, or a response cut short leaves the connection in an unknown state.
            context.close(promise: nil)
            return
        }
        mode = .idle
        drainBacklog(context: context)
    }
}

/// Writes a hot response from its task onto the connection, awaiting each write so a
/// slow client slows the stream down instead of filling memory.
private struct ResponseSink: Sendable {
    let handler: NIOLoopBound<DataPlaneHandler>

    func send(_ response: FrontResponse, thenClose close: Bool) async {
        let (head, body) = DataPlaneHandler.head(of: response)
        var completed = false
        switch response.body {
        case .bytes:
            completed = await write(head: head, body: body, end: true)
        case .stream(let produce):
            // The stream runs even when the head could not be written: its first write
            // then fails, so the engine cancels the upstream call, releases the key and
            // records the 499. The head and the parts go out with a queued flush (see
            // `writeResponse`). A part is awaited only while the client is behind or
            // once it has closed its side (a client that left while the upstream was
            // starting has: its end of input arrived, since the connection reads while
            // a response runs); a failed write closes the channel, which the next part
            // notices. The end is flushed at once and awaited, so a stream that arrived
            // in one upstream read leaves in one system call, head to end. It is
            // written when the producer says its last part is out (before the engine's
            // bookkeeping), or else when it returns.
            let headWritten = await write(head: head, flushNow: false)
            if headWritten, let keepAlive = response.keepAlive {
                _ = await onLoop(keepAlive) { handler, keepAlive in handler.startKeepAlive(keepAlive) }
            }
            var ended: Bool?
            let finished = await produce(
                { bytes in
                    let written = await write(body: bytes, flushNow: false)
                    guard headWritten, written else { throw CancellationError() }
                },
                { last in
                    guard ended == nil else { return }
                    let written = await endStream(writing: headWritten, last: last)
                    ended = written
                    guard written else { throw CancellationError() }
                })
            if let ended {
                completed = ended
            } else {
                completed = await endStream(writing: finished && headWritten, last: nil)
            }
        }
        _ = await onLoop((completed, close)) { handler, end in handler.responseFinished(completed: end.0, close: end.1) }
    }

    /// Stops a stream's keep-alive and, when `writing`, ends its body after its `last`
    /// bytes; false when nothing was written or the client is gone.
    private func endStream(writing: Bool, last: ByteBuffer?) async -> Bool {
        _ = await onLoop(()) { handler, _ in handler.stopKeepAlive() }
        return writing ? await write(body: last, end: true) : false
    }

    /// Writes parts; false when the client is gone. Flushed now (or asked to), it waits
    /// until they reached the socket; otherwise only while the client is behind (the
    /// channel not writable), without a wait per part for a client that keeps up.
    private func write(
        head: DataPlaneHandler.ResponseHead? = nil, body: ByteBuffer? = nil, end: Bool = false, flushNow: Bool = true
    ) async -> Bool {
        let written = await onLoop((head, body, end, flushNow)) { handler, parts in
            handler.writeResponse(head: parts.0, body: parts.1, end: parts.2, flushNow: parts.3)
        }
        switch written {
        case .queued?: return true
        case .gone?, nil: return false
        case .pending(let future)?:
            do {
                try await future.get()
                return true
            } catch {
                return false
            }
        }
    }

    /// Runs `body` with `argument` on the connection's event loop (where the task normally
    /// already is); nil when the loop no longer runs. `body` gets what it works on as an
    /// argument rather than capturing it, so on the loop no closure context is allocated:
    /// this runs for every write of every response.
    private func onLoop<Argument: Sendable, T: Sendable>(
        _ argument: Argument, _ body: @escaping @Sendable (DataPlaneHandler, Argument) -> T
    ) async -> T? {
        let handler = self.handler
        if handler.eventLoop.inEventLoop { return body(handler.value, argument) }
        return try? await handler.eventLoop.submit { body(handler.value, argument) }.get()
    }
}
