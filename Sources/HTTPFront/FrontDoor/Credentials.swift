public import HTTPTypes
import OrchestratorCore

/// Reading a client's key from a request, in every style clients use:
/// `Authorization: Bearer`, `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini).
public enum ClientCredential {
    public static func extract(headers: HTTPFields, query: String?) -> String? {
        extract(headers.firstValue, query: query)
    }

    /// The key, reading fields through `firstValue` (the first value of a field by name).
    static func extract(_ firstValue: (HTTPField.Name) -> String?, query: String?) -> String? {
        if let authorization = firstValue(.authorization), let token = bearerToken(authorization) { return token }
        if let key = firstValue(.xAPIKey), !key.isEmpty { return key }
        if let key = firstValue(.xGoogAPIKey), !key.isEmpty { return key }
        if let query {
            for pair in query.split(separator: "&") where pair.hasPrefix("key=") {
                let value = String(pair.dropFirst(4)).removingPercentEncoding ?? ""
                if !value.isEmpty { return value }
            }
        }
        return nil
    }

    /// The token of `Bearer <token>` (scheme case-insensitive, spaces and tabs around
    /// it ignored), scanned over the string's bytes: this runs for every request.
    static func bearerToken(_ value: String) -> String? {
        var value = value
        return value.withUTF8 { bytes -> String? in
            func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
            var start = 0
            var end = bytes.count
            while start < end, isBlank(bytes[start]) { start += 1 }
            while end > start, isBlank(bytes[end - 1]) { end -= 1 }
            let scheme = "bearer".utf8
            guard end - start > scheme.count + 1 else { return nil }
            for letter in scheme {
                guard bytes[start] | 0x20 == letter else { return nil }
                start += 1
            }
            guard isBlank(bytes[start]) else { return nil }
            while start < end, isBlank(bytes[start]) { start += 1 }
            guard start < end else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
    }
}

extension HTTPField.Name {
    static let xAPIKey = HTTPField.Name("x-api-key")!
    static let xGoogAPIKey = HTTPField.Name("x-goog-api-key")!
    static let xRequestID = HTTPField.Name("x-request-id")!
    static let anthropicBeta = HTTPField.Name("anthropic-beta")!
    static let anthropicVersion = HTTPField.Name("anthropic-version")!
    static let xAccelBuffering = HTTPField.Name("X-Accel-Buffering")!
    static let retryAfter = HTTPField.Name("Retry-After")!
    static let xOrchestratorProvider = HTTPField.Name("x-orchestrator-provider")!
    static let xOrchestratorAttempts = HTTPField.Name("x-orchestrator-attempts")!
    static let xOrchestratorOverheadMs = HTTPField.Name("x-orchestrator-overhead-ms")!
}

import Foundation
