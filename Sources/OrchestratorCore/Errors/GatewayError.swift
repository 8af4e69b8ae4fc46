/// An error the gateway answers a client with, or that an upstream call produced.
///
/// It carries everything the edge needs to answer in any API style: the HTTP status,
/// an OpenAI-style `type`, `code` and `param`, a message, and — for upstream failures —
/// whether another attempt may succeed. Build one through the static members
/// (`.invalidRequest(…)`, `.modelNotFound(…)`, `.upstream(…)`); the HTTP mapping happens
/// only at the edge.
public struct GatewayError: Error, Sendable, Hashable, CustomStringConvertible {
    /// HTTP status code returned to the client.
    public var status: Int
    /// OpenAI error `type` (`invalid_request_error`, `authentication_error`, …).
    public var type: String
    /// Machine-readable `code` (`model_not_found`, `invalid_api_key`, …).
    public var code: String?
    /// Human-readable message. Never contains a secret.
    public var message: String
    /// The request field at fault, as a path (`messages[0].content`).
    public var param: String?
    /// Seconds the client should wait before retrying (`Retry-After`).
    public var retryAfterSeconds: Int?
    /// Whether the router may try another target after this failure.
    public var isRetryable: Bool
    /// The upstream HTTP status when the failure came from an upstream.
    public var upstreamStatus: Int?
    /// The client key's rate-limit standing, sent as `x-ratelimit-*` headers.
    public var rateLimit: RateLimitStatus?

    public init(
        status: Int, type: String, code: String? = nil, message: String, param: String? = nil,
        retryAfterSeconds: Int? = nil, isRetryable: Bool = false, upstreamStatus: Int? = nil
    ) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.retryAfterSeconds = retryAfterSeconds
        self.isRetryable = isRetryable
        self.upstreamStatus = upstreamStatus
    }

    public var description: String {
        "GatewayError(\(status) \(code ?? type): \(message)\(param.map { " [param \($0)]" } ?? ""))"
    }
}

extension GatewayError {
    /// 400: no target of `model` is of a provider type that serves `operation`
    /// (embeddings from an Anthropic-only model, say).
    public static func unsupportedOperation(_ operation: APIOperation, model: String) -> GatewayError {
        let what: String
        switch operation {
        case .chat: what = "chat completions"
        case .embeddings: what = "embeddings"
        case .responses: what = "the Responses API (it needs an openai or azure target)"
        }
        return .invalidRequest(
            "No target of model `\(model)` serves \(what).", param: "model", code: "unsupported_operation")
    }

    /// 431: the request's header fields are too many or too large.
    public static let headersTooLarge = GatewayError(
        status: 431, type: "invalid_request_error", code: "request_header_fields_too_large",
        message: "The request's header fields are too many or too large.")

    /// 503: the gateway is serving as many requests as it is allowed to (`server.max_in_flight`).
    public static func overloaded(limit: Int) -> GatewayError {
        GatewayError(
            status: 503, type: "service_unavailable", code: "overloaded",
            message: "The gateway is serving its limit of \(limit) requests; retry shortly.", retryAfterSeconds: 1)
    }

    /// 503: the database did not answer (admin reads and writes, `/readyz`'s cause).
    public static let databaseUnavailable = GatewayError(
        status: 503, type: "service_unavailable", code: "database_unavailable", message: "The database is not reachable.")

    /// 400: the request is malformed or a field is out of range.
    public static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> GatewayError {
        GatewayError(status: 400, type: "invalid_request_error", code: code, message: message, param: param)
    }

    /// 401: no client key, or a key the gateway does not know.
    public static func unauthorized(_ message: String = "Invalid or missing API key.", code: String = "invalid_api_key")
        -> GatewayError
    {
        GatewayError(status: 401, type: "authentication_error", code: code, message: message)
    }

    /// 403: the key is known but may not do this.
    public static func forbidden(_ message: String, code: String = "permission_denied") -> GatewayError {
        GatewayError(status: 403, type: "permission_error", code: code, message: message)
    }

    /// 404: no model alias and no `provider/model` matches.
    public static func modelNotFound(_ model: String) -> GatewayError {
        GatewayError(
            status: 404, type: "invalid_request_error", code: "model_not_found",
            message: "The model `\(model)` does not exist or you do not have access to it.", param: "model")
    }

    /// 404 for anything else that does not exist.
    public static func notFound(_ message: String, code: String = "not_found") -> GatewayError {
        GatewayError(status: 404, type: "invalid_request_error", code: code, message: message)
    }

