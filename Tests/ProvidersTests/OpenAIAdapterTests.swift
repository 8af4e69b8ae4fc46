import Foundation
import Logging
import Synchronization
import HTTPTypes
import NIOCore
import OrchestratorCore
import OrchestratorTesting
import Testing

@testable import Providers

struct OpenAIAdapterTests {
    /// A body with a member the fast decoder does not know (so the rewriter, member by
    /// member, replaces the model; see `theSplicedBodyIsWhatTheRewriterMakes` for the
    /// common shape).
    @Test func passThroughRewritesOnlyTopLevelModel() async throws {
        let transport = ScriptedTransport { _ in .json(200, OpenAIFixtures.completion()) }
        let adapter = OpenAIAdapter(transport: transport)
        let json = #"{"model":"alias","messages":[{"role":"user","content":"hi"}],"seed":9007199254740993,"x_custom":{"model":"keep"}}"#
        let call = try makeCall(json, locatingModel: true)
        #expect(call.request.modelValue == nil)
        let result = try await adapter.complete(call)
        let sent = transport.requests.withLock { $0[0] }
        #expect(sent.url == "http://upstream.test/v1/chat/completions")
        #expect(sent.headers[.authorization] == "Bearer sk-upstream")
        #expect(sent.headers[.contentType] == "application/json")
        #expect(transport.lastBody == #"{"model":"real-model","messages":[{"role":"user","content":"hi"}],"seed":9007199254740993,"x_custom":{"model":"keep"}}"#)
        guard case .raw(let body) = result.body else {
            Issue.record("same-style completion should be passed through raw")
            return
        }
        #expect(String(buffer: body) == OpenAIFixtures.completion())
        #expect(result.usage == Usage(promptTokens: 9, completionTokens: 12, totalTokens: 21, reasoningTokens: 0))
        #expect(!result.usageEstimated)
    }

