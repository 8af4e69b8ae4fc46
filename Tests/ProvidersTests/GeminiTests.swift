import Foundation
import HTTPTypes
import Logging
import NIOCore
import OrchestratorCore
import Synchronization
import Testing

@testable import Providers

// Fixtures (Tests/ProvidersTests/Fixtures/gemini) follow the examples and field lists
// of the Gemini API reference (https://ai.google.dev/api/generate-content,
// …/api/embeddings, …/gemini-api/docs/thought-signatures) and what the google-genai
// client sends and parses.

enum GeminiFixtures {
    static func text(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures/gemini/\(name)", withExtension: nil),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            Issue.record("missing fixture \(name)")
            return ""
        }
        return text
    }
}

let geminiProvider = ProviderConfig(name: "gem", type: .gemini, baseURL: "https://generativelanguage.test/v1beta/")

func geminiCall(
    _ json: String, style: APIStyle = .openai, operation: APIOperation = .chat, route: RouteParameters = RouteParameters(),
    provider: ProviderConfig = geminiProvider, target: TargetConfig = TargetConfig(provider: "gem", model: "gemini-2.5-flash")
) throws -> ProviderCall {
    let body = ByteBuffer(string: json)
    let chat: ChatRequest
    switch (style, operation) {
    case (.gemini, _): chat = try GeminiInboundCodec().decodeChatRequest(body, route: route)
    case (_, .embeddings): chat = try EmbeddingsInboundCodec().decodeChatRequest(body)
    default: chat = try JSONCoding.decodeRequest(ChatRequest.self, from: body)
    }
    return ProviderCall(
        request: InboundRequest(
            style: style, body: body, chat: chat, requestID: "req-1", receivedAtMillis: 1_700_000_000_000,
            operation: operation, route: route),
        provider: provider, target: target, apiKey: "AIza-upstream-key", deadline: .now + .seconds(30),
        logger: Logger(label: "test"))
}

