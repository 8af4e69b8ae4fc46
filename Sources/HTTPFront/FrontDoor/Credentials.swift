public import HTTPTypes
import OrchestratorCore

/// Reading a client's key from a request, in every style clients use:
/// `Authorization: Bearer`, `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini).
public enum ClientCredential {
    public static func extract(headers: HTTPFields, query: String?) -> String? {
        if let authorization = headers[.authorization] {
            let trimmed = authorization.trimmingCharacters(in: .whitespaces)
            if trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " {
                let token = trimmed.dropFirst(7).trimmingCharacters(in: .whitespaces)
                if !token.isEmpty { return token }
            }
        }
        if let key = headers[.xAPIKey], !key.isEmpty { return key }
        if let key = headers[.xGoogAPIKey], !key.isEmpty { return key }
        if let query {
            for pair in query.split(separator: "&") where pair.hasPrefix("key=") {
                let value = String(pair.dropFirst(4)).removingPercentEncoding ?? ""
                if !value.isEmpty { return value }
            }
        }
        return nil
    }
}

extension HTTPField.Name {
    static let xAPIKey = HTTPField.Name("x-api-key")!
    static let xGoogAPIKey = HTTPField.Name("x-goog-api-key")!
    static let xRequestID = HTTPField.Name("x-request-id")!
    static let xAccelBuffering = HTTPField.Name("X-Accel-Buffering")!
    static let retryAfter = HTTPField.Name("Retry-After")!
    static let xOrchestratorProvider = HTTPField.Name("x-orchestrator-provider")!
    static let xOrchestratorAttempts = HTTPField.Name("x-orchestrator-attempts")!
    static let xOrchestratorOverheadMs = HTTPField.Name("x-orchestrator-overhead-ms")!
}

import Foundation