    /// 413: the request body is larger than `server.max_body_bytes`.
    public static func payloadTooLarge(limit: Int) -> GatewayError {
        GatewayError(
            status: 413, type: "invalid_request_error", code: "request_too_large",
            message: "Request body is larger than the limit of \(limit) bytes.")
    }

    /// 502: an upstream answered with something the gateway could not read.
    public static func badUpstreamResponse(_ message: String, provider: String? = nil) -> GatewayError {
        GatewayError(
            status: 502, type: "upstream_error", code: "bad_upstream_response",
            message: provider.map { "Upstream \($0) sent an invalid response: \(message)" } ?? message,
            isRetryable: true)
    }

    /// An upstream refused the connection, reset it, or could not be resolved.
    public static func upstreamUnreachable(_ message: String, provider: String) -> GatewayError {
        GatewayError(
            status: 502, type: "upstream_error", code: "upstream_unreachable",
            message: "Upstream \(provider) is unreachable: \(message)", isRetryable: true)
    }

    /// 504: an attempt or the whole request ran out of time.
    public static func timeout(_ message: String) -> GatewayError {
        GatewayError(status: 504, type: "timeout_error", code: "timeout", message: message, isRetryable: true)
    }

    /// 503: no target is available for the model.
    public static func noAvailableTarget(_ model: String) -> GatewayError {
        GatewayError(
            status: 503, type: "service_unavailable", code: "no_available_target",
            message: "No healthy upstream is available for model `\(model)`.", retryAfterSeconds: 1)
    }

    /// 500: a bug or an invariant that did not hold. The message must not leak internals.
    public static func internalError(_ message: String = "Internal gateway error.") -> GatewayError {
        GatewayError(status: 500, type: "internal_error", code: "internal_error", message: message)
    }

    /// 499 (logged only): the client went away before the response was complete.
    public static let clientClosedRequest = GatewayError(
        status: 499, type: "client_closed_request", code: "client_closed_request",
        message: "The client closed the connection before the response was complete.")

    /// An error status an upstream answered with, classified for the router.
    ///
    /// 400, 404, 422 and other client errors go back to the client with the upstream's
    /// status and message; 408, 409, 429, 5xx and 529 may succeed elsewhere. An upstream
    /// 401/403 means the gateway's upstream key was refused — not the client's fault —
    /// so it fails over too, and never reaches the client as a 401.
    public static func upstream(status: Int, message: String, provider: String, retryAfterSeconds: Int? = nil)
        -> GatewayError
    {
        let retryable = status == 401 || status == 403 || status == 408 || status == 409 || status == 429 || status >= 500
        let type: String
        switch status {
        case 400, 404, 413, 422: type = "invalid_request_error"
        case 429: type = "rate_limit_error"
        default: type = "upstream_error"
        }
        return GatewayError(
            status: status, type: type, code: "upstream_\(status)",
            message: "Upstream \(provider) returned \(status): \(message)",
            retryAfterSeconds: retryAfterSeconds, isRetryable: retryable, upstreamStatus: status)
    }

    /// The status a client sees for this failure once no retry is left.
    ///
    /// A client error from upstream goes back as it came; 429 stays 429 and a timeout
    /// 504; any other retryable failure becomes 502 — never a bare 500.
    public var asFinalClientError: GatewayError {
        guard isRetryable else { return self }
        var final = self
        switch status {
        case 429, 502, 504: break
        default: final.status = 502
        }
        return final
    }

    /// The error to answer with after every attempt failed (DESIGN.md §5): all rate
    /// limited → 429 with the smallest `Retry-After`; the deadline passed → 504; every
    /// attempt timed out → 504; otherwise 502 carrying the last failure's message.
    public static func exhausted(_ failures: [GatewayError], deadlinePassed: Bool, model: String) -> GatewayError {
        guard var last = failures.last else { return .noAvailableTarget(model) }
        if deadlinePassed {
            var timeout = GatewayError.timeout("The request deadline passed after \(failures.count) attempt(s); last error: \(last.message)")
            timeout.upstreamStatus = last.upstreamStatus
            return timeout
        }
        if failures.allSatisfy({ $0.status == 429 }) {
            last.retryAfterSeconds = failures.compactMap(\.retryAfterSeconds).min() ?? last.retryAfterSeconds ?? 1
            return last
        }
        if failures.allSatisfy({ $0.status == 504 }) { return last }
        last.status = 502
        if failures.count > 1 { last.message = "All \(failures.count) attempts failed; last error: \(last.message)" }
        return last
    }
}

/// The wire style of an API surface: decides request parsing and error/stream shapes.
public enum APIStyle: String, Sendable, Hashable, Codable {
    case openai
    case anthropic
    case gemini
}
