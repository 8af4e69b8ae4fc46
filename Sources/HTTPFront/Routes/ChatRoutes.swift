import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OrchestratorCore

/// `/v1` routes of the OpenAI style: chat completions and the model list.
struct ChatRoutes {
    let service: any ChatService
    let codec: any InboundCodec
    let access: AccessPolicy
    let maxBodyBytes: Int

    func register(on router: Router<GatewayRequestContext>) {
        router.post("/v1/chat/completions") { request, context in
            try await chatCompletions(request, context: context)
        }
        router.get("/v1/models") { request, context in
            let principal = try authenticate(request)
            let list = ModelList(data: service.models(for: principal))
            return try jsonResponse(list)
        }
        router.get("/v1/models/{id}") { request, context in
            let principal = try authenticate(request)
            let id = context.parameters.get("id") ?? ""
            guard let model = service.models(for: principal).first(where: { $0.id == id }) else {
                throw GatewayError.modelNotFound(id)
            }
            return try jsonResponse(model)
        }
    }

    private func authenticate(_ request: Request) throws(GatewayError) -> Principal {
        try access.authenticateClient(ClientCredential.extract(headers: request.headers, query: request.uri.query))
    }

    private func chatCompletions(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let principal = try authenticate(request)
        var body = ByteBuffer()
        let chat: ChatRequest
        do {
            if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
                throw GatewayError.payloadTooLarge(limit: maxBodyBytes)
            }
            body = try await request.body.collect(upTo: maxBodyBytes)
            chat = try codec.decodeChatRequest(body)
        } catch {
            let rejection = ErrorMapping.gatewayError(from: error, maxBodyBytes: maxBodyBytes)
            let peek = RequestPeek.read(body)
            await service.recordRejected(
                RejectedRequest(
                    requestID: context.requestID, principal: principal, style: codec.style, model: peek.model,
                    stream: peek.stream, receivedAtMillis: context.receivedAtMillis, receivedAt: context.receivedAt,
                    error: rejection))
            throw rejection
        }
        let inbound = InboundRequest(
            style: codec.style, body: body, chat: chat, requestID: context.requestID,
            receivedAtMillis: context.receivedAtMillis, receivedAt: context.receivedAt)
        var logger = context.logger
        logger[metadataKey: "model"] = .string(chat.model)
        logger[metadataKey: "key"] = .string(principal.name)
        let result = try await service.chat(inbound, principal: principal, logger: logger)
        var response: Response
        switch result {
        case .completion(let completion, _):
            let bytes: ByteBuffer
            switch completion {
            case .raw(let raw): bytes = raw
            case .canonical(let canonical): bytes = try codec.encodeCompletion(canonical)
            }
            response = Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: bytes))
        case .stream(let stream, _):
            response = streamResponse(stream, includeUsage: chat.wantsStreamUsage, logger: logger)
        }
        response.headers[.xOrchestratorProvider] = result.route.provider
        response.headers[.xOrchestratorAttempts] = String(result.route.attempts)
        response.headers[.xOrchestratorOverheadMs] = result.route.overheadMillisecondsText
        return response
    }

    private func streamResponse(_ stream: ChatStream, includeUsage: Bool, logger: Logger) -> Response {
        let codec = self.codec
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-cache", .xAccelBuffering: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                do {
                    try await stream.forEach { part in
                        switch part {
                        case .raw(let bytes):
                            try await writer.write(bytes)
                        case .chunk(let chunk):
                            if let bytes = try codec.encodeChunk(chunk, includeUsage: includeUsage) {
                                try await writer.write(bytes)
                            }
                        }
                    }
                    if let terminator = codec.streamTerminator { try await writer.write(terminator) }
                } catch let error as GatewayError where error != .clientClosedRequest {
                    // The upstream failed after the stream started: the status is already
                    // sent, so the failure becomes an error event.
                    logger.warning("stream ended with an upstream error", metadata: ["error": "\(error.message)"])
                    try? await writer.write(codec.encodeStreamError(error))
                } catch {
                    logger.info("client went away mid-stream")
                    return
                }
                try? await writer.finish(nil)
            })
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

struct ModelList: Encodable {
    var object = "list"
    var data: [ModelInfo]
}

func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let bytes: ByteBuffer
    do {
        bytes = try JSONCoding.encode(value)
    } catch {
        throw GatewayError.internalError("Could not encode the response.")
    }
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: bytes))
}
