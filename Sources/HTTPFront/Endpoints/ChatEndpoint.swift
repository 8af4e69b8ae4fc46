import HTTPTypes
import Logging
import NIOCore
import OrchestratorCore

/// An API route of one style and operation (`POST /v1/chat/completions` with the OpenAI
/// codec, `POST /v1/messages` with the Anthropic one, `/v1/embeddings`, `/v1/responses`,
/// Gemini's `generateContent`), whatever server carries it: the
/// Hummingbird routes and the NIO data plane both call ``serve(_:)``, so
/// authentication, validation, rejection logging, the engine call and the response
/// shape exist once.
struct ChatEndpoint: Sendable {
    let service: any ChatService
    let codec: any InboundCodec
    let access: AccessPolicy
    let maxBodyBytes: Int

    /// One request as the edge saw it.
    struct Call {
        var headers: RequestHeaders
        var query: String?
        /// What the path said (Gemini's model and stream flag) and the query.
        var route: RouteParameters
        /// Reads the whole body; throws ``GatewayError/payloadTooLarge(limit:)`` past the limit.
        var readBody: () async throws -> ByteBuffer
        var requestID: String
        var receivedAt: ContinuousClock.Instant
        var receivedAtMillis: Int64
        /// The server's logger. It need not carry the request's id yet: ``serve(_:)`` adds
        /// it together with the model and key (see `RequestLogHandler`).
        var logger: Logger

        /// `logger` with the request's id.
        var requestLogger: Logger { Self.requestLogger(logger, requestID: requestID) }

        /// `logger` with the id `requestID`.
        static func requestLogger(_ logger: Logger, requestID: String) -> Logger {
            var logger = logger
            logger[metadataKey: RequestLogHandler.requestIDKey] = .string(requestID)
            return logger
        }
    }

    func authenticate(_ headers: RequestHeaders, query: String?) throws(GatewayError) -> Principal {
        try access.authenticateClient(ClientCredential.extract(headers.firstValue, query: query))
    }

    /// Serves the request; throws what the front door maps to an error response.
    ///
    /// The steps between its awaits are synchronous functions, so their values live on
    /// the thread's stack rather than in this function's async frame, which a delayed
    /// request touches again after its upstream's wait (the frame was 7.3 KB with them
    /// inline).
    func serve(_ call: Call) async throws -> FrontResponse {
        let principal = try authenticate(call.headers, query: call.query)
        let inbound = try await inboundRequest(call, principal: principal)
        let logger = requestLogger(call, inbound: inbound, principal: principal)
        let result = try await service.chat(inbound, principal: principal, logger: logger)
        return try response(for: result, inbound: inbound, logger: logger)
    }

    /// What ``serve(_:send:)`` hands over: the response, or what the front door maps to
    /// an error response.
    typealias Outcome = Result<FrontResponse, any Error>

    /// Serves the request and hands its outcome to `send`, exactly once. A completion goes
    /// as soon as the engine has it, before the engine's bookkeeping (the request-log row,
    /// the metrics), which the client then does not wait for; anything else when the
    /// engine returns.
    func serve(_ call: Call, send: @Sendable (Outcome) async -> Void) async {
        let outcome: Outcome?
        do {
            let principal = try authenticate(call.headers, query: call.query)
            let inbound = try await inboundRequest(call, principal: principal)
            outcome = try await answer(inbound, principal: principal, call: call, send: send)
        } catch {
            outcome = .failure(error)
        }
        if let outcome { await send(outcome) }
    }

    /// The engine's answer for ``serve(_:send:)``: nil when it went to `send` already (a
    /// completion), else a stream's response.
    private func answer(
        _ inbound: InboundRequest, principal: Principal, call: Call, send: @Sendable (Outcome) async -> Void
    ) async throws(GatewayError) -> Outcome? {
        let logger = requestLogger(call, inbound: inbound, principal: principal)
        let result = try await service.chat(inbound, principal: principal, logger: logger) { body, route in
            await send(Result { try response(for: .completion(body, route), inbound: inbound, logger: logger) })
        }
        guard case .stream = result else { return nil }
        return Result { try response(for: result, inbound: inbound, logger: logger) }
    }

    /// The request's body read and decoded; a request that cannot be is logged as
    /// rejected, and its error thrown.
    private func inboundRequest(_ call: Call, principal: Principal) async throws -> InboundRequest {
        var body = ByteBuffer()
        do {
            if let length = call.headers.firstValue(.contentLength).flatMap(Int.init), length > maxBodyBytes {
                throw GatewayError.payloadTooLarge(limit: maxBodyBytes)
            }
            body = try await call.readBody()
            return try decoded(call, body: body)
        } catch {
            let rejection = rejection(error, call: call, principal: principal, body: body)
            await service.recordRejected(rejection)
            throw rejection.error
        }
    }

    /// The request a read body makes.
    private func decoded(_ call: Call, body: ByteBuffer) throws -> InboundRequest {
        let (chat, modelValue) = try codec.decodeChatRequestLocatingModel(body, route: call.route)
        return InboundRequest(
            style: codec.style, body: body, chat: consume chat, requestID: call.requestID,
            receivedAtMillis: call.receivedAtMillis, receivedAt: call.receivedAt,
            forwardedHeaders: Self.forwardedHeaders(call.headers, style: codec.style), operation: codec.operation,
            route: call.route, modelValue: modelValue)
    }

