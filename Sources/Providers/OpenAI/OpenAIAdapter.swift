import Foundation
import HTTPTypes
public import Logging
import NIOCore
public import OrchestratorCore

/// The adapter for OpenAI, Azure OpenAI and every OpenAI-compatible server (vLLM,
/// Ollama, DeepSeek, …): chat completions, embeddings and the Responses API.
///
/// OpenAI-style requests are forwarded as the client's own bytes with only the
/// top-level `model` rewritten (plus the target's `extra_body`, a `max_tokens` default,
/// and `stream_options.include_usage` for streams, so usage is always logged). Upstream
/// bytes come back unchanged, except that the usage-only chunk the gateway asked for is
/// dropped when the client did not ask for it.
///
/// Azure differs only in where requests go (`/openai/deployments/{deployment}/…?api-version=`,
/// the target's model being the deployment) and how the key is sent (`api-key`, or an
/// Entra bearer token with `azure_auth: entra`).
public struct OpenAIAdapter: ProviderAdapter {
    public let style: APIStyle = .openai
    let transport: any HTTPTransport
    /// The largest non-streaming upstream body accepted.
    let maxResponseBytes: Int
    let dialect: Dialect
    /// The requests sent before, by provider, key and kind (see `RequestHeadCache`).
    let heads = RequestHeadCache()

    /// Which flavour of the OpenAI API the upstream speaks.
    public enum Dialect: Sendable {
        case openai
        case azure
    }

    public init(transport: any HTTPTransport, dialect: Dialect = .openai, maxResponseBytes: Int = 64 * 1024 * 1024) {
        self.transport = transport
        self.dialect = dialect
        self.maxResponseBytes = maxResponseBytes
    }

    public func supports(_ operation: APIOperation) -> Bool { true }

    public func complete(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        switch call.request.operation {
        case .chat: return try await completeChat(call)
        case .embeddings: return try await embed(call)
        case .responses: return try await respond(call)
        }
    }

    private func completeChat(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        let response = try await send(call, stream: false)
        let body = try await response.successBody(provider: call.provider.name, limit: maxResponseBytes)
        return try Self.chatCompletion(body, upstreamRequestID: response.firstValue(.xRequestID), call: call)
    }

    /// A chat completion from its body. Synchronous, so that the decode's values live on
    /// the thread's stack, not in `completeChat`'s async frame, which a delayed request
    /// touches again after its wait (that frame was 6.5 KB with them).
    private static func chatCompletion(_ body: ByteBuffer, upstreamRequestID requestID: String?, call: ProviderCall)
        throws(GatewayError) -> ProviderCompletion
    {
        let provider = call.provider.name
        // Built only on failure: the snippet is scrubbed with regular expressions.
        func notACompletion() -> GatewayError {
            .badUpstreamResponse("the body is not a chat completion (\(ProviderErrors.snippet(body)))", provider: provider)
        }
        if call.request.style == .openai {
            // Same style: the client gets the upstream's bytes; read only what the log needs.
            guard let summary = try? PassThroughSummary.scan(body), summary.hasChoicesArray, !summary.hasError else {
                throw notACompletion()
            }
            let (usage, estimated) = Self.usage(summary.usage, textBytes: summary.textBytes, call: call)
            return ProviderCompletion(body: .raw(body), usage: usage, usageEstimated: estimated, upstreamRequestID: requestID)
        }
        let completion: ChatCompletion
        do {
            completion = try JSONCoding.decode(ChatCompletion.self, from: body)
        } catch {
            throw notACompletion()
        }
        let text = completion.choices.reduce(0) { $0 + ($1.message.content?.plainText.utf8.count ?? 0) }
        let (usage, estimated) = Self.usage(completion.usage, textBytes: text, call: call)
        return ProviderCompletion(
            body: .canonical(completion), usage: usage, usageEstimated: estimated, upstreamRequestID: requestID)
    }

    /// Embeddings: always the client's own OpenAI request, so always pass-through.
    private func embed(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        let response = try await send(call, stream: false)
        let provider = call.provider.name
        let body = try await response.successBody(provider: provider, limit: maxResponseBytes)
        guard let summary = try? PassThroughSummary.scan(body), summary.hasDataArray, !summary.hasError else {
            throw .badUpstreamResponse("the body is not an embeddings list (\(ProviderErrors.snippet(body)))", provider: provider)
        }
        var usage = summary.usage
        if let reported = usage { usage?.completionTokens = 0; usage?.totalTokens = reported.promptTokens }
        return ProviderCompletion(
            body: .raw(body), usage: usage ?? Usage(promptTokens: TokenEstimator.promptTokens(call.request.chat), completionTokens: 0),
            usageEstimated: usage == nil, upstreamRequestID: response.firstValue(.xRequestID))
    }