    /// The model spliced in where the decoder found it gives what the rewriter gives:
    /// the same bytes for a compact body, the same JSON (with the client's whitespace
    /// kept) otherwise; and the splice steps aside where the rewriter has more to do.
    @Test func theSplicedBodyIsWhatTheRewriterMakes() throws {
        let messages = #"[{"role":"user","content":"say \"model\": hi"},{"role":"assistant","content":"{\"model\":1}"}]"#
        let bodies: [(json: String, compact: Bool)] = [
            (#"{"model":"alias","messages":\#(messages)}"#, true),
            (#"{"messages":\#(messages),"temperature":0.5,"model":"alias"}"#, true),
            (#"{"model":"al\u0069as","messages":\#(messages),"user":"u"}"#, true),
            (#"{"model":"alias","stream":true,"messages":\#(messages)}"#, true),
            (#"{"model":"alias","stream":true,"stream_options":{"include_usage":true},"messages":\#(messages)}"#, true),
            (#"{"model":"alias","stream":true,"stream_options":{"include_usage":false},"messages":\#(messages)}"#, true),
            (#"{"model":"alias","max_completion_tokens":20,"messages":\#(messages)}"#, true),
            (#"{"model":"alias","max_tokens":20,"messages":\#(messages)}"#, true),
            ("{ \"model\" : \"alias\" ,\n  \"stream\": true, \"messages\": \(messages) \n}\n", false),
            ("\t{\"messages\":\(messages),\"model\":\"alias\"}  ", false),
        ]
        let openai = ProviderConfig(name: "up", type: .openai, baseURL: "http://upstream.test/v1/")
        let mistral = ProviderConfig(name: "up", type: .openai, baseURL: "https://api.mistral.ai/v1")
        var withDefault = TargetConfig(provider: "up", model: "real-model")
        withDefault.maxTokensDefault = 100
        var withExtra = TargetConfig(provider: "up", model: "real-model")
        withExtra.extraBody = ["top_k": 40]
        let targets = [TargetConfig(provider: "up", model: "real-model"), TargetConfig(provider: "up", model: #"odd "name"\/é"#), withDefault, withExtra]
        var spliced = 0
        for (json, compact) in bodies {
            for provider in [openai, mistral] {
                for target in targets {
                    for stream in [false, true] {
                        let located = try makeCall(json, provider: provider, target: target, locatingModel: true)
                        #expect(located.request.modelValue != nil, "\(json)")
                        let plain = try makeCall(json, provider: provider, target: target)
                        let rewritten = try OpenAIAdapter.upstreamBody(for: plain, stream: stream)
                        let strict = OpenAIAdapter.refusesOpenAIOnlyFields(provider.baseURL)
                        guard let body = OpenAIAdapter.modelReplacedInPlace(located.request, call: located, strict: strict, stream: stream)
                        else {
                            // Only where the rewriter has more to do than the model and a
                            // stream's usage request.
                            let more = target.maxTokensDefault != nil || !target.extraBody.isEmpty
                                || (strict && (json.contains("stream_options") || json.contains("max_completion_tokens")))
                                || (stream && !strict && json.contains(#""include_usage":false"#))
                            #expect(more, "\(json), \(provider.baseURL), \(target.model), stream \(stream)")
                            continue
                        }
                        spliced += 1
                        #expect(try OpenAIAdapter.upstreamBody(for: located, stream: stream) == body)
                        let sent = try JSONDecoder().decode(JSONValue.self, from: Data(String(buffer: body).utf8))
                        let expected = try JSONDecoder().decode(JSONValue.self, from: Data(String(buffer: rewritten).utf8))
                        #expect(sent == expected, "\(json), \(provider.baseURL), stream \(stream)")
                        #expect(sent["model"] == .string(target.model))
                        if compact { #expect(String(buffer: body) == String(buffer: rewritten), "\(json)") }
                    }
                }
            }
        }
        // Every body but the one whose client turned usage off, for the plain targets,
        // most of them both ways.
        #expect(spliced >= 60)
    }

    /// A body the fast decoder cannot read (an escaped key) has no known model place:
    /// the rewriter does the work.
    @Test func aBodyOutsideTheFastShapeIsRewritten() throws {
        let json = #"{"model":"alias","m\u0065ssages":[{"role":"user","content":"hi"}]}"#
        let call = try makeCall(json, locatingModel: true)
        #expect(call.request.modelValue == nil)
        #expect(String(buffer: try OpenAIAdapter.upstreamBody(for: call, stream: false)).contains(#""model":"real-model""#))
    }

    @Test func targetSettingsAreMerged() async throws {
        let transport = ScriptedTransport { _ in .json(200, OpenAIFixtures.completion()) }
        var target = TargetConfig(provider: "up", model: "real-model")
        target.maxTokensDefault = 4096
        target.extraBody = ["top_k": 40, "metadata": ["team": "b", "env": "prod"]]
        var provider = ProviderConfig(name: "up", type: .openai, baseURL: "http://upstream.test/v1")
        provider.headers = ["OpenAI-Organization": "org-1"]
        let json = #"{"model":"alias","messages":[{"role":"user","content":"hi"}],"metadata":{"team":"a","user":"u"}}"#
        _ = try await OpenAIAdapter(transport: transport).complete(try makeCall(json, provider: provider, target: target))
        let sent = try JSONDecoder().decode(JSONValue.self, from: Data(transport.lastBody.utf8))
        #expect(sent["max_tokens"] == .int(4096))
        #expect(sent["top_k"] == .int(40))
        #expect(sent["metadata"] == ["team": "b", "env": "prod", "user": "u"])
        #expect(transport.requests.withLock { $0[0].headers[HTTPField.Name("OpenAI-Organization")!] } == "org-1")
    }

    /// A transport that prepares every request (counting them), as the NIO one does.
    final class PreparingTransport: HTTPTransport {
        final class Prepared: PreparedRequestHead {
            let url: String
            init(url: String) { self.url = url }
        }
        let scripted = ScriptedTransport { _ in .json(200, OpenAIFixtures.completion()) }
        let prepared = Mutex(0)

        func execute(_ request: TransportRequest, deadline: ContinuousClock.Instant, logger: Logger) async throws
            -> TransportResponse
        {
            try await scripted.execute(request, deadline: deadline, logger: logger)
        }

        func prepare(_ request: TransportRequest) -> (any PreparedRequestHead)? {
            prepared.withLock { $0 += 1 }
            return Prepared(url: request.url)
        }
    }

    /// Calls with the same provider, key and kind share one prepared request; any
    /// difference in what the head is made of gets its own, with its own fields.
    @Test func requestHeadsAreBuiltOncePerProviderKeyAndKind() async throws {
        let transport = PreparingTransport()
        let adapter = OpenAIAdapter(transport: transport)
        let json = #"{"model":"alias","messages":[{"role":"user","content":"hi"}]}"#
        var provider = ProviderConfig(name: "up", type: .openai, baseURL: "http://upstream.test/v1/")
        for _ in 0..<3 { _ = try await adapter.complete(try makeCall(json, provider: provider)) }
        #expect(transport.prepared.withLock { $0 } == 1)
        _ = try await adapter.complete(try makeCall(json, provider: provider, apiKey: "sk-other"))
        _ = try await adapter.complete(try makeCall(json, provider: provider, apiKey: nil))
        provider.headers = ["X-Tenant": "blue"]
        _ = try await adapter.complete(try makeCall(json, provider: provider))
        provider.baseURL = "http://elsewhere.test/v2"
        _ = try await adapter.complete(try makeCall(json, provider: provider))
        _ = try await adapter.complete(try makeCall(json, provider: provider))
        #expect(transport.prepared.withLock { $0 } == 5)
        #expect(adapter.heads.count == 5)
        let sent = transport.scripted.requests.withLock { $0 }
        #expect(sent.count == 8)
        #expect(sent[2].headers[.authorization] == "Bearer sk-upstream")
        #expect(sent[3].headers[.authorization] == "Bearer sk-other")
        #expect(sent[4].headers[.authorization] == nil)
        #expect(sent[5].headers[HTTPField.Name("X-Tenant")!] == "blue")
        #expect(sent[5].url == "http://upstream.test/v1/chat/completions")
        #expect(sent[7].url == "http://elsewhere.test/v2/chat/completions")
        // Each request carries the preparation of its own URL, and its own body.
        for request in sent {
            #expect((request.prepared as? PreparingTransport.Prepared)?.url == request.url)
            #expect(request.body.map { String(buffer: $0) }?.contains(#""model":"real-model""#) == true)
        }
    }

    @Test func azureDeploymentsGetTheirOwnHeads() async throws {
        let transport = PreparingTransport()
        let adapter = OpenAIAdapter(transport: transport, dialect: .azure)
        let json = #"{"model":"alias","messages":[{"role":"user","content":"hi"}]}"#
        let provider = ProviderConfig(name: "az", type: .azure, baseURL: "https://res.openai.azure.com")
        for model in ["gpt-4o", "gpt-4o-mini", "gpt-4o"] {
            _ = try await adapter.complete(
                try makeCall(json, provider: provider, target: TargetConfig(provider: "az", model: model)))
        }
        let urls = transport.scripted.requests.withLock { $0.map(\.url) }
        #expect(urls.map { $0.contains("/deployments/gpt-4o/") } == [true, false, true])
        #expect(urls[1].contains("/deployments/gpt-4o-mini/"))
        #expect(transport.prepared.withLock { $0 } == 2)
    }

    @Test func noKeyMeansNoAuthorizationHeader() async throws {
        let transport = ScriptedTransport { _ in .json(200, OpenAIFixtures.completion()) }
        _ = try await OpenAIAdapter(transport: transport).complete(
            try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#, apiKey: nil))
        #expect(transport.requests.withLock { $0[0].headers[.authorization] } == nil)
    }

    @Test func upstreamErrorsKeepStatusAndMessage() async throws {
        let transport = ScriptedTransport { _ in
            .json(400, #"{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error"}}"#)
        }
        let call = try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#)
        await #expect(throws: GatewayError.self) { try await OpenAIAdapter(transport: transport).complete(call) }
        do {
            _ = try await OpenAIAdapter(transport: transport).complete(call)
        } catch {
            #expect(error.status == 400)
            #expect(!error.isRetryable)
            #expect(error.message.contains("Invalid value for 'temperature'"))
        }
    }

    @Test func rateLimitHonoursRetryAfter() async throws {
        let transport = ScriptedTransport { _ in
            .json(429, #"{"error":{"message":"Rate limit reached for sk-abcdefghijklmnop"}}"#, headers: [HTTPField.Name("Retry-After")!: "7"])
        }
        do {
            _ = try await OpenAIAdapter(transport: transport).complete(
                try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
            Issue.record("expected an error")
        } catch let error as GatewayError {
            #expect(error.status == 429)
            #expect(error.isRetryable)
            #expect(error.retryAfterSeconds == 7)
            #expect(!error.message.contains("abcdefghijklmnop"), "secrets in upstream errors are redacted")
        }
    }

    @Test func garbageBodyIsABadUpstreamResponse() async throws {
        for body in ["<html>502 Bad Gateway</html>", "", #"{"unexpected":true}"#, #"{"error":{"message":"x"},"choices":[]}"#] {
            let transport = ScriptedTransport { _ in .json(200, body) }
            do {
                _ = try await OpenAIAdapter(transport: transport).complete(
                    try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
                Issue.record("expected an error for \(body)")
            } catch let error as GatewayError {
                #expect(error.status == 502)
                #expect(error.code == "bad_upstream_response")
                #expect(error.isRetryable)
            }
        }
    }

    @Test func transportFailuresAreClassified() async throws {
        for (kind, status) in [(TransportError.Kind.connect, 502), (.timeout, 504), (.idleTimeout, 504), (.closed, 502)] {
            let transport = ScriptedTransport { _ in throw TransportError(kind, "boom") }
            do {
                _ = try await OpenAIAdapter(transport: transport).complete(
                    try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
                Issue.record("expected an error")
            } catch let error as GatewayError {
                #expect(error.status == status, "\(kind)")
                #expect(error.isRetryable)
            }
        }
    }

    @Test func missingUsageIsEstimated() async throws {
        let body = #"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"abcdefgh"},"finish_reason":"stop"}]}"#
        let transport = ScriptedTransport { _ in .json(200, body) }
        let result = try await OpenAIAdapter(transport: transport).complete(
            try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
        #expect(result.usageEstimated)
        #expect(result.usage?.completionTokens == 2)
    }

    @Test func streamAsksForUsageAndStripsItWhenNotRequested() async throws {
        let events = OpenAIFixtures.chunks(["Hel", "lo"])
        let wire = events.map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n"
        // Deliver the body split at awkward places.
        let pieces = stride(from: 0, to: wire.utf8.count, by: 37).map { start -> String in
            let bytes = Array(wire.utf8)
            return String(decoding: bytes[start..<min(start + 37, bytes.count)], as: UTF8.self)
        }
        let transport = ScriptedTransport { _ in .sse(pieces) }
        let stream = try await OpenAIAdapter(transport: transport).stream(
            try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#))
        let sent = try JSONDecoder().decode(JSONValue.self, from: Data(transport.lastBody.utf8))
        #expect(sent["stream_options"] == ["include_usage": true])
        #expect(transport.requests.withLock { $0[0].headers[.accept] } == "text/event-stream")
        let out = try await collect(stream)
        let raw = out.compactMap(\.rawText)
        #expect(raw.count == 4, "role, two pieces, finish; the usage-only chunk is stripped")
        #expect(raw.allSatisfy { $0.hasPrefix("data: {") && $0.hasSuffix("\n\n") })
        #expect(!raw.joined().contains("\"usage\""))
        #expect(out.compactMap(\.usage).first?.totalTokens == 21, "usage is still reported to the engine")
    }

    @Test func streamKeepsUsageWhenTheClientAskedForIt() async throws {
        let wire = OpenAIFixtures.chunks(["Hi"]).map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n"
        let transport = ScriptedTransport { _ in .sse([wire]) }
        let stream = try await OpenAIAdapter(transport: transport).stream(
            try makeCall(#"{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}"#))
        #expect(transport.lastBody.contains(#""stream_options":{"include_usage":true}"#))
        let raw = try await collect(stream).compactMap(\.rawText)
        #expect(raw.count == 1, "events of one upstream read leave as one write")
        let frames = raw.joined().components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(frames.count == 4)
        #expect(frames.allSatisfy { $0.hasPrefix("data: {") })
        #expect(frames.last?.contains(#""usage""#) == true)
    }

    @Test func streamForOtherStylesYieldsCanonicalChunks() async throws {
        let wire = OpenAIFixtures.chunks(["A", "B"]).map { "data: \($0)\r\n\r\n" }.joined() + "data: [DONE]\r\n\r\n"
        let transport = ScriptedTransport { _ in .sse([wire]) }
        let stream = try await OpenAIAdapter(transport: transport).stream(
            try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#, style: .anthropic))
        let sent = try JSONDecoder().decode(ChatRequest.self, from: Data(transport.lastBody.utf8))
        #expect(sent.model == "real-model")
        #expect(sent.streamOptions?.includeUsage == true)
        let chunks = try await collect(stream).compactMap(\.chunk)
        #expect(chunks.compactMap { $0.choices.first?.delta.content }.joined() == "AB")
    }

    @Test func streamFailures() async throws {
        let request = #"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#
        let cases: [(TransportResponse, String)] = [
            (.sse(["data: {not json}\n\n"]), "bad_upstream_response"),
            (.sse(["data: " + OpenAIFixtures.chunks(["x"])[0] + "\n\n"]), "bad_upstream_response"),
            (.sse([#"data: {"error":{"message":"overloaded"}}"# + "\n\n"]), "upstream_stream_error"),
            (.json(200, #"{"error":{"message":"quota"}}"#), "bad_upstream_response"),
        ]
        for (response, code) in cases {
            let transport = ScriptedTransport { _ in response }
            do {
                let stream = try await OpenAIAdapter(transport: transport).stream(try makeCall(request))
                _ = try await collect(stream)
                Issue.record("expected \(code)")
            } catch let error as GatewayError {
                #expect(error.code == code)
                #expect(error.status == 502)
            }
        }
    }

    @Test func eventsBeforeAFailureInTheSameReadAreDelivered() async throws {
        let first = OpenAIFixtures.chunks(["kept"])[1]
        let wire = "data: \(first)\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n"
        let transport = ScriptedTransport { _ in .sse([wire]) }
        let stream = try await OpenAIAdapter(transport: transport).stream(
            try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#))
        var delivered: [String] = []
        do {
            for try await event in stream.events {
                if let raw = event.rawText { delivered.append(raw) }
            }
            Issue.record("expected the error after the good event")
        } catch let error as GatewayError {
            #expect(error.code == "upstream_stream_error" && error.isRetryable)
        }
        #expect(delivered.count == 1 && delivered[0].contains("kept"))
    }

    @Test func aDeferredErrorIsRaisedWithoutWaitingForTheNextRead() async throws {
        let first = OpenAIFixtures.chunks(["kept"])[1]
        let wire = "data: \(first)\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n"
        let transport = ScriptedTransport { _ in
            TransportResponse(
                status: 200, headers: [.contentType: "text/event-stream"],
                body: ErasedAsyncSequence(makeNext: {
                    var sent = false
                    return {
                        if sent {
                            // An upstream that then goes silent.
                            try await Task.sleep(for: .seconds(30))
                            return nil
                        }
                        sent = true
                        return ByteBuffer(string: wire)
                    }
                }))
        }
        let stream = try await OpenAIAdapter(transport: transport).stream(
            try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#))
        let started = ContinuousClock.now
        do {
            for try await _ in stream.events {}
            Issue.record("expected the error")
        } catch let error as GatewayError {
            #expect(error.code == "upstream_stream_error")
        }
        #expect(started.duration(to: .now) < .seconds(5))
    }

    @Test func truncatedStreamDeliversWhatArrivedThenFails() async throws {
        let wire = OpenAIFixtures.chunks(["a", "b"], usage: false).map { "data: \($0)\n\n" }.joined()
        let transport = ScriptedTransport { _ in .sse([wire]) }
        let stream = try await OpenAIAdapter(transport: transport).stream(
            try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#))
        var delivered = ""
        do {
            for try await event in stream.events { delivered += event.rawText ?? "" }
            Issue.record("a stream without [DONE] must fail")
        } catch let error as GatewayError {
            #expect(error.code == "bad_upstream_response")
        }
        #expect(delivered.components(separatedBy: "\n\n").filter { !$0.isEmpty }.count == 4)
    }

    @Test func streamErrorStatusFailsBeforeTheStream() async throws {
        let transport = ScriptedTransport { _ in .json(503, #"{"error":{"message":"overloaded"}}"#) }
        do {
            _ = try await OpenAIAdapter(transport: transport).stream(
                try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#))
            Issue.record("expected an error")
        } catch let error as GatewayError {
            #expect(error.status == 503)
            #expect(error.isRetryable)
        }
    }
}

struct MockAdapterTests {
    @Test func cannedCompletionAndStream() async throws {
        var settings = MockSettings()
        settings.reply = "one two three"
        let adapter = MockAdapter(providerName: "demo", settings: settings)
        let call = try makeCall(#"{"model":"a","messages":[{"role":"user","content":"hello"}]}"#)
        let completion = try await adapter.complete(call)
        guard case .canonical(let body) = completion.body else {
            Issue.record("mock answers canonically")
            return
        }
        #expect(body.choices[0].message.content == .text("one two three"))
        #expect(completion.usage?.completionTokens == 4)

        let streamCall = try makeCall(#"{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}"#)
        let events = try await collect(try await adapter.stream(streamCall))
        let chunks = events.compactMap(\.chunk)
        #expect(chunks.compactMap { $0.choices.first?.delta.content }.joined() == "one two three")
        #expect(chunks.last?.isUsageOnly == true)
        #expect(chunks.contains { $0.choices.first?.finishReason == "stop" })
    }

    @Test func failureRateOneAlwaysFails() async throws {
        var settings = MockSettings()
        settings.failureRate = 1
        do {
            _ = try await MockAdapter(providerName: "demo", settings: settings).complete(
                try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
            Issue.record("expected a failure")
        } catch let error as GatewayError {
            #expect(error.status == 503 && error.isRetryable)
        }
    }

    @Test func registryMakesKnownTypesAndRejectsOthers() throws {
        let registry = ProviderRegistry(transport: ScriptedTransport { _ in .json(200, "{}") })
        #expect(try registry.makeAdapter(for: ProviderConfig(name: "a", type: .openai, baseURL: "http://x")).style == .openai)
        #expect(try registry.makeAdapter(for: ProviderConfig(name: "m", type: .mock)).style == .openai)
        #expect(try registry.makeAdapter(for: ProviderConfig(name: "c", type: .anthropic)).style == .anthropic)
        #expect(try registry.makeAdapter(for: ProviderConfig(name: "g", type: .gemini)).style == .gemini)
        #expect(try registry.makeAdapter(for: ProviderConfig(name: "z", type: .azure)).style == .openai)
        #expect(throws: GatewayError.self) { try registry.makeAdapter(for: ProviderConfig(name: "b", type: .bedrock)) }
    }
}

struct OpenAIInboundCodecTests {
    @Test func errorBodyShape() throws {
        let body = OpenAIInboundCodec().encodeError(.invalidRequest("bad", param: "messages[0].role"))
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
        #expect(json == ["error": ["message": "bad", "type": "invalid_request_error", "param": "messages[0].role", "code": .null]])
        let stream = String(buffer: OpenAIStreamEncoder(includeUsage: false).encodeError(.timeout("slow")))
        #expect(stream.hasPrefix("data: {\"error\":") && stream.hasSuffix("\n\n"))
    }

    @Test func chunksAndUsage() throws {
        let usageOnly = ChatCompletionChunk(id: "c", created: 1, model: "m", choices: [], usage: Usage(promptTokens: 1, completionTokens: 1))
        var without = OpenAIStreamEncoder(includeUsage: false)
        var with = OpenAIStreamEncoder(includeUsage: true)
        #expect(try without.encode(usageOnly) == nil)
        #expect(try with.encode(usageOnly) != nil)
        #expect(without.finish().map { String(buffer: $0) } == "data: [DONE]\n\n")
    }
}

/// The real AsyncHTTPClient transport against a real loopback server.
struct AsyncHTTPClientTransportTests {
    @Test func streamsBodiesFromARealServer() async throws {
        let transport = AsyncHTTPClientTransport()
        try await MockUpstream.withServer({ request in
            .sse(OpenAIFixtures.chunks(["a", "b"]), delay: .milliseconds(5))
        }) { upstream in
            let response = try await transport.execute(
                TransportRequest(url: upstream.baseURL + "/v1/chat/completions", headers: [.authorization: "Bearer k"], body: ByteBuffer(string: "{}")),
                deadline: .now + .seconds(10), logger: .init(label: "t"))
            #expect(response.status == 200)
            let body = String(buffer: try await response.collect(upTo: 1 << 20))
            #expect(body.hasSuffix("data: [DONE]\n\n"))
            #expect(upstream.requests.first?.header("authorization") == "Bearer k")
        }
        try await transport.shutdown()
    }

    @Test func connectionRefusedIsAConnectError() async throws {
        let transport = AsyncHTTPClientTransport()
        await expectTransportFailure(.connect) {
            _ = try await transport.execute(
                TransportRequest(url: "http://127.0.0.1:1/v1/chat/completions"), deadline: .now + .seconds(5),
                logger: .init(label: "t"))
        }
        try await transport.shutdown()
    }

    @Test func headDeadlineIsEnforced() async throws {
        let transport = AsyncHTTPClientTransport()
        try await MockUpstream.withServer(MockUpstream.slow(.seconds(2), .json(200, "{}"))) { upstream in
            await expectTransportFailure(.timeout) {
                _ = try await transport.execute(
                    TransportRequest(url: upstream.baseURL + "/slow"), deadline: .now + .milliseconds(200),
                    logger: .init(label: "t"))
            }
        }
        try await transport.shutdown()
    }
}

struct RetryAfterTests {
    @Test func secondsAndHTTPDates() {
        #expect(UpstreamFailure.retryAfter("7") == 7)
        #expect(UpstreamFailure.retryAfter("1.2") == 2)
        #expect(UpstreamFailure.retryAfter("-5") == 0)
        #expect(UpstreamFailure.retryAfter(nil) == nil)
        #expect(UpstreamFailure.retryAfter("soon") == nil)
        for hostile in ["inf", "nan", "-inf"] {
            #expect(UpstreamFailure.retryAfter(hostile) == nil, "\(hostile)")
        }
        #expect(UpstreamFailure.retryAfter("1e20") == 86_400)
        #expect(UpstreamFailure.retryAfter("Fri, 31 Dec 9999 23:59:59 GMT") == 86_400)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let inTwoMinutes = formatter.string(from: Date().addingTimeInterval(120))
        let parsed = UpstreamFailure.retryAfter(inTwoMinutes)
        #expect(parsed != nil && (118...121).contains(parsed!), "\(inTwoMinutes) → \(String(describing: parsed))")
        #expect(UpstreamFailure.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == 0)
    }
}

struct ProbeTests {
    @Test func openAIProbeListsModelsWithTheKey() async throws {
        let transport = ScriptedTransport { request in
            request.headers[.authorization] == "Bearer good" ? .json(200, #"{"object":"list","data":[]}"#)
                : .json(401, #"{"error":{"message":"Incorrect API key"}}"#)
        }
        let adapter = OpenAIAdapter(transport: transport)
        let provider = ProviderConfig(name: "up", type: .openai, baseURL: "http://upstream.test/v1/")
        try await adapter.probe(provider, apiKey: "good", deadline: .now + .seconds(5), logger: Logger(label: "t"))
        #expect(transport.requests.withLock { $0[0].url } == "http://upstream.test/v1/models")
        #expect(transport.requests.withLock { $0[0].method } == .get)
        do {
            try await adapter.probe(provider, apiKey: "bad", deadline: .now + .seconds(5), logger: Logger(label: "t"))
            Issue.record("expected 401")
        } catch {
            #expect(error.upstreamStatus == 401)
        }
    }
}

/// The OpenAI pass-through stream through `SSETranslation`: what reaches the client is
/// the upstream's events re-framed (`data: …\n\n`), without `[DONE]` and, unless asked
/// for, without the usage-only chunk; events that already lie that way in a read leave
/// as a slice of it, uncopied.
struct OpenAIPassThroughFramingTests {
    static let events = [
        #"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        #"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
        #"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
        #"{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
    ]

    static func frames(_ reads: [ByteBuffer], wantsUsage: Bool) throws(GatewayError) -> ([ByteBuffer], [ProviderStreamEvent]) {
        var translation = SSETranslation(OpenAIStreamTranslator(provider: "up", passThrough: true, clientWantsUsage: wantsUsage))
        var out: [ProviderStreamEvent] = []
        for read in reads { out += try translation.feed(read) }
        out += try translation.finish()
        let parts = out.compactMap { event -> ByteBuffer? in
            if case .part(.raw(let bytes)) = event { return bytes }
            return nil
        }
        return (parts, out)
    }

    static func expected(wantsUsage: Bool) -> String {
        events.dropLast(wantsUsage ? 0 : 1).map { "data: \($0)\n\n" }.joined()
    }

    @Test func canonicalEventsLeaveAsASliceOfTheRead() throws {
        let read = ByteBuffer(string: Self.events.map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n")
        let (parts, all) = try Self.frames([read], wantsUsage: false)
        #expect(parts.count == 1)
        #expect(String(buffer: parts[0]) == Self.expected(wantsUsage: false))
        // The same memory as the read: nothing was copied.
        let readBase = read.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let partBase = parts[0].withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(partBase == readBase)
        // The bookkeeping still saw the usage chunk it did not forward.
        #expect(all.contains { if case .usage(let u) = $0 { return u.promptTokens == 3 } else { return false } })
        let (withUsage, _) = try Self.frames([read], wantsUsage: true)
        #expect(withUsage.map { String(buffer: $0) }.joined() == Self.expected(wantsUsage: true))
    }

    /// A read's text counts reach the engine as one event ahead of its parts, however
    /// many deltas it held; each read has its own, and the sum is the stream's text.
    @Test func eachReadCountsItsTextOnce() throws {
        func counts(_ events: [ProviderStreamEvent]) -> [Int] {
            events.compactMap { if case .outputText(let n) = $0 { return n } else { return nil } }
        }
        let all = Self.events.map { "data: \($0)\n\n" }
        let (_, one) = try Self.frames([ByteBuffer(string: all.joined() + "data: [DONE]\n\n")], wantsUsage: false)
        #expect(counts(one) == [5])
        if case .outputText = one.first {} else { Issue.record("the count comes first: \(one)") }
        let (_, two) = try Self.frames(
            [ByteBuffer(string: all[0] + all[1]), ByteBuffer(string: all[2] + all[3] + "data: [DONE]\n\n")], wantsUsage: false)
        #expect(counts(two) == [3, 2])
        // The translating path (a client of another style) counts the same way.
        var translation = SSETranslation(OpenAIStreamTranslator(provider: "up", passThrough: false, clientWantsUsage: false))
        let translated = try translation.feed(ByteBuffer(string: all.joined()))
        #expect(counts(translated) == [5])
        #expect(translated.filter { if case .part = $0 { return true } else { return false } }.count == 3)
    }

    /// Events that do not lie as they would be written (CRLF, a comment inside, split
    /// across reads) are re-framed, in order with the slices around them.
    @Test func mixedFramingKeepsTheOrderAndTheBytes() throws {
        let e = Self.events
        let text =
            "data: \(e[0])\n\n" + "data: \(e[1])\r\n\r\n" + ": note\ndata: \(e[2])\n\n" + "data: \(e[3])\n\n"
            + "data: [DONE]\n\n"
        let bytes = Array(text.utf8)
        var random = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let reads = randomPieces(of: bytes, maxPiece: 160, using: &random).map { ByteBuffer(bytes: $0) }
            for wantsUsage in [false, true] {
                let (parts, _) = try Self.frames(reads, wantsUsage: wantsUsage)
                #expect(parts.map { String(buffer: $0) }.joined() == Self.expected(wantsUsage: wantsUsage))
                // One part per read at most: events of one read leave in one write.
                #expect(parts.count <= reads.count)
            }
        }
    }
}