    private func rejection(_ error: any Error, call: Call, principal: Principal, body: ByteBuffer) -> RejectedRequest {
        let rejection = ErrorMapping.gatewayError(from: error, maxBodyBytes: maxBodyBytes)
        let peek = RequestPeek.read(body)
        return RejectedRequest(
            requestID: call.requestID, principal: principal, style: codec.style, model: call.route.model ?? peek.model,
            stream: call.route.stream ?? peek.stream, receivedAtMillis: call.receivedAtMillis,
            receivedAt: call.receivedAt, error: rejection)
    }

    /// The request's id, model and key become metadata only if a line is logged.
    private func requestLogger(_ call: Call, inbound: InboundRequest, principal: Principal) -> Logger {
        var logger = call.logger
        logger.handler = RequestLogHandler(
            base: logger.handler, requestID: call.requestID, model: inbound.chat.model, key: principal.name)
        return logger
    }

    private func response(for result: ChatResult, inbound: InboundRequest, logger: Logger) throws -> FrontResponse {
        // The gateway's own fields as values (see `GatewayFields`); `headers` only has
        // the key's rate-limit fields, when it has limits.
        var gateway = GatewayFields()
        let responseBody: FrontBody
        var keepAlive: ByteBuffer?
        switch result {
        case .completion(let completion, _):
            switch completion {
            case .raw(let raw): responseBody = .bytes(raw)
            case .canonical(let canonical): responseBody = .bytes(try codec.encodeCompletion(canonical))
            }
            gateway.contentType = .json
        case .stream(let stream, _):
            let encoder = codec.makeStreamEncoder(for: inbound)
            gateway.contentType = encoder.contentType == "text/event-stream" ? .eventStream : .other(encoder.contentType)
            gateway.streaming = true
            responseBody = .stream(streamWriter(stream, encoder: encoder, logger: logger))
            keepAlive = encoder.contentType.hasPrefix("text/event-stream") ? Self.ping : nil
        }
        gateway.setRoute(result.route)
        var headers = HTTPFields()
        headers.add(result.route.rateLimit)
        var response = FrontResponse(status: .ok, headers: headers, body: responseBody, keepAlive: keepAlive)
        response.gateway = gateway
        return response
    }

    /// An SSE comment: every SSE reader skips it.
    static let ping = ByteBuffer(string: ": ping\n\n")

    private func streamWriter(_ stream: ChatStream, encoder: any InboundStreamEncoder, logger: Logger)
        -> @Sendable ((ByteBuffer) async throws -> Void, (ByteBuffer?) async throws -> Void) async -> Bool
    {
        return { write, end in
            var encoder = encoder
            do {
                try await stream.forEach(
                    { part in
                        switch part {
                        case .raw(let bytes):
                            try await write(encoder.encodeRaw(bytes))
                        case .chunk(let chunk):
                            if let bytes = try encoder.encode(chunk) {
                                try await write(bytes)
                            }
                        }
                    },
                    afterLast: {
                        // The response ends before the engine writes the request's log.
                        try await end(encoder.finish())
                    })
            } catch let error as GatewayError where error != .clientClosedRequest {
                // The upstream failed after the stream started: the status is already
                // sent, so the failure becomes an error event.
                logger.warning("stream ended with an upstream error", metadata: ["error": "\(error.message)"])
                try? await write(encoder.encodeError(error))
            } catch {
                logger.info("client went away mid-stream")
                return false
            }
            return true
        }
    }

    /// `POST /v1/messages/count_tokens`: the request's input tokens, counted by the
    /// first target's provider when it can (Anthropic), else estimated.
    func countTokens(_ call: Call) async throws -> FrontResponse {
        let principal = try authenticate(call.headers, query: call.query)
        if let length = call.headers.firstValue(.contentLength).flatMap(Int.init), length > maxBodyBytes {
            throw GatewayError.payloadTooLarge(limit: maxBodyBytes)
        }
        let body = try await call.readBody()
        let chat = try codec.decodeTokenCountRequest(body)
        let inbound = InboundRequest(
            style: codec.style, body: body, chat: chat, requestID: call.requestID,
            receivedAtMillis: call.receivedAtMillis, receivedAt: call.receivedAt,
            forwardedHeaders: Self.forwardedHeaders(call.headers, style: codec.style))
        let count = try await service.countTokens(inbound, principal: principal, logger: call.requestLogger)
        let reply = ByteBuffer(string: #"{"input_tokens":\#(count)}"#)
        return FrontResponse(status: .ok, headers: [.contentType: "application/json"], body: .bytes(reply))
    }

    /// The client headers an upstream of the same style is meant to see.
    static func forwardedHeaders(_ headers: RequestHeaders, style: APIStyle) -> HTTPFields {
        guard style == .anthropic else { return [:] }
        var out = HTTPFields()
        for name in [HTTPField.Name.anthropicBeta, .anthropicVersion] {
            if let value = headers[name] { out[name] = value }
        }
        return out
    }
}

/// The `model` and `stream` of a body that failed validation, for its log row.
struct RequestPeek: Decodable {
    var model: String?
    var stream: Bool?

    static func read(_ body: ByteBuffer) -> (model: String?, stream: Bool) {
        let peek = try? JSONCoding.decode(RequestPeek.self, from: body)
        return (peek?.model, peek?.stream ?? false)
    }
}