    /// The Responses API, non-streaming: the upstream's bytes, usage read for the log.
    private func respond(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        let response = try await send(call, stream: false)
        let provider = call.provider.name
        let body = try await response.successBody(provider: provider, limit: maxResponseBytes)
        // A response whose status is `failed` (with its `error`) is still a Response
        // object: the client gets it as it would from OpenAI, as a stream's
        // `response.failed` event is forwarded too.
        guard let summary = try? PassThroughSummary.scan(body),
            JSONObjectRewriter.value(of: "object", in: body)?.stringValue == "response"
        else {
            throw .badUpstreamResponse("the body is not a Responses API response (\(ProviderErrors.snippet(body)))", provider: provider)
        }
        let (usage, estimated) = Self.usage(summary.usage, textBytes: 0, call: call)
        return ProviderCompletion(
            body: .raw(body), usage: usage, usageEstimated: estimated, upstreamRequestID: response.firstValue(.xRequestID))
    }

    public func stream(_ call: ProviderCall) async throws(GatewayError) -> ProviderStream {
        let response = try await send(call, stream: true)
        let provider = call.provider.name
        try await response.requireEventStream(provider: provider)
        if call.request.operation == .responses {
            let events = SSETranslation.events(of: response.body, translator: ResponsesStreamTranslator(provider: provider))
            return ProviderStream(events: events, upstreamRequestID: response.firstValue(.xRequestID))
        }
        let translator = OpenAIStreamTranslator(
            provider: provider, passThrough: call.request.style == .openai,
            clientWantsUsage: call.request.chat.wantsStreamUsage)
        let events = SSETranslation.events(of: response.body, translator: translator)
        return ProviderStream(events: events, upstreamRequestID: response.firstValue(.xRequestID))
    }

    /// Lists the upstream's models (`GET <base>/models`): cheap, and it checks the key.
    public func probe(_ provider: ProviderConfig, apiKey: String?, deadline: ContinuousClock.Instant, logger: Logger)
        async throws(GatewayError)
    {
        var headers = HTTPFields()
        headers[.accept] = "application/json"
        addAuthorization(apiKey, provider: provider, to: &headers)
        headers.addProviderHeaders(provider)
        let url: String
        switch dialect {
        case .openai: url = provider.url("models")
        // Lists the resource's models: cheap, needs no deployment, and checks the key.
        case .azure: url = provider.url("openai/models") + "?api-version=" + Self.apiVersion(provider)
        }
        let request = TransportRequest(
            method: .get, url: url, headers: headers,
            caFile: provider.transportCAFile, proxy: provider.transportProxy)
        let response = try await transport.send(request, provider: provider.name, deadline: deadline, logger: logger)
        _ = try await response.successBody(provider: provider.name, limit: maxResponseBytes)
    }

    /// Builds and sends the upstream request: its body, and the rest as sent before for
    /// the same provider, key and kind of call.
    private func send(_ call: ProviderCall, stream: Bool) async throws(GatewayError) -> TransportResponse {
        let body = try Self.upstreamBody(for: call, stream: stream)
        var request = try heads.request(
            operation: call.request.operation, stream: stream, apiKey: call.apiKey,
            deployment: dialect == .azure ? call.target.model : nil, provider: call.provider
        ) { () throws(GatewayError) in try bodilessRequest(call, stream: stream) }
        request.body = body
        return try await transport.send(request, provider: call.provider.name, deadline: call.deadline, logger: call.logger)
    }

    /// The upstream request without its body, with the transport's preparation of it.
    func bodilessRequest(_ call: ProviderCall, stream: Bool) throws(GatewayError) -> TransportRequest {
        var headers = HTTPFields()
        headers.reserveCapacity(3 + call.provider.headers.count)
        headers.append(.jsonContentType)
        headers.append(stream ? .acceptEventStream : .acceptJSON)
        addAuthorization(call.apiKey, provider: call.provider, to: &headers)
        headers.addProviderHeaders(call.provider)
        var request = TransportRequest(
            method: .post, url: try url(for: call), headers: headers,
            idleTimeout: stream ? call.provider.streamIdleTimeout : nil, caFile: call.provider.transportCAFile,
            proxy: call.provider.transportProxy)
        request.prepared = transport.prepare(request)
        return request
    }

