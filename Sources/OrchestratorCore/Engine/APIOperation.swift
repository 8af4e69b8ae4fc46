import Foundation

/// What a request asks the gateway for. A target serves a request only when its
/// provider's adapter supports the operation (``ProviderAdapter/supports(_:)``).
public enum APIOperation: String, Sendable, Hashable, Codable, CaseIterable {
    /// Chat completions (`/v1/chat/completions`, `/v1/messages`, Gemini `generateContent`).
    case chat
    /// Embeddings (`/v1/embeddings`).
    case embeddings
    /// OpenAI's Responses API (`/v1/responses`), forwarded to OpenAI-style upstreams.
    case responses
}

/// What a route's path and query say about a request, beyond its body: Gemini's routes
/// carry the model and whether to stream in the path (`/v1beta/models/{model}:streamGenerateContent`).
public struct RouteParameters: Sendable, Hashable {
    /// The model named by the path.
    public var model: String?
    /// Whether the path asks for a stream.
    public var stream: Bool?
    /// The query string, without `?`.
    public var query: String?

    public init(model: String? = nil, stream: Bool? = nil, query: String? = nil) {
        self.model = model
        self.stream = stream
        self.query = query
    }

    /// The first value of query parameter `name`, percent-decoded.
    public func queryValue(_ name: String) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first.map(String.init) == name else { continue }
            let raw = parts.count > 1 ? String(parts[1]) : ""
            return raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? raw
        }
        return nil
    }
}
