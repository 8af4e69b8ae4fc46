import HTTPTypes
public import Logging
import NIOCore
public import OrchestratorCore

/// The adapter for Anthropic's Messages API (`POST {base_url}/v1/messages`).
///
/// Requests that arrived on `/v1/messages` are forwarded as the client's own bytes with
/// only the top-level `model` rewritten (plus the target's `extra_body`), and the
/// upstream's bytes come back unchanged while usage is read from them for the log.
/// Everything else goes through the canonical form (``AnthropicTranslation``).
public struct AnthropicAdapter: ProviderAdapter {
    public let style: APIStyle = .anthropic
    let transport: any HTTPTransport
    let maxResponseBytes: Int

    /// The API version sent when the client did not send its own.
    public static let apiVersion = "2023-06-01"

    public init(transport: any HTTPTransport, maxResponseBytes: Int = 64 * 1024 * 1024) {
        self.transport = transport
        self.maxResponseBytes = maxResponseBytes
    }

    public func complete(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        let (response, outbound) = try await send(call, stream: false)
        let provider = call.provider.name
        let body = try await response.successBody(provider: provider, limit: maxResponseBytes)
        let message: AnthropicResponse
        do {
            message = try JSONCoding.decode(AnthropicResponse.self, from: body)
        } catch {
            throw .badUpstreamResponse(
                "the body is not an Anthropic message (\(ProviderErrors.snippet(body)))", provider: provider)
        }
        guard message.type == "message" else {
            throw .badUpstreamResponse("expected a message, got type \"\(message.type)\"", provider: provider)
        }
        let requestID = Self.upstreamRequestID(response)
        let usage = message.usage.canonical
        if call.request.style == .anthropic {
            return ProviderCompletion(body: .raw(body), usage: usage, upstreamRequestID: requestID)
        }
        let completion = AnthropicTranslation.completion(
            from: message, structuredOutputTool: outbound?.structuredOutputTool,
            created: call.request.receivedAtMillis / 1000)
        return ProviderCompletion(body: .canonical(completion), usage: usage, upstreamRequestID: requestID)
    }

    public func stream(_ call: ProviderCall) async throws(GatewayError) -> ProviderStream {
        let (response, outbound) = try await send(call, stream: true)
        let provider = call.provider.name
        try await response.requireEventStream(provider: provider)
        let translator = AnthropicStreamTranslator(
            provider: provider, passThrough: call.request.style == .anthropic,
            structuredOutputTool: outbound?.structuredOutputTool, created: call.request.receivedAtMillis / 1000)
        return ProviderStream(
            events: SSETranslation.events(of: response.body, translator: translator),
            upstreamRequestID: Self.upstreamRequestID(response))
    }

    /// Lists the upstream's models (`GET {base}/v1/models`): free, and it checks the key.
    public func probe(_ provider: ProviderConfig, apiKey: String?, deadline: ContinuousClock.Instant, logger: Logger)
        async throws(GatewayError)
    {
        var headers = Self.headers(provider: provider, apiKey: apiKey, forwarded: [:])
        headers[.accept] = "application/json"
        let request = TransportRequest(
            method: .get, url: Self.endpoint(provider, "models"), headers: headers,
            caFile: provider.transportCAFile, proxy: provider.transportProxy)
        let response = try await transport.send(request, provider: provider.name, deadline: deadline, logger: logger)
        _ = try await response.successBody(provider: provider.name, limit: maxResponseBytes)
    }