    /// The upstream key: a bearer token, or Azure's `api-key` header.
    private func addAuthorization(_ key: String?, provider: ProviderConfig, to headers: inout HTTPFields) {
        guard let key, !key.isEmpty else { return }
        if dialect == .azure && provider.azureAuth == .apiKey {
            headers.set(.apiKey, to: key)
        } else {
            headers.set(.authorization, to: "Bearer \(key)")
        }
    }

    /// Where a call goes.
    func url(for call: ProviderCall) throws(GatewayError) -> String {
        let provider = call.provider
        switch (dialect, call.request.operation) {
        case (.openai, .chat): return provider.url("chat/completions")
        case (.openai, .embeddings): return provider.url("embeddings")
        case (.openai, .responses): return provider.url("responses")
        case (.azure, .responses):
            // Azure serves the Responses API on its v1 surface only; the body's model is the deployment.
            return provider.url("openai/v1/responses")
        case (.azure, let operation):
            let deployment = try UpstreamPathSegment.encode(call.target.model)
            let path = operation == .embeddings ? "embeddings" : "chat/completions"
            return provider.url("openai/deployments/\(deployment)/\(path)") + "?api-version=" + Self.apiVersion(provider)
        }
    }

    /// The provider's `api_version` (checked present when the config is read).
    static func apiVersion(_ provider: ProviderConfig) -> String {
        let version = provider.apiVersion ?? ProviderConfig.defaultAzureAPIVersion
        return version.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? version
    }

    /// What the rewriter in ``upstreamBody(for:stream:)`` makes of the common request (the
    /// model replaced, and `stream_options` added to a stream whose client did not ask for
    /// usage), spliced into the client's bytes where the decoder found the model
    /// (``JSONObjectRewriter/replacingString(at:in:with:adding:)``) instead of walking every
    /// member of the body again (about 5,000 instructions of a small chat request, more
    /// for a long conversation). Nil, for the rewriter, when more changes (a strict
    /// provider's removals, a default `max_tokens`, extra body fields, the client's own
    /// `stream_options` to amend) or the body's layout is not known.
    static func modelReplacedInPlace(_ request: InboundRequest, call: ProviderCall, strict: Bool, stream: Bool) -> ByteBuffer? {
        guard let model = request.modelValue, call.target.extraBody.isEmpty else { return nil }
        let chat = request.chat
        if strict, chat.streamOptions != nil || chat.maxCompletionTokens != nil { return nil }
        if chat.maxTokens == nil, chat.maxCompletionTokens == nil, call.target.maxTokensDefault != nil { return nil }
        let addUsage = !strict && stream && !chat.wantsStreamUsage
        if addUsage, chat.streamOptions != nil { return nil }
        return JSONObjectRewriter.replacingString(
            at: model, in: request.body, with: call.target.model,
            adding: addUsage ? ("stream_options", Self.includeUsage) : nil)
    }

