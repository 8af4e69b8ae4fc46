import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OrchestratorCore

/// `/v1` routes of the OpenAI style on the Hummingbird router: chat completions (the
/// same ``ChatEndpoint`` the NIO data plane serves) and the model list.
struct ChatRoutes {
    let endpoint: ChatEndpoint

    func register(on router: Router<GatewayRequestContext>) {
        let endpoint = self.endpoint
        let maxBodyBytes = endpoint.maxBodyBytes
        router.post("/v1/chat/completions") { request, context in
            let call = ChatEndpoint.Call(
                headers: request.headers, query: request.uri.query,
                readBody: { try await request.body.collect(upTo: maxBodyBytes) }, requestID: context.requestID,
                receivedAt: context.receivedAt, receivedAtMillis: context.receivedAtMillis, logger: context.logger)
            return Response(try await endpoint.chatCompletions(call))
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
