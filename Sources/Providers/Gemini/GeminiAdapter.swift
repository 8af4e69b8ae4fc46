import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
public import Logging
import NIOCore
public import OrchestratorCore

/// The adapter for the Gemini API (`generateContent`, `streamGenerateContent?alt=sse`,
/// `batchEmbedContents`, `countTokens`), key in `x-goog-api-key`. The base URL is
/// configurable, so proxied or Vertex-style endpoints that speak the same format work.
///
/// Gemini-style requests (the `/v1beta` routes) are forwarded as the client's own
/// bytes (plus the target's `extra_body`), the model being in the URL; the upstream's
/// bytes and events come back unchanged. Other styles are translated.
public struct GeminiAdapter: ProviderAdapter {
    public let style: APIStyle = .gemini
    let transport: any HTTPTransport
    let maxResponseBytes: Int
    /// The largest image fetched for an http(s) image URL (`fetch_image_urls`).
    let maxImageBytes: Int
    /// The most http(s) images fetched for one request (each up to `maxImageBytes`).
    static let maxFetchedImages = 16

    public init(transport: any HTTPTransport, maxResponseBytes: Int = 64 * 1024 * 1024, maxImageBytes: Int = 20 * 1024 * 1024) {
        self.transport = transport
        self.maxResponseBytes = maxResponseBytes
        self.maxImageBytes = maxImageBytes
    }

    public func supports(_ operation: APIOperation) -> Bool { operation != .responses }

    public func complete(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        if call.request.operation == .embeddings { return try await embed(call) }
        let response = try await send(call, method: "generateContent", body: upstreamBody(for: call), stream: false)
        let provider = call.provider.name
        let body = try await response.successBody(provider: provider, limit: maxResponseBytes)
        let decoded: GeminiResponse
        do {
            decoded = try JSONCoding.decode(GeminiResponse.self, from: body)
        } catch {
            throw .badUpstreamResponse("the body is not a GenerateContentResponse (\(ProviderErrors.snippet(body)))", provider: provider)
        }
        let requestID = Self.upstreamRequestID(response)
        if call.request.style == .gemini {
            // The client speaks Gemini: it gets the upstream's bytes (a blocked prompt included).
            let text = (decoded.candidates ?? []).reduce(0) { sum, candidate in
                sum + (candidate.content?.parts ?? []).reduce(0) { $0 + ($1.text?.utf8.count ?? 0) }
            }
            let (usage, estimated) = Self.usage(decoded.usageMetadata, textBytes: text, call: call)
            return ProviderCompletion(body: .raw(body), usage: usage, usageEstimated: estimated, upstreamRequestID: requestID)
        }
        let completion = try GeminiTranslation.completion(
            from: decoded, model: call.target.model, created: call.request.receivedAtMillis / 1000, provider: provider)
        let text = completion.choices.reduce(0) { $0 + ($1.message.content?.plainText.utf8.count ?? 0) }
        let (usage, estimated) = Self.usage(decoded.usageMetadata, textBytes: text, call: call)
        return ProviderCompletion(
            body: .canonical(completion), usage: usage, usageEstimated: estimated, upstreamRequestID: requestID)
    }

    public func stream(_ call: ProviderCall) async throws(GatewayError) -> ProviderStream {
        let response = try await send(call, method: "streamGenerateContent", body: upstreamBody(for: call), stream: true)
        let provider = call.provider.name
        try await response.requireEventStream(provider: provider)
        let translator = GeminiStreamTranslator(
            provider: provider, passThrough: call.request.style == .gemini,
            clientWantsUsage: call.request.chat.wantsStreamUsage, model: call.target.model,
            created: call.request.receivedAtMillis / 1000)
        return ProviderStream(
            events: SSETranslation.events(of: response.body, translator: translator),
            upstreamRequestID: Self.upstreamRequestID(response))
    }

    /// Lists one model (`GET {base}/models?pageSize=1`): free, and it checks the key.
    public func probe(_ provider: ProviderConfig, apiKey: String?, deadline: ContinuousClock.Instant, logger: Logger)
        async throws(GatewayError)
    {
        var headers = Self.headers(provider: provider, apiKey: apiKey)
        headers[.accept] = "application/json"
        let request = TransportRequest(
            method: .get, url: provider.url("models?pageSize=1"), headers: headers, caFile: provider.transportCAFile,
            proxy: provider.transportProxy)
        let response = try await transport.send(request, provider: provider.name, deadline: deadline, logger: logger)
        _ = try await response.successBody(provider: provider.name, limit: maxResponseBytes)
    }

