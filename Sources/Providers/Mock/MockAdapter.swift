import Foundation
public import Logging
import NIOCore
public import OrchestratorCore

/// The `mock` provider: answers every request with a canned reply after a configured
/// latency, failing with a retryable 503 at a configured rate. For demos, load tests
/// and tests — it never calls the network.
///
/// ```yaml
/// - { name: demo, type: mock, mock: { reply: "Hello!", latency_ms: 50, failure_rate: 0.1 } }
/// ```
public struct MockAdapter: ProviderAdapter {
    public let style: APIStyle = .openai
    let settings: MockSettings
    let providerName: String

    public init(providerName: String, settings: MockSettings) {
        self.providerName = providerName
        self.settings = settings
    }

    public func complete(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        try await prepare(call)
        let usage = usage(for: call)
        let completion = ChatCompletion(
            id: "chatcmpl-mock-\(call.request.requestID)", created: Self.now(), model: call.target.model,
            choices: [
                .init(index: 0, message: ChatMessage(role: .assistant, content: .text(settings.reply)), finishReason: "stop")
            ],
            usage: usage)
        return ProviderCompletion(body: .canonical(completion), usage: usage)
    }

    public func stream(_ call: ProviderCall) async throws(GatewayError) -> ProviderStream {
        try await prepare(call)
        let id = "chatcmpl-mock-\(call.request.requestID)"
        let created = Self.now()
        let model = call.target.model
        let usage = usage(for: call)
        var events: [ProviderStreamEvent] = []
        func chunk(_ delta: ChatCompletionChunk.Delta, finish: String? = nil) -> ProviderStreamEvent {
            .part(.chunk(ChatCompletionChunk(
                id: id, created: created, model: model, choices: [.init(index: 0, delta: delta, finishReason: finish)])))
        }
        events.append(chunk(.init(role: "assistant", content: "")))
        for piece in Self.pieces(of: settings.reply) {
            events.append(chunk(.init(content: piece)))
            events.append(.outputText(piece.count))
        }
        events.append(chunk(.init(), finish: "stop"))
        events.append(.usage(usage))
        if call.request.chat.wantsStreamUsage {
            events.append(.part(.chunk(ChatCompletionChunk(id: id, created: created, model: model, choices: [], usage: usage))))
        }
        return ProviderStream(events: ErasedAsyncSequence(elements: events))
    }

    /// A mock is always reachable; it fails its probe only at its failure rate.
    public func probe(_ provider: ProviderConfig, apiKey: String?, deadline: ContinuousClock.Instant, logger: Logger)
        async throws(GatewayError)
    {
        if settings.failureRate > 0, Double.random(in: 0..<1) < settings.failureRate {
            throw .upstream(status: 503, message: "mock failure (failure_rate \(settings.failureRate))", provider: providerName)
        }
    }

    private func prepare(_ call: ProviderCall) async throws(GatewayError) {
        if settings.latencyMs > 0 {
            do {
                try await Task.sleep(for: .milliseconds(settings.latencyMs))
            } catch {
                throw .clientClosedRequest
            }
        }
        if settings.failureRate > 0, Double.random(in: 0..<1) < settings.failureRate {
            throw .upstream(status: 503, message: "mock failure (failure_rate \(settings.failureRate))", provider: providerName)
        }
    }

    private func usage(for call: ProviderCall) -> Usage {
        Usage(
            promptTokens: TokenEstimator.promptTokens(call.request.chat),
            completionTokens: TokenEstimator.tokens(forCharacters: settings.reply.count))
    }

    /// Splits text into word-sized pieces, keeping the spaces, so a stream looks real.
    static func pieces(of text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if character == " " {
                pieces.append(current)
                current = ""
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}