    /// `POST {base}/v1/messages/count_tokens`: Anthropic's own count for the request.
    public func countTokens(_ call: ProviderCall) async throws(GatewayError) -> Int? {
        let provider = call.provider.name
        let body: ByteBuffer
        do {
            if call.request.style == .anthropic {
                var rewriter = JSONObjectRewriter()
                rewriter.set("model", string: call.target.model)
                body = try rewriter.apply(to: call.request.body)
            } else {
                var request = try AnthropicTranslation.request(
                    from: call.request.chat, model: call.target.model, maxTokensDefault: nil, stream: false
                ).request
                // The counting endpoint takes only what shapes the input.
                request.maxTokens = nil
                request.stream = nil
                request.stopSequences = nil
                request.temperature = nil
                request.topP = nil
                request.topK = nil
                request.metadata = nil
                body = try JSONCoding.encode(request)
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw .invalidRequest("We could not parse the JSON body of your request. (\(error))")
        }
        var headers = Self.headers(
            provider: call.provider, apiKey: call.apiKey,
            forwarded: call.request.style == .anthropic ? call.request.forwardedHeaders : [:])
        headers[.accept] = "application/json"
        let request = TransportRequest(
            method: .post, url: Self.endpoint(call.provider, "messages/count_tokens"), headers: headers, body: body,
            caFile: call.provider.transportCAFile, proxy: call.provider.transportProxy)
        let response = try await transport.send(request, provider: provider, deadline: call.deadline, logger: call.logger)
        let reply = try await response.successBody(provider: provider, limit: UpstreamFailure.errorBodyLimit)
        guard let count = (try? JSONCoding.decode(JSONValue.self, from: reply))?["input_tokens"]?.intValue, count >= 0 else {
            throw .badUpstreamResponse("the token count is not {\"input_tokens\": N}", provider: provider)
        }
        return count
    }

    /// Builds and sends the upstream request; returns the translation used, if any.
    private func send(_ call: ProviderCall, stream: Bool) async throws(GatewayError)
        -> (TransportResponse, AnthropicTranslation.Outbound?)
    {
        let (body, outbound) = try Self.upstreamBody(for: call, stream: stream)
        var headers = Self.headers(
            provider: call.provider, apiKey: call.apiKey,
            forwarded: call.request.style == .anthropic ? call.request.forwardedHeaders : [:])
        headers.set(.accept, to: stream ? "text/event-stream" : "application/json")
        let request = TransportRequest(
            method: .post, url: Self.endpoint(call.provider, "messages"), headers: headers, body: body,
            idleTimeout: stream ? call.provider.streamIdleTimeout : nil, caFile: call.provider.transportCAFile,
            proxy: call.provider.transportProxy)
        let response = try await transport.send(
            request, provider: call.provider.name, deadline: call.deadline, logger: call.logger)
        return (response, outbound)
    }

    /// The upstream body: the client's bytes with `model` rewritten when it spoke
    /// Anthropic, else the canonical request translated.
    static func upstreamBody(for call: ProviderCall, stream: Bool) throws(GatewayError)
        -> (ByteBuffer, AnthropicTranslation.Outbound?)
    {
        let target = call.target
        do {
            if call.request.style == .anthropic {
                return (try target.applyingExtraBody(to: call.request.body, model: target.model), nil)
            }
            let outbound = try AnthropicTranslation.request(
                from: call.request.chat, model: target.model, maxTokensDefault: target.maxTokensDefault, stream: stream)
            return (try target.applyingExtraBody(to: JSONCoding.encode(outbound.request)), outbound)
        } catch let error as GatewayError {
            throw error
        } catch {
            throw .invalidRequest("We could not parse the JSON body of your request. (\(error))")
        }
    }

    /// `x-api-key`, `anthropic-version` (the client's, on the pass-through path), the
    /// client's `anthropic-beta`, then the provider's configured headers.
    static func headers(provider: ProviderConfig, apiKey: String?, forwarded: HTTPFields) -> HTTPFields {
        var headers = HTTPFields()
        headers.set(.contentType, to: "application/json")
        if let apiKey, !apiKey.isEmpty { headers.set(.anthropicAPIKey, to: apiKey) }
        headers.set(.anthropicVersion, to: forwarded[.anthropicVersion] ?? apiVersion)
        if let beta = forwarded[.anthropicBeta] { headers.set(.anthropicBeta, to: beta) }
        headers.addProviderHeaders(provider)
        return headers
    }

    /// `{base}/v1/<path>`; a base URL that already ends in `/v1` is not doubled.
    static func endpoint(_ provider: ProviderConfig, _ path: String) -> String {
        provider.url(provider.trimmedBaseURL.hasSuffix("/v1") ? path : "v1/" + path)
    }

    static func upstreamRequestID(_ response: TransportResponse) -> String? {
        response.firstValue(.anthropicRequestID) ?? response.firstValue(.xRequestID)
    }
}

extension HTTPField.Name {
    static let anthropicAPIKey = HTTPField.Name("x-api-key")!
    static let anthropicVersion = HTTPField.Name("anthropic-version")!
    static let anthropicBeta = HTTPField.Name("anthropic-beta")!
    static let anthropicRequestID = HTTPField.Name("request-id")!
}
