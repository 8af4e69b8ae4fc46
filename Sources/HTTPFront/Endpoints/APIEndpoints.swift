import OrchestratorCore

/// The gateway's API endpoints, and which one serves a `POST` path: the one table the
/// NIO data plane and the Hummingbird routes both consult. A class, made once: the data
/// plane consults it for every request, and a struct of five endpoints was copied (a
/// dozen retains and releases) to do so.
final class APIEndpoints: Sendable {
    /// `POST /v1/chat/completions`.
    let chat: ChatEndpoint
    /// `POST /v1/messages`, when the Anthropic codec is present.
    let messages: ChatEndpoint?
    /// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`.
    let gemini: ChatEndpoint?
    /// `POST /v1/embeddings`.
    let embeddings: ChatEndpoint?
    /// `POST /v1/responses`.
    let responses: ChatEndpoint?

    init(
        chat: ChatEndpoint, messages: ChatEndpoint? = nil, gemini: ChatEndpoint? = nil, embeddings: ChatEndpoint? = nil,
        responses: ChatEndpoint? = nil
    ) {
        self.chat = chat
        self.messages = messages
        self.gemini = gemini
        self.embeddings = embeddings
        self.responses = responses
    }

    /// Gemini's path prefix.
    static let geminiPrefix = "/v1beta/models/"

    /// The endpoint for `POST path` (no query) and what the path says, or nil when the
    /// path is none of these routes.
    func match(path: Substring) -> (ChatEndpoint, RouteParameters)? {
        switch path {
        case "/v1/chat/completions": return (chat, RouteParameters())
        case "/v1/messages": return messages.map { ($0, RouteParameters()) }
        case "/v1/embeddings": return embeddings.map { ($0, RouteParameters()) }
        case "/v1/responses": return responses.map { ($0, RouteParameters()) }
        default:
            guard let gemini, path.hasPrefix(Self.geminiPrefix),
                let (model, method) = Self.geminiModelAndMethod(path.dropFirst(Self.geminiPrefix.count))
            else { return nil }
            switch method {
            case "generateContent": return (gemini, RouteParameters(model: model, stream: false))
            case "streamGenerateContent": return (gemini, RouteParameters(model: model, stream: true))
            default: return nil
            }
        }
    }

    /// `{model}:{method}` (the model percent-decoded; it may hold a `/`, as in
    /// `openai/gpt-4o` provider addressing).
    static func geminiModelAndMethod(_ rest: Substring) -> (String, Substring)? {
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        let rawModel = rest[..<colon]
        let model = String(rawModel).removingPercentEncoding ?? String(rawModel)
        guard !model.isEmpty else { return nil }
        return (model, rest[rest.index(after: colon)...])
    }
}

import Foundation
