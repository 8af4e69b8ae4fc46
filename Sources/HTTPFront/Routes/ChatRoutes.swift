import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OrchestratorCore

/// `/v1` routes on the Hummingbird router: chat completions and Anthropic messages
/// (the same ``ChatEndpoint``s the NIO data plane serves), token counting and the model list.
struct ChatRoutes {
    let endpoint: ChatEndpoint
    /// `/v1/messages`, when the Anthropic codec is present.
    let messages: ChatEndpoint?

    func register(on router: Router<GatewayRequestContext>) {
        let endpoint = self.endpoint
        router.post("/v1/chat/completions") { request, context in
            Response(try await endpoint.serve(Self.call(request, context, maxBodyBytes: endpoint.maxBodyBytes)))
        }
        if let messages {
            router.post("/v1/messages") { request, context in
                Response(try await messages.serve(Self.call(request, context, maxBodyBytes: messages.maxBodyBytes)))
            }
            router.post("/v1/messages/count_tokens") { request, context in
                Response(try await messages.countTokens(Self.call(request, context, maxBodyBytes: messages.maxBodyBytes)))
            }
        }
        router.get("/v1/models") { request, context in
            let principal = try endpoint.authenticate(request.headers, query: request.uri.query)
            let list = ModelList(data: endpoint.service.models(for: principal))
            return try jsonResponse(list)
        }
        router.get("/v1/models/{id}") { request, context in
            let principal = try endpoint.authenticate(request.headers, query: request.uri.query)
            let id = context.parameters.get("id") ?? ""
            guard let model = endpoint.service.models(for: principal).first(where: { $0.id == id }) else {
                throw GatewayError.modelNotFound(id)
            }
            return try jsonResponse(model)
        }
    }

    private static func call(_ request: Request, _ context: GatewayRequestContext, maxBodyBytes: Int) -> ChatEndpoint.Call {
        ChatEndpoint.Call(
            headers: request.headers, query: request.uri.query,
            readBody: { try await request.body.collect(upTo: maxBodyBytes) }, requestID: context.requestID,
            receivedAt: context.receivedAt, receivedAtMillis: context.receivedAtMillis, logger: context.logger)
    }
}

extension Response {
    /// A Hummingbird response carrying a ``FrontResponse``.
    init(_ front: FrontResponse) {
        switch front.body {
        case .bytes(let bytes):
            self.init(status: front.status, headers: front.headers, body: ResponseBody(byteBuffer: bytes))
        case .stream(let produce):
            self.init(
                status: front.status, headers: front.headers,
                body: ResponseBody { writer in
                    let completed = await produce { bytes in try await writer.write(bytes) }
                    if completed { try? await writer.finish(nil) }
                })
        }
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
