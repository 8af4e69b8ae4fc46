import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OrchestratorCore

/// `/v1` and `/v1beta` API routes on the Hummingbird router: the same ``ChatEndpoint``s
/// the NIO data plane serves (for embedders that use the router alone), token counting
/// and the model list.
struct ChatRoutes {
    let endpoints: APIEndpoints

    func register(on router: Router<GatewayRequestContext>) {
        let endpoints = self.endpoints
        for path in ["/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/responses"] {
            // Bound here: the router also takes paths that differ only in slashes.
            guard let (endpoint, route) = endpoints.match(path: path[...]) else { continue }
            router.post(RouterPath(path)) { request, context in
                var parameters = route
                parameters.query = request.uri.query
                return Response(try await endpoint.serve(Self.call(request, context, endpoint: endpoint, route: parameters)))
            }
        }
        if endpoints.gemini != nil {
            router.post("/v1beta/models/**") { request, context in
                try await Self.serve(request, context, endpoints: endpoints)
            }
        }
        if let messages = endpoints.messages {
            router.post("/v1/messages/count_tokens") { request, context in
                Response(try await messages.countTokens(Self.call(request, context, endpoint: messages, route: RouteParameters())))
            }
        }
        let endpoint = endpoints.chat
        router.get("/v1/models") { request, context in
            let principal = try endpoint.authenticate(RequestHeaders(request.headers), query: request.uri.query)
            let list = ModelList(data: endpoint.service.models(for: principal))
            return try jsonResponse(list)
        }
        router.get("/v1/models/{id}") { request, context in
            let principal = try endpoint.authenticate(RequestHeaders(request.headers), query: request.uri.query)
            let raw = context.parameters.get("id") ?? ""
            // Percent-decoded, as clients encode aliases with spaces, `:` or non-ASCII.
            let id = raw.removingPercentEncoding ?? raw
            guard let model = endpoint.service.models(for: principal).first(where: { $0.id == id }) else {
                throw GatewayError.modelNotFound(id)
            }
            return try jsonResponse(model)
        }
    }

    private static func serve(_ request: Request, _ context: GatewayRequestContext, endpoints: APIEndpoints) async throws
        -> Response
    {
        guard let (endpoint, route) = endpoints.match(path: request.uri.path[...]) else {
            throw GatewayError.notFound("Unknown route: POST \(request.uri.path)", code: "unknown_route")
        }
        var parameters = route
        parameters.query = request.uri.query
        return Response(try await endpoint.serve(call(request, context, endpoint: endpoint, route: parameters)))
    }

    private static func call(
        _ request: Request, _ context: GatewayRequestContext, endpoint: ChatEndpoint, route: RouteParameters
    ) -> ChatEndpoint.Call {
        let maxBodyBytes = endpoint.maxBodyBytes
        return ChatEndpoint.Call(
            headers: RequestHeaders(request.headers), query: request.uri.query, route: route,
            readBody: { try await request.body.collect(upTo: maxBodyBytes) }, requestID: context.requestID,
            receivedAt: context.receivedAt, receivedAtMillis: context.receivedAtMillis, logger: context.logger)
    }
}

extension Response {
    /// A Hummingbird response carrying a ``FrontResponse``.
    init(_ front: FrontResponse) {
        switch front.body {
        case .bytes(let bytes):
            self.init(status: front.status, headers: front.allHeaders, body: ResponseBody(byteBuffer: bytes))
        case .stream(let produce):
            self.init(
                status: front.status, headers: front.allHeaders,
                body: ResponseBody { writer in
                    // Hummingbird ends the body when the producer returns.
                    let completed = await produce(
                        { @concurrent bytes in try await writer.write(bytes) },
                        { @concurrent last in if let last { try await writer.write(last) } })
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