    /// `POST {base}/models/{model}:countTokens` with the whole request (system
    /// instruction and tools count too).
    public func countTokens(_ call: ProviderCall) async throws(GatewayError) -> Int? {
        let provider = call.provider.name
        var request = try await translatedRequest(for: call)
        request.generationConfig = nil
        let body: ByteBuffer
        do {
            let inner = try JSONValueDecoding.encode(request)
            guard case .object(var fields) = inner else { throw GatewayError.internalError() }
            fields["model"] = .string(try Self.modelPath(call.target.model))
            body = try JSONCoding.encode(JSONValue.object(["generateContentRequest": .object(fields)]))
        } catch {
            throw .internalError("Could not encode the token count request.")
        }
        let response = try await send(call, method: "countTokens", body: body, stream: false)
        let reply = try await response.successBody(provider: provider, limit: UpstreamFailure.errorBodyLimit)
        guard let count = (try? JSONCoding.decode(JSONValue.self, from: reply))?["totalTokens"]?.intValue, count >= 0 else {
            throw .badUpstreamResponse("the token count is not {\"totalTokens\": N}", provider: provider)
        }
        return count
    }

    // MARK: Embeddings

    struct BatchEmbedResponse: Decodable {
        struct Embedding: Decodable { var values: [Float] }
        var embeddings: [Embedding]
        var usageMetadata: GeminiUsage?
    }

    /// The most inputs Gemini takes in one `batchEmbedContents` call; larger requests
    /// are sent in batches of this size, one after the other.
    static let embedBatchSize = 100

    /// Gemini embeds text only: a request of token ids skips Gemini targets.
    public func refusal(of request: InboundRequest) -> GatewayError? {
        guard request.operation == .embeddings,
            case .array(let items)? = JSONObjectRewriter.value(of: "input", in: request.body),
            let first = items.first
        else { return nil }
        switch first {
        case .int, .uint, .double, .array:
            return .invalidRequest("Gemini embeddings take text input, not token ids", param: "input")
        default:
            return nil
        }
    }

    /// `batchEmbedContents`, answered as an OpenAI embeddings list (floats or base64, as
    /// asked). The target's `extra_body` goes into every request of the batch (`taskType`,
    /// `title`), as that is where Gemini reads such fields.
    private func embed(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        let request = try JSONCoding.decodeRequest(EmbeddingRequest.self, from: call.request.body)
        guard let texts = request.input.texts else {
            throw .invalidRequest("Gemini embeddings take text input, not token ids", param: "input")
        }
        let modelPath = try Self.modelPath(call.target.model)
        let provider = call.provider.name
        var vectors: [[Float]] = []
        var reportedTokens: Int?
        var upstreamRequestID: String?
        for start in stride(from: 0, to: texts.count, by: Self.embedBatchSize) {
            let batch = texts[start..<min(texts.count, start + Self.embedBatchSize)]
            let requests = batch.map { text -> JSONValue in
                var entry: [String: JSONValue] = [
                    "model": .string(modelPath),
                    "content": .object(["parts": .array([.object(["text": .string(text)])])]),
                ]
                if let dimensions = request.dimensions { entry["outputDimensionality"] = .int(Int64(dimensions)) }
                for (key, value) in call.target.extraBody { entry[key] = JSONObjectRewriter.mergedOneLevel(value, into: entry[key]) }
                return .object(entry)
            }
            let body: ByteBuffer
            do {
                body = try JSONCoding.encode(JSONValue.object(["requests": .array(requests)]))
            } catch {
                throw .internalError("Could not encode the embeddings request.")
            }
            let response = try await send(call, method: "batchEmbedContents", body: body, stream: false)
            upstreamRequestID = upstreamRequestID ?? Self.upstreamRequestID(response)
            let reply = try await response.successBody(provider: provider, limit: maxResponseBytes)
            guard let decoded = try? JSONCoding.decode(BatchEmbedResponse.self, from: reply), decoded.embeddings.count == batch.count
            else {
                throw .badUpstreamResponse(
                    "the body is not one embedding per input (\(ProviderErrors.snippet(reply)))", provider: provider)
            }
            vectors += decoded.embeddings.map(\.values)
            if let tokens = decoded.usageMetadata?.promptTokenCount { reportedTokens = (reportedTokens ?? 0).saturatingAdd(tokens) }
        }
        let prompt = reportedTokens ?? TokenEstimator.tokens(forCharacters: texts.reduce(0) { $0 + $1.count })
        let out = EmbeddingResponseWriter.encode(
            vectors: vectors, model: call.target.model, promptTokens: prompt, base64: request.encodingFormat == "base64")
        return ProviderCompletion(
            body: .raw(out), usage: Usage(promptTokens: prompt, completionTokens: 0), usageEstimated: reportedTokens == nil,
            upstreamRequestID: upstreamRequestID)
    }