    /// `stream_options` asking for a stream's usage.
    private static let includeUsage = Array(#"{"include_usage":true}"#.utf8)

    /// The body for the upstream: the client's bytes rewritten when it spoke OpenAI,
    /// else the canonical request encoded.
    static func upstreamBody(for call: ProviderCall, stream: Bool) throws(GatewayError) -> ByteBuffer {
        // Read through the request (a class) rather than copied out of it: a copy of a
        // chat request retains every string and array in it.
        let request = call.request
        do {
            if request.operation != .chat {
                // Embeddings and Responses requests: the client's bytes, model rewritten.
                return try call.target.applyingExtraBody(to: request.body, model: call.target.model)
            }
            let strict = Self.refusesOpenAIOnlyFields(call.provider.baseURL)
            if request.style == .openai {
                if let spliced = modelReplacedInPlace(request, call: call, strict: strict, stream: stream) { return spliced }
                var rewriter = JSONObjectRewriter()
                rewriter.set("model", string: call.target.model)
                if strict {
                    // Mistral refuses these (422): its streams report usage unasked.
                    if request.chat.streamOptions != nil { rewriter.remove("stream_options") }
                    if let maxCompletion = request.chat.maxCompletionTokens {
                        rewriter.remove("max_completion_tokens")
                        if request.chat.maxTokens == nil { try rewriter.set("max_tokens", value: maxCompletion) }
                    }
                } else if stream, !request.chat.wantsStreamUsage {
                    if let options = request.chat.streamOptions {
                        var options = options
                        options.includeUsage = true
                        try rewriter.set("stream_options", value: options)
                    } else {
                        // The common case, without an encoder per request.
                        rewriter.set("stream_options", json: Self.includeUsage)
                    }
                }
                if request.chat.maxTokens == nil, request.chat.maxCompletionTokens == nil, let defaultMax = call.target.maxTokensDefault {
                    // Reasoning models on OpenAI's and Azure's APIs refuse max_tokens.
                    let field = Self.wantsMaxCompletionTokens(call.provider) ? "max_completion_tokens" : "max_tokens"
                    try rewriter.set(field, value: defaultMax)
                }
                for (key, value) in call.target.extraBody {
                    try rewriter.set(key, value: mergedExtra(key: key, value: value, chat: request.chat))
                }
                return try rewriter.apply(to: request.body)
            }
            var outbound = request.chat
            outbound.model = call.target.model
            // What other styles carry for their own round trips (Anthropic thinking
            // blocks, reasoning text of earlier turns) is refused by OpenAI-style servers.
            // Gemini's thought signatures ride on tool calls as `extra_content`; only
            // Gemini's own OpenAI-compatible endpoint takes that member back.
            let keepsSignatures = call.provider.baseURL.lowercased().contains("generativelanguage.googleapis.com")
            for i in outbound.messages.indices {
                outbound.messages[i].reasoningContent = nil
                outbound.messages[i].extra.removeValue(forKey: "thinking_blocks")
                if !keepsSignatures, let calls = outbound.messages[i].toolCalls {
                    outbound.messages[i].toolCalls = calls.map { call in
                        var call = call
                        call.extra.removeValue(forKey: "extra_content")
                        return call
                    }
                }
            }
            if outbound.maxTokens == nil, outbound.maxCompletionTokens == nil, let defaultMax = call.target.maxTokensDefault {
                outbound.maxTokens = defaultMax
            }
            // OpenAI's own API and Azure's want max_completion_tokens (their reasoning
            // models refuse max_tokens); compatible servers keep max_tokens, which they all know.
            if Self.wantsMaxCompletionTokens(call.provider), outbound.maxCompletionTokens == nil,
                let maxTokens = outbound.maxTokens
            {
                outbound.maxCompletionTokens = maxTokens
                outbound.maxTokens = nil
            }
            outbound.stream = stream ? true : nil
            if strict {
                outbound.streamOptions = nil
                if outbound.maxTokens == nil { outbound.maxTokens = outbound.maxCompletionTokens }
                outbound.maxCompletionTokens = nil
            } else if stream {
                var options = outbound.streamOptions ?? StreamOptions()
                options.includeUsage = true
                outbound.streamOptions = options
            } else {
                outbound.streamOptions = nil
            }
            var buffer = try JSONCoding.encode(outbound)
            if !call.target.extraBody.isEmpty {
                var rewriter = JSONObjectRewriter()
                for (key, value) in call.target.extraBody {
                    try rewriter.set(key, value: mergedExtra(key: key, value: value, chat: outbound))
                }
                buffer = try rewriter.apply(to: buffer)
            }
            return buffer
        } catch let error as GatewayError {
            throw error
        } catch {
            throw .invalidRequest("We could not parse the JSON body of your request. (\(error))")
        }
    }

    /// Whether the upstream refuses the fields only OpenAI defines (`stream_options`,
    /// `max_completion_tokens`): Mistral's API answers them with 422.
    static func refusesOpenAIOnlyFields(_ baseURL: String) -> Bool {
        // Compared in place: a lower-cased copy of the URL was a string allocation per request.
        RawBytes.hasPrefixIgnoringCase(baseURL, "https://api.mistral.ai")
    }

    /// Whether the upstream wants `max_completion_tokens` rather than `max_tokens`:
    /// OpenAI's own API and Azure's (their reasoning models refuse `max_tokens`).
    static func wantsMaxCompletionTokens(_ provider: ProviderConfig) -> Bool {
        provider.type == .azure || isOpenAIPlatform(provider.baseURL)
    }

    /// Whether `baseURL` is OpenAI's own API (not a compatible server).
    static func isOpenAIPlatform(_ baseURL: String) -> Bool {
        RawBytes.hasPrefixIgnoringCase(baseURL, "https://api.openai.com/")
            || RawBytes.equalIgnoringCase(baseURL, "https://api.openai.com")
    }

    /// `extra_body` merges one level deep: for an object the request also has, the
    /// target's keys win over the request's; anything else replaces the request's value.
    static func mergedExtra(key: String, value: JSONValue, chat: ChatRequest) throws -> JSONValue {
        let existing = chat.extra[key] ?? (key == "metadata" ? chat.metadata.map(JSONValue.object) : nil)
        return JSONObjectRewriter.mergedOneLevel(value, into: existing)
    }

    /// The reported usage, or an estimate (flagged) when the upstream sent none.
    static func usage(_ reported: Usage?, textBytes: Int, call: ProviderCall) -> (Usage, Bool) {
        if let reported { return (reported, false) }
        let estimate = Usage(
            promptTokens: TokenEstimator.promptTokens(call.request.chat),
            completionTokens: TokenEstimator.tokens(forCharacters: textBytes))
        return (estimate, true)
    }


}

/// Reads an OpenAI-style event stream: pass-through (the client speaks OpenAI too) or
/// decoded into canonical chunks.
struct OpenAIStreamTranslator: SSEEventTranslator, Sendable {
    let provider: String
    let passThrough: Bool
    let clientWantsUsage: Bool
    private(set) var sawDone = false
    /// Walks each chunk from its `choices` on when it starts like the one before.
    private var chunks = PassThroughSummary.StreamScanner()

