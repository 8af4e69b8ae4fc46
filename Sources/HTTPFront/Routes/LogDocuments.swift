import Foundation
import Hummingbird
import HummingbirdCore
import OrchestratorCore

/// `GET /admin/logs` filters: `model`, `provider`, `key` (key id), `status`,
/// `request_id` (the `x-request-id` a response carried), `since` and `until` (RFC 3339 or
/// epoch milliseconds; `until` exclusive), `limit` (1–1000, default 50) and `cursor`
/// (from the previous page's `next_cursor`).
enum LogQueryParser {
    static func parse(_ parameters: FlatDictionary<Substring, Substring>) throws(GatewayError) -> RequestLogQuery {
        func value(_ name: String) -> String? { parameters.get(name).map { String($0) }.flatMap { $0.isEmpty ? nil : $0 } }
        var query = RequestLogQuery()
        query.model = value("model")
        query.provider = value("provider")
        query.keyID = value("key")
        if let status = value("status") {
            guard let code = Int(status), (100...599).contains(code) else {
                throw .invalidRequest("status must be an HTTP status code", param: "status")
            }
            query.status = code
        }
        if let requestID = value("request_id") {
            // Only ids the gateway could have given a response; anything else finds nothing.
            guard RequestID.isValid(requestID) else {
                throw .invalidRequest("request_id must match [A-Za-z0-9._:-]{1,128}", param: "request_id")
            }
            query.requestID = requestID
        }
        query.sinceMillis = try value("since").map { text throws(GatewayError) in try time(text, "since") }
        query.untilMillis = try value("until").map { text throws(GatewayError) in try time(text, "until") }
        if let limit = value("limit") { query.limit = try AdminRoutes.pageLimit(limit, maximum: 1000) }
        if let cursor = value("cursor") {
            guard let decoded = Data(base64Encoded: cursor).flatMap({ String(data: $0, encoding: .utf8) }),
                let colon = decoded.firstIndex(of: ":"), let ts = Int64(decoded[..<colon])
            else { throw .invalidRequest("The cursor is not valid.", param: "cursor") }
            query.cursor = RequestLogCursor(timestampMillis: ts, id: String(decoded[decoded.index(after: colon)...]))
        }
        return query
    }

    static func time(_ text: String, _ param: String) throws(GatewayError) -> Int64 {
        if let millis = Int64(text) { return millis }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text) {
            return Int64((date.timeIntervalSince1970 * 1000).rounded())
        }
        throw .invalidRequest("\(param) must be an RFC 3339 time or epoch milliseconds", param: param)
    }

    /// The cursor that continues after `entry` (newest-first order by time, then id).
    static func cursor(after entry: RequestLogEntry) -> String {
        Data("\(entry.timestampMillis):\(entry.id)".utf8).base64EncodedString()
    }
}

/// Request-log rows as admin documents.
enum LogDocuments {
    static func time(_ millis: Int64) -> JSONValue {
        .string(Date(timeIntervalSince1970: Double(millis) / 1000).ISO8601Format(.iso8601.time(includingFractionalSeconds: true).year().month().day().dateSeparator(.dash).timeSeparator(.colon).timeZone(separator: .omitted)))
    }

    static func summary(_ e: RequestLogEntry) -> JSONValue {
        .object([
            "id": .string(e.id), "request_id": .string(e.requestID), "time": time(e.timestampMillis),
            "key_id": .string(e.keyID), "key_name": .string(e.keyName), "api_style": .string(e.apiStyle),
            "model": .string(e.model), "provider": e.provider.map { .string($0) } ?? .null,
            "upstream_model": e.upstreamModel.map { .string($0) } ?? .null, "stream": .bool(e.stream),
            "status": .int(Int64(e.status)), "attempts": .int(Int64(e.attempts)), "latency_ms": .int(e.latencyMillis),
            "ttft_ms": e.timeToFirstTokenMillis.map { .int($0) } ?? .null, "prompt_tokens": .int(Int64(e.promptTokens)),
            "completion_tokens": .int(Int64(e.completionTokens)), "cached_tokens": .int(Int64(e.cachedTokens)),
            "tokens_estimated": .bool(e.tokensEstimated), "cost_usd": .double(Double(e.costMicros) / 1_000_000),
            "error": e.errorMessage.map { .string($0) } ?? .null,
            "upstream_request_id": e.upstreamRequestID.map { .string($0) } ?? .null,
        ])
    }

    /// The summary plus the attempts and, when the key logs bodies, the bodies (as stored,
    /// already cut to the configured size).
    static func detail(_ e: RequestLogEntry) -> JSONValue {
        var doc = summary(e)
        doc = doc.mergePatched(
            with: .object([
                "attempts_detail": .array(
                    e.attemptDetails.map { a in
                        .object([
                            "provider": .string(a.provider), "model": .string(a.model),
                            "key_id": a.keyID.map { .string($0) } ?? .null, "status": .int(Int64(a.status)),
                            "error": a.error.map { .string($0) } ?? .null, "latency_ms": .int(a.latencyMs),
                        ])
                    })
            ]))
        if case .object(var members) = doc {
            members["request_body"] = e.requestBody.map { .string($0) } ?? .null
            members["response_body"] = e.responseBody.map { .string($0) } ?? .null
            doc = .object(members)
        }
        return doc
    }
}
