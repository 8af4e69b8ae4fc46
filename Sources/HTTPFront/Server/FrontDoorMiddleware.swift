import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OrchestratorCore

/// The outermost middleware: assigns the request id, maps every error to the route's
/// error shape (OpenAI's for `/v1` and `/admin`), adds `x-request-id` to every response,
/// and writes one structured access-log line per request.
struct FrontDoorMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let codec: any InboundCodec
    let maxBodyBytes: Int
    let clock: any GatewayClock

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        let incoming = request.headers[.xRequestID]
        context.requestID = incoming.flatMap { RequestID.isValid($0) ? $0 : nil } ?? RequestID.generate()
        context.receivedAt = clock.now
        context.receivedAtMillis = clock.epochMillis
        context.logger[metadataKey: "request.id"] = .string(context.requestID)
        let start = context.receivedAt
        var response: Response
        do {
            response = try await next(request, context)
        } catch let httpError as HTTPError {
            // Hummingbird's own errors (unknown route, …), in our error shape.
            response = Self.errorResponse(Self.gatewayError(httpError, request: request), codec: codec)
        } catch {
            let gatewayError = ErrorMapping.gatewayError(from: error, maxBodyBytes: maxBodyBytes)
            if gatewayError.status == 500 {
                context.logger.error("unhandled error", metadata: ["error": "\(Redaction.scrub(String(describing: error)))"])
            }
            response = Self.errorResponse(gatewayError, codec: codec)
        }
        response.headers[.xRequestID] = context.requestID
        let elapsed = start.duration(to: clock.now)
        context.logger.info(
            "request",
            metadata: [
                "http.method": "\(request.method.rawValue)", "http.path": "\(request.uri.path)",
                "http.status": "\(response.status.code)",
                "duration_ms": "\(Double(elapsed.totalMicroseconds) / 1000)",
            ])
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

    static func errorResponse(_ error: GatewayError, codec: any InboundCodec) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = error.retryAfterSeconds, error.status == 429 || error.status == 503 {
            headers[.retryAfter] = String(retryAfter)
        }
        return Response(
            status: HTTPResponse.Status(code: error.status == 499 ? 400 : error.status), headers: headers,
            body: ResponseBody(byteBuffer: codec.encodeError(error)))
    }
}