    init(provider: String, passThrough: Bool, clientWantsUsage: Bool) {
        self.provider = provider
        self.passThrough = passThrough
        self.clientWantsUsage = clientWantsUsage
    }

    func incompleteStreamError() -> GatewayError? {
        sawDone ? nil : .badUpstreamResponse("the event stream ended before [DONE]", provider: provider)
    }

    mutating func translate(_ event: SSEScanner.Event, into batch: inout SSEBatch) throws(GatewayError) {
        let data = event.data
        if RawBytes.equal(data, "[DONE]") {
            sawDone = true
            return
        }
        if data.isEmpty { return }
        if let name = event.name, RawBytes.equal(name, "error") { throw streamError(data) }
        if RawBytes.hasPrefix(data, #"{"error""#) { throw streamError(data) }
        if passThrough {
            // The client speaks OpenAI too: forward the event's data as it came, reading
            // only what the gateway needs (no full decode, no string per chunk).
            let summary: PassThroughSummary
            do {
                summary = try chunks.scan(bytes: data)
            } catch {
                throw notAChunk(data)
            }
            if summary.hasError { throw streamError(data) }
            if let usage = summary.usage { batch.out.append(.usage(usage)) }
            batch.countOutputText(summary.textBytes)
            if summary.isUsageOnly && !clientWantsUsage { return }
            batch.forward(event)
            return
        }
        var chunk: ChatCompletionChunk
        do {
            chunk = try JSONCoding.decode(ChatCompletionChunk.self, from: data)
        } catch {
            throw notAChunk(data)
        }
        // An error in a chunk's clothes: OpenRouter's `error` member on a 200 stream,
        // vLLM's `"object": "error"`.
        if chunk.object == "error" || chunk.extra["error"].map({ $0 != .null }) == true { throw streamError(data) }
        if chunk.usage == nil, let groq = chunk.extra["x_groq"]?["usage"], groq != .null {
            // Groq reports a stream's usage here, on its last chunk.
            chunk.usage = try? JSONValueDecoding.decode(Usage.self, from: groq)
            chunk.extra.removeValue(forKey: "x_groq")
        }
        if let usage = chunk.usage { batch.out.append(.usage(usage)) }
        var textCount = 0
        for choice in chunk.choices {
            textCount += (choice.delta.content?.count ?? 0) + (choice.delta.reasoningContent?.count ?? 0)
            for call in choice.delta.toolCalls ?? [] { textCount += call.function?.arguments?.count ?? 0 }
        }
        batch.countOutputText(textCount)
        if chunk.isUsageOnly && !clientWantsUsage { return }
        batch.out.append(.part(.chunk(chunk)))
    }

    private func notAChunk(_ data: UnsafeRawBufferPointer) -> GatewayError {
        .badUpstreamResponse("an event is not a chat.completion.chunk (\(ProviderErrors.snippet(data)))", provider: provider)
    }

    private func streamError(_ data: UnsafeRawBufferPointer) -> GatewayError {
        ProviderErrors.streamError(data, provider: provider)
    }
}