    // MARK: Requests

    /// The upstream body: the client's bytes when it spoke Gemini, else the canonical
    /// request translated (http image URLs fetched first when the provider allows it).
    private func upstreamBody(for call: ProviderCall) async throws(GatewayError) -> ByteBuffer {
        let target = call.target
        if call.request.style == .gemini {
            do {
                return try target.applyingExtraBody(to: call.request.body)
            } catch {
                throw .invalidRequest("We could not parse the JSON body of your request. (\(error))")
            }
        }
        let request = try await translatedRequest(for: call)
        do {
            return try target.applyingExtraBody(to: JSONCoding.encode(request))
        } catch {
            throw .internalError("Could not encode the upstream request.")
        }
    }

    /// The canonical request as Gemini's, http(s) images fetched first when allowed.
    private func translatedRequest(for call: ProviderCall) async throws(GatewayError) -> GeminiRequest {
        var images: [String: GeminiBlob] = [:]
        if call.provider.fetchImageURLs {
            let urls = GeminiTranslation.remoteImageURLs(call.request.chat)
            if urls.count > Self.maxFetchedImages {
                throw .invalidRequest(
                    "At most \(Self.maxFetchedImages) image URLs are fetched per request; send the others inline as data URLs.",
                    param: "messages", code: "image_fetch_failed")
            }
            for url in urls {
                images[url] = try await fetchImage(url, call: call)
            }
        }
        return try GeminiTranslation.request(
            from: call.request.chat, model: call.target.model, maxTokensDefault: call.target.maxTokensDefault, images: images)
    }

    /// Fetches an image for inline use: an image content type, at most `maxImageBytes`.
    private func fetchImage(_ url: String, call: ProviderCall) async throws(GatewayError) -> GeminiBlob {
        guard let host = URL(string: url)?.host, !Self.isInternalHost(host) else {
            throw .invalidRequest(
                "The image URL \(url) points to a loopback, private or link-local address; the gateway does not fetch those.",
                param: "messages", code: "image_fetch_failed")
        }
        let request = TransportRequest(method: .get, url: url, headers: [.accept: "image/*"], proxy: call.provider.transportProxy)
        let response: TransportResponse
        do {
            response = try await transport.execute(request, deadline: call.deadline, logger: call.logger)
        } catch {
            throw .invalidRequest("Could not fetch the image at \(url).", param: "messages", code: "image_fetch_failed")
        }
        guard (200..<300).contains(response.status) else {
            throw .invalidRequest(
                "Fetching the image at \(url) returned \(response.status).", param: "messages", code: "image_fetch_failed")
        }
        let mime =
            response.firstValue(.contentType)?.split(separator: ";", omittingEmptySubsequences: false).first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard mime.hasPrefix("image/") else {
            throw .invalidRequest(
                "The URL \(url) is not an image (content type \(mime.isEmpty ? "missing" : mime)).", param: "messages",
                code: "image_fetch_failed")
        }
        let bytes: ByteBuffer
        do {
            bytes = try await response.collect(upTo: maxImageBytes)
        } catch {
            throw .invalidRequest(
                "The image at \(url) is larger than \(maxImageBytes) bytes or could not be read.", param: "messages",
                code: "image_fetch_failed")
        }
        return GeminiBlob(mimeType: mime, data: Data(bytes.readableBytesView).base64EncodedString())
    }

