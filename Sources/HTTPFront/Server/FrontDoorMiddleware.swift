import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OrchestratorCore

/// The outermost middleware: assigns the request id, maps every error to the route's
/// error shape (Anthropic's for `/v1/messages*`, Gemini's for `/v1beta/*`, OpenAI's
/// for the rest of `/v1` and `/admin`), adds `x-request-id` to every response,
/// and writes one structured access-log line per request.
struct FrontDoorMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let codec: any InboundCodec
    let anthropicCodec: (any InboundCodec)?
    let geminiCodec: (any InboundCodec)?
    let maxBodyBytes: Int
    let clock: any GatewayClock
    var cors = CORSPolicy(origins: [])

    func handle(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        context.requestID = FrontDoor.requestID(request.headers)
        context.receivedAt = clock.now
        context.receivedAtMillis = clock.epochMillis
        context.logger[metadataKey: "request.id"] = .string(context.requestID)
        let start = context.receivedAt
        let codec = FrontDoor.errorCodec(
            path: request.uri.path, openAI: self.codec, anthropic: anthropicCodec, gemini: geminiCodec)
        var response: Response
        let origin = request.headers[.origin]
        if let preflight = cors.preflight(method: request.method, headers: request.headers) {
            // A browser's preflight: answered here for every path, before routing.
            response = Response(preflight)
            response.headers.set(.xRequestID, to: context.requestID)
            FrontDoor.logAccess(
                method: request.method, path: request.uri.path, status: response.status.code,
                elapsed: start.duration(to: clock.now), logger: context.logger)
            return response
        }
        do {
            response = try await next(request, context)
        } catch let httpError as HTTPError {
            // Hummingbird's own errors (unknown route, …), in our error shape.
            response = Response(FrontDoor.errorResponse(Self.gatewayError(httpError, request: request), codec: codec))
        } catch {
            let gatewayError = ErrorMapping.gatewayError(from: error, maxBodyBytes: maxBodyBytes)
            FrontDoor.logUnexpected(error, mapped: gatewayError, logger: context.logger)
            response = Response(FrontDoor.errorResponse(gatewayError, codec: codec))
        }
        response.headers.set(.xRequestID, to: context.requestID)
        cors.decorate(&response.headers, origin: origin)
        FrontDoor.logAccess(
            method: request.method, path: request.uri.path, status: response.status.code,
            elapsed: start.duration(to: clock.now), logger: context.logger)
        return response
    }

    static func gatewayError(_ httpError: HTTPError, request: Request) -> GatewayError {
        if httpError.status == .notFound {
            return .notFound("Unknown route: \(request.method.rawValue) \(request.uri.path)", code: "unknown_route")
        }
        return GatewayError(
            status: Int(httpError.status.code), type: "invalid_request_error",
            message: httpError.body ?? httpError.status.reasonPhrase)
    }
}
