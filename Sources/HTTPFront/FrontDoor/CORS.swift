import HTTPTypes
import NIOCore

/// Cross-origin access exactly as `server.cors_origins` says: `*` lets any web page call
/// the API (answered `Access-Control-Allow-Origin: *`), a list admits only those origins
/// (echoed, with `Vary: Origin`), an empty list sends no CORS header at all. Credentials
/// (cookies) are never allowed: the API authenticates with keys in headers, so a
/// wildcard is never combined with `Access-Control-Allow-Credentials`.
public struct CORSPolicy: Sendable {
    let allowsAnyOrigin: Bool
    let origins: Set<String>

    public init(origins: [String]) {
        allowsAnyOrigin = origins.contains("*")
        self.origins = Set(origins.filter { $0 != "*" })
    }

    /// What a browser may call with, and what scripts may read of the answers.
    static let allowedMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    static let allowedHeaders =
        "authorization, content-type, x-api-key, x-goog-api-key, x-request-id, if-match, anthropic-version, anthropic-beta, openai-organization, openai-project"
    static let exposedHeaders =
        "x-request-id, retry-after, etag, location, x-orchestrator-provider, x-orchestrator-attempts, x-orchestrator-overhead-ms, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens"

    /// The `Access-Control-Allow-Origin` value for a request from `origin`; nil when the
    /// origin is not admitted (or the request is not cross-origin).
    func allowOrigin(for origin: String?) -> String? {
        guard let origin, !origin.isEmpty else { return nil }
        if allowsAnyOrigin { return "*" }
        return origins.contains(origin) ? origin : nil
    }

    /// Adds the CORS headers of an actual (not preflight) response.
    func decorate(_ headers: inout HTTPFields, origin: String?) {
        guard let allowed = allowOrigin(for: origin) else { return }
        headers[.accessControlAllowOrigin] = allowed
        headers[.accessControlExposeHeaders] = Self.exposedHeaders
        if allowed != "*" { headers.append(HTTPField(name: .vary, value: "Origin")) }
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`): 204,
    /// with the CORS grants when the origin is admitted and none when it is not (the
    /// browser then refuses the call). Nil when the request is not a preflight.
    func preflight(method: HTTPRequest.Method, headers: HTTPFields) -> FrontResponse? {
        guard method == .options, headers.contains(.accessControlRequestMethod) else { return nil }
        var response = FrontResponse(status: .noContent, headers: [:], body: .bytes(ByteBuffer()))
        if let allowed = allowOrigin(for: headers[.origin]) {
            response.headers[.accessControlAllowOrigin] = allowed
            response.headers[.accessControlAllowMethods] = Self.allowedMethods
            response.headers[.accessControlAllowHeaders] = Self.allowedHeaders
            response.headers[.accessControlMaxAge] = "600"
            if allowed != "*" { response.headers.append(HTTPField(name: .vary, value: "Origin")) }
        }
        return response
    }
}