    /// Whether a URL host names this machine or a private network by itself: `localhost`,
    /// or an IPv4 literal in any spelling the resolver accepts (`127.1`, `2130706433`,
    /// `0x7f.0.0.1`) or IPv6 literal that is loopback, unspecified, private, shared or
    /// link-local. A client must not make the gateway fetch from inside its network.
    /// Names that resolve to such addresses are not caught here (an egress policy is
    /// the complete answer; see docs/gemini.md).
    static func isInternalHost(_ host: String) -> Bool {
        var host = host.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasSuffix(".") { host.removeLast() }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        var v4 = in_addr()
        if inet_aton(host, &v4) != 0 { return isInternalIPv4(UInt32(bigEndian: v4.s_addr)) }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let b = withUnsafeBytes(of: &v6) { Array($0) }
        if b[0..<15].allSatisfy({ $0 == 0 }) { return b[15] <= 1 }  // :: and ::1
        if b[0] & 0xFE == 0xFC { return true }  // fc00::/7, unique local
        if b[0] == 0xFE, b[1] & 0xC0 == 0x80 { return true }  // fe80::/10, link-local
        if b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xFF, b[11] == 0xFF {  // ::ffff:a.b.c.d
            return isInternalIPv4(UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15]))
        }
        return false
    }

    private static func isInternalIPv4(_ address: UInt32) -> Bool {
        let a = address >> 24
        let b = (address >> 16) & 0xFF
        switch (a, b) {
        case (0, _), (10, _), (127, _), (169, 254), (192, 168): return true
        case (172, 16...31): return true
        case (100, 64...127): return true  // shared address space (carrier-grade NAT)
        default: return false
        }
    }

    private func send(_ call: ProviderCall, method: String, body: ByteBuffer, stream: Bool) async throws(GatewayError)
        -> TransportResponse
    {
        var headers = Self.headers(provider: call.provider, apiKey: call.apiKey)
        headers.set(.accept, to: stream ? "text/event-stream" : "application/json")
        let url = call.provider.url(try Self.modelPath(call.target.model) + ":" + method + (stream ? "?alt=sse" : ""))
        let request = TransportRequest(
            method: .post, url: url, headers: headers, body: body,
            idleTimeout: stream ? call.provider.streamIdleTimeout : nil, caFile: call.provider.transportCAFile,
            proxy: call.provider.transportProxy)
        return try await transport.send(request, provider: call.provider.name, deadline: call.deadline, logger: call.logger)
    }

    /// `models/{model}`, or the target's own resource path (`models/…`, `tunedModels/…`).
    /// The name is one path segment, percent-encoded: a client addressing
    /// `provider/model` cannot reach another upstream method or resource.
    static func modelPath(_ model: String) throws(GatewayError) -> String {
        for collection in ["models/", "tunedModels/"] where model.hasPrefix(collection) {
            return collection + (try UpstreamPathSegment.encode(String(model.dropFirst(collection.count))))
        }
        return "models/" + (try UpstreamPathSegment.encode(model))
    }

    static func headers(provider: ProviderConfig, apiKey: String?) -> HTTPFields {
        var headers = HTTPFields()
        headers.set(.contentType, to: "application/json")
        if let apiKey, !apiKey.isEmpty { headers.set(.googAPIKey, to: apiKey) }
        headers.addProviderHeaders(provider)
        return headers
    }

    static func upstreamRequestID(_ response: TransportResponse) -> String? {
        response.firstValue(.xRequestID) ?? response.firstValue(.xGoogRequestID)
    }

    /// The reported usage, or an estimate (flagged) when the upstream sent none.
    static func usage(_ metadata: GeminiUsage?, textBytes: Int, call: ProviderCall) -> (Usage, Bool) {
        if let metadata, metadata.promptTokenCount != nil || metadata.candidatesTokenCount != nil {
            return (metadata.canonical, false)
        }
        return (
            Usage(
                promptTokens: TokenEstimator.promptTokens(call.request.chat),
                completionTokens: TokenEstimator.tokens(forCharacters: textBytes)), true
        )
    }
}