struct GeminiRequestTranslationTests {
    @Test func systemMultiTurnImagesAndGenerationConfig() throws {
        let chat = try JSONCoding.decodeRequest(
            ChatRequest.self,
            from: ByteBuffer(
                string: """
                    {"model":"m","messages":[
                      {"role":"system","content":"Be terse."},{"role":"developer","content":"Answer in French."},
                      {"role":"user","content":"Capital of France?"},{"role":"assistant","content":"Paris."},
                      {"role":"user","content":[{"type":"text","text":"And this?"},
                        {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
                        {"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0="}}]},
                      {"role":"user","content":"Quickly."}],
                     "temperature":0.5,"top_p":0.9,"max_tokens":300,"stop":["END"],"n":2,"seed":7,
                     "presence_penalty":0.1,"frequency_penalty":0.2,"reasoning_effort":"medium",
                     "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}}}
                    """))
        let request = try GeminiTranslation.request(from: chat, model: "gemini-2.5-flash", maxTokensDefault: nil)
        let value = try JSONValueDecoding.encode(request)
        #expect(value["systemInstruction"] == j(#"{"parts":[{"text":"Be terse."},{"text":"Answer in French."}]}"#))
        #expect(request.contents.map(\.role) == ["user", "model", "user"])
        // Consecutive user turns merge (Gemini wants alternating turns).
        #expect(request.contents[2].parts.count == 4)
        #expect(request.contents[2].parts[1].inlineData == GeminiBlob(mimeType: "image/png", data: "iVBORw0KGgo="))
        #expect(request.contents[2].parts[2].inlineData?.mimeType == "application/pdf")
        let config = try #require(value["generationConfig"])
        #expect(config == j("""
            {"temperature":0.5,"topP":0.9,"maxOutputTokens":300,"stopSequences":["END"],"candidateCount":2,"seed":7,
             "presencePenalty":0.1,"frequencyPenalty":0.2,"responseMimeType":"application/json",
             "responseSchema":{"type":"object","properties":{"a":{"type":"string"}}},
             "thinkingConfig":{"thinkingBudget":2048,"includeThoughts":true}}
            """))
    }

    @Test func toolsToolChoiceCallsAndResultsWithSignatures() throws {
        let chat = try JSONCoding.decodeRequest(
            ChatRequest.self,
            from: ByteBuffer(
                string: """
                    {"model":"m","messages":[
                      {"role":"user","content":"Weather in Paris and Rome?"},
                      {"role":"assistant","content":null,"tool_calls":[
                        {"id":"wz3k1p0a","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"},
                         "extra_content":{"google":{"thought_signature":"c2lnLTE="}}},
                        {"id":"call_madeup123","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Rome\\"}"}}]},
                      {"role":"tool","tool_call_id":"wz3k1p0a","content":"{\\"temp\\":14}"},
                      {"role":"tool","tool_call_id":"call_madeup123","content":"sunny, 19C"}],
                     "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":
                       {"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
                        "properties":{"city":{"type":"string","format":"city-name"},"unit":{"type":["string","null"],"enum":["c","f"]},
                          "when":{"$ref":"#/$defs/day"}},"required":["city","missing"],"$defs":{"day":{"type":"string","const":"today"}}}}},
                       {"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}}],
                     "tool_choice":{"type":"function","function":{"name":"get_weather"}}}
                    """))
        let request = try GeminiTranslation.request(from: chat, model: "gemini-2.5-flash", maxTokensDefault: 1000)
        #expect(request.contents.map(\.role) == ["user", "model", "user"])
        let calls = request.contents[1].parts.compactMap(\.functionCall)
        // Gemini's own ids go back; ids the gateway made up do not.
        #expect(calls == [
            GeminiFunctionCall(id: "wz3k1p0a", name: "get_weather", args: j(#"{"city":"Paris"}"#)),
            GeminiFunctionCall(id: nil, name: "get_weather", args: j(#"{"city":"Rome"}"#)),
        ])
        #expect(request.contents[1].parts.map(\.thoughtSignature) == ["c2lnLTE=", nil])
        let responses = request.contents[2].parts.compactMap(\.functionResponse)
        #expect(responses == [
            GeminiFunctionResponse(id: "wz3k1p0a", name: "get_weather", response: j(#"{"temp":14}"#)),
            GeminiFunctionResponse(id: nil, name: "get_weather", response: j(#"{"result":"sunny, 19C"}"#)),
        ])
        let declarations = try #require(request.tools?.first?.functionDeclarations)
        #expect(declarations[0].parameters == j("""
            {"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","nullable":true,"enum":["c","f"]},
             "when":{"type":"string","enum":["today"]}},"required":["city"]}
            """))
        // An object without properties: no parameters at all.
        #expect(declarations[1].parameters == nil)
        #expect(request.toolConfig == GeminiToolConfig(functionCallingConfig: .init(mode: "ANY", allowedFunctionNames: ["get_weather"])))
        #expect(request.generationConfig?.maxOutputTokens == 1000)
    }

    @Test func toolChoiceModes() throws {
        for (choice, mode) in [("\"auto\"", "AUTO"), ("\"none\"", "NONE"), ("\"required\"", "ANY")] {
            let chat = try JSONCoding.decodeRequest(
                ChatRequest.self,
                from: ByteBuffer(string: #"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":\#(choice)}"#))
            let request = try GeminiTranslation.request(from: chat, model: "g", maxTokensDefault: nil)
            #expect(request.toolConfig?.functionCallingConfig?.mode == mode)
        }
    }

    @Test func gemini3GetsAPlaceholderSignatureForForeignCalls() throws {
        let chat = try JSONCoding.decodeRequest(
            ChatRequest.self,
            from: ByteBuffer(string: #"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"toolu_1","content":"ok"}]}"#))
        let three = try GeminiTranslation.request(from: chat, model: "gemini-3-pro-preview", maxTokensDefault: nil)
        #expect(three.contents[1].parts.first?.thoughtSignature == "skip_thought_signature_validator")
        let two = try GeminiTranslation.request(from: chat, model: "gemini-2.5-pro", maxTokensDefault: nil)
        #expect(two.contents[1].parts.first?.thoughtSignature == nil)
    }

    @Test func badInputIsAPreciseBadRequest() throws {
        func failure(_ json: String) throws -> GatewayError? {
            let chat = try JSONCoding.decodeRequest(ChatRequest.self, from: ByteBuffer(string: json))
            do {
                _ = try GeminiTranslation.request(from: chat, model: "g", maxTokensDefault: nil)
                return nil
            } catch {
                return error
            }
        }
        let remote = try failure(#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://img.test/cat.png"}}]}]}"#)
        #expect(remote?.status == 400)
        #expect(remote?.code == "image_url_not_supported")
        #expect(remote?.param == "messages[0].content[0].image_url.url")
        let orphan = try failure(#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"r"}]}"#)
        #expect(orphan?.param == "messages[1].tool_call_id")
        let args = try failure(#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}"#)
        #expect(args?.param == "messages[1].tool_calls[0].function.arguments")
        let systemOnly = try failure(#"{"model":"m","messages":[{"role":"system","content":"x"}]}"#)
        #expect(systemOnly?.param == "messages")
    }
}

struct GeminiResponseTranslationTests {
    @Test func textWithThoughtsAndUsage() throws {
        let response = try JSONCoding.decode(GeminiResponse.self, from: GeminiFixtures.text("response_text.json"))
        let completion = try GeminiTranslation.completion(from: response, model: "t", created: 5, provider: "gem")
        #expect(completion.id == "chatcmpl-Jx8pab2kB4i7qtsPq7KEyQ0")
        #expect(completion.model == "gemini-2.5-flash")
        let message = try #require(completion.choices.first?.message)
        #expect(message.content == .text("The capital of France is Paris."))
        #expect(message.reasoningContent == "**Considering the question**\nThe user asks for a capital city...")
        #expect(completion.choices.first?.finishReason == "stop")
        #expect(completion.usage == Usage(promptTokens: 9, completionTokens: 52, totalTokens: 61, reasoningTokens: 44))
    }

    @Test func parallelFunctionCallsKeepIdsAndSignature() throws {
        let response = try JSONCoding.decode(GeminiResponse.self, from: GeminiFixtures.text("response_function_call.json"))
        let completion = try GeminiTranslation.completion(from: response, model: "t", created: 5, provider: "gem")
        let choice = try #require(completion.choices.first)
        #expect(choice.finishReason == "tool_calls")
        #expect(choice.message.content == nil)
        let calls = try #require(choice.message.toolCalls)
        #expect(calls.map(\.id) == ["wz3k1p0a", "9qf2m7tc"])
        #expect(calls.map(\.function.arguments) == [#"{"city":"Paris","unit":"celsius"}"#, #"{"city":"Rome","unit":"celsius"}"#])
        #expect(GeminiTranslation.thoughtSignature(calls[0].extra) == "CpwCAdHtim9k3x0Fqz2mY0u7r5T1b1l8oXz0cQ8hT2d5aGVyZV9pc19teV9zaWduYXR1cmU=")
        #expect(calls[1].extra.isEmpty)
        #expect(completion.usage?.reasoningTokens == 147)
        #expect(completion.usage?.completionTokens == 185)
    }

    @Test func callsWithoutIdsGetDistinctOnes() throws {
        let response = try JSONCoding.decode(
            GeminiResponse.self,
            from: #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b"}}]},"finishReason":"STOP"}]}"#)
        let calls = try #require(try GeminiTranslation.completion(from: response, model: "t", created: 0, provider: "gem").choices.first?.message.toolCalls)
        #expect(calls.count == 2)
        #expect(calls[0].id != calls[1].id)
        #expect(calls.allSatisfy { $0.id.hasPrefix("call_") })
        #expect(calls[1].function.arguments == "{}")
    }

    @Test func everyFinishReason() {
        let cases: [(String, String)] = [
            ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
            ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
            ("IMAGE_SAFETY", "content_filter"), ("LANGUAGE", "content_filter"), ("OTHER", "stop"),
            ("MALFORMED_FUNCTION_CALL", "stop"), ("FINISH_REASON_UNSPECIFIED", "stop"),
        ]
        for (gemini, openai) in cases {
            #expect(GeminiTranslation.finishReason(gemini, hasToolCalls: false) == openai, "\(gemini)")
        }
        #expect(GeminiTranslation.finishReason("STOP", hasToolCalls: true) == "tool_calls")
        #expect(GeminiTranslation.geminiFinishReason("length") == "MAX_TOKENS")
        #expect(GeminiTranslation.geminiFinishReason("content_filter") == "SAFETY")
        #expect(GeminiTranslation.geminiFinishReason("tool_calls") == "STOP")
    }

    @Test func blockedPromptIsAClearError() throws {
        let response = try JSONCoding.decode(GeminiResponse.self, from: GeminiFixtures.text("response_blocked.json"))
        #expect(throws: GatewayError.self) {
            _ = try GeminiTranslation.completion(from: response, model: "t", created: 0, provider: "gem")
        }
        do {
            _ = try GeminiTranslation.completion(from: response, model: "t", created: 0, provider: "gem")
        } catch {
            #expect(error.status == 400)
            #expect(error.code == "content_filter")
            #expect(error.message.contains("SAFETY"))
            #expect(!error.isRetryable)
        }
    }
}

struct GeminiStreamTests {
    static func translate(_ pieces: [String], passThrough: Bool = false, wantsUsage: Bool = true) throws(GatewayError)
        -> [ProviderStreamEvent]
    {
        var translation = SSETranslation(
            GeminiStreamTranslator(provider: "gem", passThrough: passThrough, clientWantsUsage: wantsUsage, model: "g", created: 3))
        var out: [ProviderStreamEvent] = []
        for piece in pieces { out += try translation.feed(ByteBuffer(string: piece)) }
        out += try translation.finish()
        if let deferred = translation.takeDeferred() { throw deferred }
        return out
    }

    /// Each stream fixture with Gemini's own `\r\n` framing.
    static func crlf(_ text: String) -> String { text.replacingOccurrences(of: "\n", with: "\r\n") }

    @Test func textStreamWithCumulativeUsage() throws {
        let events = try Self.translate([Self.crlf(GeminiFixtures.text("stream_text.sse"))])
        let chunks = events.compactMap(\.chunk)
        #expect(chunks.first?.choices.first?.delta.role == "assistant")
        #expect(chunks.compactMap { $0.choices.first?.delta.content }.joined() == "The capital of France is Paris.")
        #expect(chunks.compactMap { $0.choices.first?.finishReason } == ["stop"])
        #expect(chunks.allSatisfy { $0.id == "chatcmpl-ag4pavQTzLrj4Q-XkKnZBA" })
        // The last usage counts (Gemini's is cumulative), and the client's usage chunk comes last.
        #expect(events.compactMap(\.usage).last == Usage(promptTokens: 9, completionTokens: 8, totalTokens: 17))
        #expect(chunks.last?.isUsageOnly == true)
        #expect(chunks.last?.usage?.totalTokens == 17)
        let withoutUsage = try Self.translate([GeminiFixtures.text("stream_text.sse")], wantsUsage: false).compactMap(\.chunk)
        #expect(!withoutUsage.contains { $0.isUsageOnly })
    }

    @Test func functionCallsArriveWholeWithSignature() throws {
        let chunks = try Self.translate([GeminiFixtures.text("stream_function_call.sse")]).compactMap(\.chunk)
        let deltas = chunks.compactMap { $0.choices.first?.delta }
        #expect(deltas.compactMap(\.reasoningContent).joined().hasPrefix("**Planning the lookups**"))
        let calls = deltas.flatMap { $0.toolCalls ?? [] }
        #expect(calls.map(\.index) == [0, 1])
        #expect(calls.map(\.id) == ["wz3k1p0a", "9qf2m7tc"])
        #expect(calls[0].function == .init(name: "get_weather", arguments: #"{"city":"Paris","unit":"celsius"}"#))
        #expect(GeminiTranslation.thoughtSignature(calls[0].extra)?.hasPrefix("CpwCAdHtim9k") == true)
        #expect(chunks.compactMap { $0.choices.first?.finishReason } == ["tool_calls"])
    }

    /// Yields after each cut, like the Anthropic one: it must not hold a thread of the
    /// cooperative pool, where other tests' mock upstreams answer, for long.
    @Test func chunkBoundariesDoNotMatter() async throws {
        for fixture in ["stream_text.sse", "stream_function_call.sse"] {
            let text = Self.crlf(GeminiFixtures.text(fixture))
            let whole = try Self.translate([text]).compactMap(\.chunk).map(Self.stable)
            let bytes = Array(text.utf8)
            for cut in 1..<bytes.count {
                await Task.yield()
                let pieces = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
                #expect(try Self.translate(pieces).compactMap(\.chunk).map(Self.stable) == whole, "\(fixture) cut at \(cut)")
            }
        }
    }

    /// A chunk without what differs between runs (ids the gateway makes up).
    static func stable(_ chunk: ChatCompletionChunk) -> ChatCompletionChunk {
        var chunk = chunk
        chunk.id = ""
        return chunk
    }

    @Test func passThroughKeepsEventsAndReadsUsage() throws {
        let events = try Self.translate([GeminiFixtures.text("stream_text.sse")], passThrough: true)
        let raw = events.compactMap(\.rawText).joined()
        #expect(raw.contains(#""responseId": "ag4pavQTzLrj4Q-XkKnZBA""#))
        #expect(raw.components(separatedBy: "data: ").count == 5)
        #expect(events.compactMap(\.usage).last?.completionTokens == 8)
        #expect(events.compactMap(\.chunk).isEmpty)
    }

    @Test func errorsBlockedAndTruncatedStreams() throws {
        #expect(throws: GatewayError.self) {
            _ = try Self.translate([#"data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"# + "\r\n\r\n"])
        }
        do {
            _ = try Self.translate(["data: " + GeminiFixtures.text("response_blocked.json").replacingOccurrences(of: "\n", with: "") + "\n\n"])
            Issue.record("a blocked prompt must fail")
        } catch {
            #expect(error.code == "content_filter")
        }
        do {
            _ = try Self.translate([#"data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]}}]}"# + "\n\n"])
            Issue.record("a stream without finishReason must fail")
        } catch {
            #expect(error.message.contains("finishReason"))
        }
        #expect(throws: GatewayError.self) { _ = try Self.translate(["data: not json\n\n"]) }
    }
}

struct GeminiAdapterTests {
    @Test func chatTranslatesAndCallsGenerateContent() async throws {
        let transport = ScriptedTransport { _ in .json(200, GeminiFixtures.text("response_text.json")) }
        let call = try geminiCall(#"{"model":"alias","messages":[{"role":"user","content":"Capital?"}]}"#)
        let result = try await GeminiAdapter(transport: transport).complete(call)
        let request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url == "https://generativelanguage.test/v1beta/models/gemini-2.5-flash:generateContent")
        #expect(request.headers[HTTPField.Name("x-goog-api-key")!] == "AIza-upstream-key")
        #expect(request.headers[.authorization] == nil)
        #expect(try json(request.body)["contents"] == j(#"[{"role":"user","parts":[{"text":"Capital?"}]}]"#))
        guard case .canonical(let completion) = result.body else {
            Issue.record("expected a translated completion")
            return
        }
        #expect(completion.choices.first?.message.content == .text("The capital of France is Paris."))
        #expect(result.usage?.promptTokens == 9)
        #expect(!result.usageEstimated)
    }

    @Test func geminiInboundPassesBytesThroughWithExtraBody() async throws {
        let upstreamBody = GeminiFixtures.text("response_function_call.json")
        let transport = ScriptedTransport { _ in .json(200, upstreamBody) }
        var target = TargetConfig(provider: "gem", model: "tunedModels/my-model")
        target.extraBody = ["generationConfig": j(#"{"topK":3}"#)]
        let client = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0.2},"unknownField":1}"#
        let call = try geminiCall(client, style: .gemini, route: RouteParameters(model: "alias", stream: false), target: target)
        let result = try await GeminiAdapter(transport: transport).complete(call)
        let request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url == "https://generativelanguage.test/v1beta/tunedModels/my-model:generateContent")
        let sent = try json(request.body)
        #expect(sent["generationConfig"] == j(#"{"temperature":0.2,"topK":3}"#))
        #expect(sent["unknownField"] == .int(1))
        guard case .raw(let bytes) = result.body else {
            Issue.record("expected the upstream's bytes")
            return
        }
        #expect(String(buffer: bytes) == upstreamBody)
        #expect(result.usage?.promptTokens == 112)
    }

    @Test func streamAsksForSSE() async throws {
        let transport = ScriptedTransport { _ in .sse([GeminiFixtures.text("stream_text.sse")]) }
        let call = try geminiCall(#"{"model":"alias","stream":true,"messages":[{"role":"user","content":"x"}]}"#)
        let events = try await collect(try await GeminiAdapter(transport: transport).stream(call))
        #expect(transport.requests.withLock { $0.last?.url } == "https://generativelanguage.test/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        #expect(events.compactMap(\.chunk).compactMap { $0.choices.first?.delta.content }.joined() == "The capital of France is Paris.")
    }

    @Test func upstreamErrorsAreClassified() async throws {
        let transport = ScriptedTransport { _ in .json(429, GeminiFixtures.text("error_429.json")) }
        do {
            _ = try await GeminiAdapter(transport: transport).complete(try geminiCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
            Issue.record("expected a 429")
        } catch let error as GatewayError {
            #expect(error.upstreamStatus == 429)
            #expect(error.isRetryable)
            // No Retry-After header: Google's RetryInfo says 41s.
            #expect(error.retryAfterSeconds == 41)
            #expect(error.message.contains("You exceeded your current quota"))
        }
        let bad = ScriptedTransport { _ in .json(400, #"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"foo\"","status":"INVALID_ARGUMENT"}}"#) }
        do {
            _ = try await GeminiAdapter(transport: bad).complete(try geminiCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
        } catch let error as GatewayError {
            #expect(error.status == 400)
            #expect(!error.isRetryable)
        }
        let blocked = ScriptedTransport { _ in .json(200, GeminiFixtures.text("response_blocked.json")) }
        do {
            _ = try await GeminiAdapter(transport: blocked).complete(try geminiCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
            Issue.record("a blocked prompt must fail")
        } catch let error as GatewayError {
            #expect(error.code == "content_filter")
        }
    }

    @Test func embeddingsUseBatchEmbedContents() async throws {
        let transport = ScriptedTransport { _ in .json(200, GeminiFixtures.text("batch_embed_response.json")) }
        let adapter = GeminiAdapter(transport: transport)
        let floats = try await adapter.complete(
            try geminiCall(
                #"{"model":"e","input":["What is the meaning of life?","How much wood would a woodchuck chuck?"],"dimensions":5}"#,
                operation: .embeddings, target: TargetConfig(provider: "gem", model: "gemini-embedding-001")))
        let request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url == "https://generativelanguage.test/v1beta/models/gemini-embedding-001:batchEmbedContents")
        #expect(try json(request.body)["requests"]?.arrayValue?.first == j("""
            {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"What is the meaning of life?"}]},"outputDimensionality":5}
            """))
        guard case .raw(let body) = floats.body else {
            Issue.record("expected OpenAI-shaped bytes")
            return
        }
        let list = try json(body)
        #expect(list["object"] == .string("list"))
        #expect(list["data"]?.arrayValue?.count == 2)
        #expect(list["data"]?.arrayValue?[1]["index"] == .int(1))
        let embedding = list["data"]?.arrayValue?.first?["embedding"]?.arrayValue ?? []
        let first = embedding.compactMap(\.doubleValue)
        #expect(first.map { Float($0) } == [0.0132, -0.0241, 0.0087, -0.0019, 0.0455])
        #expect(floats.usageEstimated)
        #expect((floats.usage?.promptTokens ?? 0) > 0)

        // Fewer vectors than inputs is a broken answer, not a short list.
        await #expect(throws: GatewayError.self) {
            _ = try await adapter.complete(try geminiCall(#"{"model":"e","input":"hi"}"#, operation: .embeddings))
        }
        let single = ScriptedTransport { _ in .json(200, #"{"embeddings":[{"values":[1.5,-2.25]}],"usageMetadata":{"promptTokenCount":3}}"#) }
        let encoded = try await GeminiAdapter(transport: single).complete(
            try geminiCall(#"{"model":"e","input":"hi","encoding_format":"base64"}"#, operation: .embeddings))
        guard case .raw(let b64body) = encoded.body,
            let text = try json(b64body)["data"]?.arrayValue?.first?["embedding"]?.stringValue,
            let data = Data(base64Encoded: text)
        else {
            Issue.record("expected a base64 embedding")
            return
        }
        let values = data.withUnsafeBytes { raw in (0..<2).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
        #expect(values == [1.5, -2.25])
        #expect(encoded.usage?.promptTokens == 3)
        #expect(!encoded.usageEstimated)

        await #expect(throws: GatewayError.self) {
            _ = try await adapter.complete(try geminiCall(#"{"model":"e","input":[1,2,3]}"#, operation: .embeddings))
        }
        let short = ScriptedTransport { _ in .json(200, #"{"embeddings":[]}"#) }
        await #expect(throws: GatewayError.self) {
            _ = try await GeminiAdapter(transport: short).complete(try geminiCall(#"{"model":"e","input":"x"}"#, operation: .embeddings))
        }
    }

    @Test func countTokensSendsTheWholeRequest() async throws {
        let transport = ScriptedTransport { _ in .json(200, #"{"totalTokens":31}"#) }
        let count = try await GeminiAdapter(transport: transport).countTokens(
            try geminiCall(#"{"model":"a","messages":[{"role":"system","content":"s"},{"role":"user","content":"x"}]}"#))
        #expect(count == 31)
        let request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url.hasSuffix("models/gemini-2.5-flash:countTokens"))
        let inner = try json(request.body)["generateContentRequest"]
        #expect(inner?["model"] == .string("models/gemini-2.5-flash"))
        #expect(inner?["systemInstruction"] != nil)
    }

    @Test func imageURLsAreFetchedOnlyWhenAllowed() async throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47]
        let transport = ScriptedTransport { request in
            if request.method == .get {
                if request.url.hasSuffix("/page.html") {
                    return TransportResponse(
                        status: 200, headers: [.contentType: "text/html"], body: ErasedAsyncSequence(elements: [ByteBuffer(string: "<html>")]))
                }
                if request.url.hasSuffix("/gone.png") { return .json(404, "{}") }
                return TransportResponse(
                    status: 200, headers: [.contentType: "image/png; charset=binary"], body: ErasedAsyncSequence(elements: [ByteBuffer(bytes: png)]))
            }
            return .json(200, GeminiFixtures.text("response_text.json"))
        }
        func request(_ url: String) -> String {
            #"{"model":"a","messages":[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image_url","image_url":{"url":"\#(url)"}}]}]}"#
        }
        var allowing = geminiProvider
        allowing.fetchImageURLs = true
        _ = try await GeminiAdapter(transport: transport).complete(try geminiCall(request("https://img.test/cat.png"), provider: allowing))
        let sent = try #require(transport.requests.withLock { $0.last })
        #expect(transport.requests.withLock { $0.first?.url } == "https://img.test/cat.png")
        #expect(try json(sent.body)["contents"]?.arrayValue?.first?["parts"]?.arrayValue?.last == j(#"{"inlineData":{"mimeType":"image/png","data":"iVBORw=="}}"#))
        let refused = [
            ("https://img.test/page.html", "not an image"), ("https://img.test/gone.png", "404"),
            ("http://169.254.169.254/latest/meta-data.png", "link-local"), ("http://localhost:8000/x.png", "loopback"),
            ("http://[::1]/x.png", "loopback"), ("http://10.1.2.3/x.png", "private"), ("http://192.168.0.1/x.png", "private"),
        ]
        for host in ["127.1", "2130706433", "0x7f.0.0.1", "[::ffff:10.0.0.1]", "fd00::1", "fe80::1", "172.20.1.1", "LOCALHOST"] {
            #expect(GeminiAdapter.isInternalHost(host), "\(host)")
        }
        for host in ["img.test", "8.8.8.8", "172.32.0.1", "2001:4860::8888", "[2606:4700::1111]"] {
            #expect(!GeminiAdapter.isInternalHost(host), "\(host)")
        }
        for (url, problem) in refused {
            do {
                _ = try await GeminiAdapter(transport: transport).complete(try geminiCall(request(url), provider: allowing))
                Issue.record("expected a 400 for \(url)")
            } catch let error as GatewayError {
                #expect(error.status == 400)
                #expect(error.code == "image_fetch_failed")
                #expect(error.message.contains(problem))
            }
        }
        let before = transport.requests.withLock { $0.count }
        do {
            _ = try await GeminiAdapter(transport: transport).complete(try geminiCall(request("https://img.test/cat.png")))
            Issue.record("fetching is off by default")
        } catch let error as GatewayError {
            #expect(error.code == "image_url_not_supported")
        }
        #expect(transport.requests.withLock { $0.count } == before)
    }

    @Test func supportsChatAndEmbeddingsOnly() {
        let adapter = GeminiAdapter(transport: ScriptedTransport { _ in .json(200, "{}") })
        #expect(adapter.supports(.chat))
        #expect(adapter.supports(.embeddings))
        #expect(!adapter.supports(.responses))
    }
}

struct GeminiInboundTests {
    @Test func nativeRequestBecomesCanonical() throws {
        let chat = try GeminiInboundCodec().decodeChatRequest(
            ByteBuffer(string: GeminiFixtures.text("request_tools.json")), route: RouteParameters(model: "gem-alias", stream: true))
        #expect(chat.model == "gem-alias")
        #expect(chat.isStreaming)
        #expect(chat.wantsStreamUsage)
        #expect(chat.messages.map(\.role) == [.system, .user, .assistant, .tool, .tool, .assistant, .user])
        let calls = try #require(chat.messages[2].toolCalls)
        #expect(calls.map(\.id) == ["call_a1", "call_b2"])
        #expect(GeminiTranslation.thoughtSignature(calls[0].extra) == "CpwCAdHtim9k3x0Fqz2mY0u7r5T1b1l8oXz0cQ8hT2d5aGVyZV9pc19teV9zaWduYXR1cmU=")
        #expect(chat.messages[3].toolCallID == "call_a1")
        #expect(try json(chat.messages[3].content?.plainText ?? "") == j(#"{"temperature":14,"conditions":"cloudy"}"#))
        #expect(chat.messages[5].content == .text("Rome is warmer (19°C vs 14°C in Paris)."))
        let tools = try #require(chat.tools)
        #expect(tools[0].function?.parameters == j("""
            {"type":"object","properties":{"city":{"type":"string","description":"City name"},
             "unit":{"type":["string","null"],"enum":["celsius","fahrenheit"]}},"required":["city"]}
            """))
        #expect(tools[1].function?.parameters?["properties"]?["query"]?["type"] == j(#"["string","null"]"#))
        #expect(chat.toolChoice == .auto)
        #expect(chat.maxTokens == 2048)
        #expect(chat.reasoningEffort == "low")
    }

    @Test func callsWithoutIdsAreMatchedToTheirResponses() throws {
        let chat = try GeminiInboundCodec().decodeChatRequest(
            ByteBuffer(
                string: """
                    {"contents":[{"role":"user","parts":[{"text":"x"}]},
                      {"role":"model","parts":[{"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b","args":{"k":1}}}]},
                      {"role":"user","parts":[{"functionResponse":{"name":"b","response":{"r":2}}},{"functionResponse":{"name":"a","response":{"r":1}}}]}]}
                    """), route: RouteParameters(model: "m", stream: false))
        let ids = try #require(chat.messages[1].toolCalls).map(\.id)
        #expect(ids.count == 2 && ids[0] != ids[1])
        #expect(chat.messages[2].toolCallID == ids[1])
        #expect(chat.messages[3].toolCallID == ids[0])
    }

    @Test func snakeCaseAndMixedSpellingsAreAccepted() throws {
        let chat = try GeminiInboundCodec().decodeChatRequest(
            ByteBuffer(
                string: """
                    {"system_instruction":{"parts":[{"text":"S"}]},
                     "contents":[{"role":"user","parts":[{"text":"look"},{"inline_data":{"mime_type":"image/jpeg","data":"/9j/"}},{"inlineData":{"data":"AAA","mime_type":"application/pdf"}}]}],
                     "generation_config":{"max_output_tokens":12,"response_mime_type":"application/json","thinkingConfig":{"thinking_budget":0}}}
                    """), route: RouteParameters(model: "m", stream: false))
        #expect(chat.messages.first == ChatMessage(role: .system, content: .text("S")))
        guard case .parts(let parts)? = chat.messages[1].content else {
            Issue.record("expected parts")
            return
        }
        #expect(parts[1] == .imageURL(.init(url: "data:image/jpeg;base64,/9j/")))
        #expect(parts[2] == .other(type: "file", fields: ["file": j(#"{"file_data":"data:application/pdf;base64,AAA"}"#)]))
        #expect(chat.maxTokens == 12)
        #expect(chat.responseFormat?.type == "json_object")
        #expect(chat.reasoningEffort == "none")
    }

    @Test func invalidRequestsAreBadRequestsWithParam() {
        let codec = GeminiInboundCodec()
        let cases: [(String, String?)] = [
            (#"{"contents":[]}"#, "contents"),
            (#"{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}"#, "contents[0].role"),
            (#"{"contents":[{"role":"user","parts":[]}]}"#, "contents[0].parts"),
            (#"{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"temperature":3}}"#, "generationConfig.temperature"),
            (#"{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":0}}"#, "generationConfig.maxOutputTokens"),
            (#"{"contents":"nope"}"#, "contents"),
            (#"{}"#, "contents"),
            ("not json", nil),
        ]
        for (body, param) in cases {
            do {
                _ = try codec.decodeChatRequest(ByteBuffer(string: body), route: RouteParameters(model: "m", stream: false))
                Issue.record("expected a 400 for \(body)")
            } catch {
                #expect(error.status == 400, "\(body)")
                if let param { #expect(error.param == param, "\(body)") }
            }
        }
        #expect(throws: GatewayError.self) {
            _ = try codec.decodeChatRequest(ByteBuffer(string: #"{"contents":[{"role":"user","parts":[{"text":"x"}]}]}"#), route: RouteParameters())
        }
    }

    @Test func completionEncodesAsGeminiResponse() throws {
        var message = ChatMessage(role: .assistant, content: .text("Hi"), reasoningContent: "thinking")
        message.toolCalls = [
            ToolCall(id: "call_1", function: FunctionCall(name: "f", arguments: #"{"a":1}"#), extra: GeminiTranslation.signatureExtra("c2ln"))
        ]
        let completion = ChatCompletion(
            id: "chatcmpl-9", created: 1, model: "gpt-x", choices: [.init(index: 0, message: message, finishReason: "tool_calls")],
            usage: Usage(promptTokens: 10, completionTokens: 7, cachedTokens: 4, reasoningTokens: 2))
        let body = try json(try GeminiInboundCodec().encodeCompletion(completion))
        #expect(body == j("""
            {"candidates":[{"content":{"role":"model","parts":[{"text":"thinking","thought":true},{"text":"Hi"},
              {"functionCall":{"id":"call_1","name":"f","args":{"a":1}},"thoughtSignature":"c2ln"}]},"finishReason":"STOP","index":0}],
             "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":17,"cachedContentTokenCount":4,"thoughtsTokenCount":2},
             "modelVersion":"gpt-x","responseId":"chatcmpl-9"}
            """))
        let error = try json(GeminiInboundCodec().encodeError(.modelNotFound("x")))
        #expect(error["error"]?["code"] == .int(404))
        #expect(error["error"]?["status"] == .string("NOT_FOUND"))
        let unauthorized = try json(GeminiInboundCodec().encodeError(.unauthorized()))
        #expect(unauthorized["error"]?["status"] == .string("UNAUTHENTICATED"))
    }

    static func chunk(_ delta: ChatCompletionChunk.Delta, finish: String? = nil, usage: Usage? = nil) -> ChatCompletionChunk {
        ChatCompletionChunk(
            id: "chatcmpl-1", created: 1, model: "gpt-x",
            choices: usage != nil && delta == .init() && finish == nil ? [] : [.init(index: 0, delta: delta, finishReason: finish)],
            usage: usage)
    }

    @Test func streamEncoderGathersToolCallsAndEndsWithUsage() throws {
        var encoder = GeminiStreamEncoder(sse: true)
        var out = ""
        func add(_ chunk: ChatCompletionChunk) throws {
            if let bytes = try encoder.encode(chunk) { out += String(buffer: bytes) }
        }
        try add(Self.chunk(.init(role: "assistant", content: "Hel")))
        try add(Self.chunk(.init(content: "lo")))
        try add(Self.chunk(.init(toolCalls: [.init(index: 0, id: "call_9", type: "function", function: .init(name: "f", arguments: "{\"a\""))])))
        try add(Self.chunk(.init(toolCalls: [.init(index: 0, function: .init(arguments: ":1}"))])))
        try add(Self.chunk(.init(), finish: "tool_calls"))
        try add(Self.chunk(.init(), usage: Usage(promptTokens: 3, completionTokens: 4)))
        if let end = encoder.finish() { out += String(buffer: end) }
        let events = out.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        #expect(events.allSatisfy { $0.hasPrefix("data: ") })
        let decoded = try events.map { try JSONCoding.decode(GeminiResponse.self, from: String($0.dropFirst(6))) }
        #expect(decoded.count == 3)
        #expect(decoded[0].candidates?.first?.content?.parts.first?.text == "Hel")
        let last = try #require(decoded.last)
        #expect(last.candidates?.first?.finishReason == "STOP")
        #expect(last.candidates?.first?.content?.parts.first?.functionCall == GeminiFunctionCall(id: "call_9", name: "f", args: j(#"{"a":1}"#)))
        #expect(last.usageMetadata?.totalTokenCount == 7)
        #expect(decoded.allSatisfy { $0.responseId == "chatcmpl-1" && $0.modelVersion == "gpt-x" })
    }

    @Test func arrayFramingWithoutAltSSE() throws {
        var encoder = GeminiStreamEncoder(sse: false)
        #expect(encoder.contentType == "application/json")
        var out = ""
        if let bytes = try encoder.encode(Self.chunk(.init(content: "a"))) { out += String(buffer: bytes) }
        if let bytes = try encoder.encode(Self.chunk(.init(content: "b"), finish: "stop")) { out += String(buffer: bytes) }
        if let end = encoder.finish() { out += String(buffer: end) }
        let array = try #require(try json(out).arrayValue)
        #expect(array.count == 3)
        #expect(array.last?["candidates"]?.arrayValue?.first?["finishReason"] == .string("STOP"))
        // Pass-through frames re-framed as array elements.
        var raw = GeminiStreamEncoder(sse: false)
        var text = String(buffer: raw.encodeRaw(ByteBuffer(string: "data: {\"a\":1}\r\n\r\ndata: {\"b\":2}\r\n\r\n")))
        text += String(buffer: raw.encodeRaw(ByteBuffer(string: "data: {\"c\":3}\n\n")))
        text += raw.finish().map { String(buffer: $0) } ?? ""
        #expect(try json(text) == j(#"[{"a":1},{"b":2},{"c":3}]"#))
        var empty = GeminiStreamEncoder(sse: false)
        #expect(empty.finish().map { String(buffer: $0) } == "[]")
        var sse = GeminiStreamEncoder(sse: true)
        let frames = ByteBuffer(string: "data: {\"a\":1}\r\n\r\n")
        #expect(sse.encodeRaw(frames) == frames)
    }

    @Test func schemaConversions() {
        #expect(GeminiSchema.toJSONSchema(j(#"{"type":"OBJECT","properties":{"x":{"type":"INTEGER","nullable":true}},"propertyOrdering":["x"]}"#))
            == j(#"{"type":"object","properties":{"x":{"type":["integer","null"]}}}"#))
        #expect(GeminiSchema.clean(j(#"{"anyOf":[{"type":"string"},{"type":"null"}],"description":"d"}"#))
            == j(#"{"type":"string","nullable":true,"description":"d"}"#))
        #expect(GeminiSchema.clean(j(#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#))
            == j(#"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#))
        #expect(GeminiSchema.clean(j(#"{"type":"integer","enum":[1,2],"exclusiveMinimum":0,"examples":[1]}"#))
            == j(#"{"type":"integer","enum":["1","2"]}"#))
        // A recursive $ref is cut off instead of looping.
        let recursive = GeminiSchema.clean(j(##"{"$defs":{"node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"}}}},"$ref":"#/$defs/node"}"##))
        #expect(recursive["type"] == .string("object"))
    }
}

struct GeminiReviewFixTests {
    @Test func optionalAndComposedSubModelsKeepTheirSchema() {
        let defs = #""$defs":{"Address":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}"#
        let optional = GeminiSchema.clean(
            j(##"{"type":"object","properties":{"home":{"anyOf":[{"$ref":"#/$defs/Address"},{"type":"null"}],"description":"d"}},"##
                + defs + "}"))
        #expect(optional["properties"]?["home"] == j(#"{"type":"object","nullable":true,"description":"d","properties":{"city":{"type":"string"}},"required":["city"]}"#))
        let composed = GeminiSchema.clean(j(##"{"allOf":[{"$ref":"#/$defs/Address"}],"##+defs+"}"))
        #expect(composed == j(#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#))
    }

    @Test func anInvalidGoogleKeyIsARefusedKey() async throws {
        let body = #"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#
        let transport = ScriptedTransport { _ in .json(400, body) }
        do {
            _ = try await GeminiAdapter(transport: transport).complete(try geminiCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#))
            Issue.record("expected a failure")
        } catch let error as GatewayError {
            // As a 401: the key is disabled and the request fails over.
            #expect(error.upstreamStatus == 401)
            #expect(error.isRetryable)
        }
    }

    @Test func blockedPromptsPassThroughAsTheyCame() throws {
        let blocked = "data: " + GeminiFixtures.text("response_blocked.json").replacingOccurrences(of: "\n", with: "") + "\r\n\r\n"
        let events = try GeminiStreamTests.translate([blocked], passThrough: true)
        #expect(events.compactMap(\.rawText).joined().contains("blockReason"))
    }

    @Test func noCandidatesWithoutABlockIsABrokenResponse() throws {
        let response = try JSONCoding.decode(GeminiResponse.self, from: #"{"usageMetadata":{"promptTokenCount":3}}"#)
        do {
            _ = try GeminiTranslation.completion(from: response, model: "m", created: 0, provider: "gem")
            Issue.record("expected a failure")
        } catch {
            #expect(error.status == 502)
        }
    }

    @Test func tokenIdsAndLargeBatches() async throws {
        let adapter = GeminiAdapter(transport: ScriptedTransport { _ in .json(200, "{}") })
        let tokens = try geminiCall(#"{"model":"e","input":[[1,2],[3]]}"#, operation: .embeddings)
        #expect(adapter.refusal(of: tokens.request)?.param == "input")
        #expect(adapter.refusal(of: try geminiCall(#"{"model":"e","input":["a"]}"#, operation: .embeddings).request) == nil)
        #expect(adapter.refusal(of: try geminiCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#).request) == nil)

        let transport = ScriptedTransport { request in
            let count = (try? JSONCoding.decode(JSONValue.self, from: request.body ?? ByteBuffer()))?["requests"]?.arrayValue?.count ?? 0
            let vectors = Array(repeating: #"{"values":[1]}"#, count: count).joined(separator: ",")
            return .json(200, #"{"embeddings":[\#(vectors)],"usageMetadata":{"promptTokenCount":\#(count)}}"#)
        }
        let inputs = "[" + (0..<150).map { "\"t\($0)\"" }.joined(separator: ",") + "]"
        var target = TargetConfig(provider: "gem", model: "gemini-embedding-001")
        target.extraBody = ["taskType": .string("RETRIEVAL_DOCUMENT")]
        let result = try await GeminiAdapter(transport: transport).complete(
            try geminiCall(#"{"model":"e","input":\#(inputs)}"#, operation: .embeddings, target: target))
        let sent = transport.requests.withLock { $0 }
        #expect(sent.count == 2)
        #expect(try json(sent[0].body)["requests"]?.arrayValue?.count == 100)
        #expect(try json(sent[1].body)["requests"]?.arrayValue?.first?["taskType"] == .string("RETRIEVAL_DOCUMENT"))
        guard case .raw(let body) = result.body else {
            Issue.record("expected bytes")
            return
        }
        let data = try json(body)["data"]?.arrayValue ?? []
        #expect(data.count == 150)
        #expect(data.last?["index"] == .int(149))
        #expect(result.usage?.promptTokens == 150)
    }

    @Test func nativeInboundDetails() throws {
        let chat = try GeminiInboundCodec().decodeChatRequest(
            ByteBuffer(
                string: """
                    {"contents":[{"role":"user","parts":[{"text":"x"},{"fileData":{"mimeType":"image/png","fileUri":"https://generativelanguage.googleapis.com/v1beta/files/abc"}},
                      {"fileData":{"mimeType":"image/png","fileUri":"https://example.test/cat.png"}}]},
                      {"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},
                      {"role":"user","parts":[{"functionResponse":{"name":"f","response":{"ok":true}}}]}],
                     "generationConfig":{"thinkingConfig":{"thinkingBudget":-1}}}
                    """), route: RouteParameters(model: "m", stream: false))
        guard case .parts(let parts)? = chat.messages[0].content else {
            Issue.record("expected parts")
            return
        }
        #expect(parts[1] == .other(type: "gemini_file_data", fields: ["file_uri": "https://generativelanguage.googleapis.com/v1beta/files/abc", "mime_type": "image/png"]))
        #expect(parts[2] == .imageURL(.init(url: "https://example.test/cat.png")))
        #expect(chat.messages[2].role == .tool && chat.messages[2].name == nil)
        #expect(chat.reasoningEffort == nil)
        // The Files API reference goes back to a Gemini upstream as fileData (the public
        // image URL would need fetch_image_urls, so it is left out here).
        var withoutURL = chat
        withoutURL.messages[0].content = .parts(Array(parts.prefix(2)))
        let request = try GeminiTranslation.request(from: withoutURL, model: "g", maxTokensDefault: nil)
        #expect(request.contents[0].parts[1].fileData == GeminiFileData(mimeType: "image/png", fileUri: "https://generativelanguage.googleapis.com/v1beta/files/abc"))
    }
}
