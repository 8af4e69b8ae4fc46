import Foundation
import HTTPTypes
import Logging
import NIOCore
import OrchestratorCore
import Synchronization
import Testing

@testable import Providers

// Fixtures follow OpenAI's API reference (embeddings, Responses API and its streaming
// events) and Azure OpenAI's REST reference (deployment URLs, `api-key`, content
// filter results and error bodies).

func operationCall(
    _ json: String, operation: APIOperation, provider: ProviderConfig = ProviderConfig(name: "up", type: .openai, baseURL: "http://upstream.test/v1/"),
    target: TargetConfig = TargetConfig(provider: "up", model: "real-model")
) throws -> ProviderCall {
    let body = ByteBuffer(string: json)
    let codec: any InboundCodec = operation == .embeddings ? EmbeddingsInboundCodec() : ResponsesInboundCodec()
    let chat = try codec.decodeChatRequest(body)
    return ProviderCall(
        request: InboundRequest(style: .openai, body: body, chat: chat, requestID: "r", receivedAtMillis: 0, operation: operation),
        provider: provider, target: target, apiKey: "sk-upstream", deadline: .now + .seconds(30), logger: Logger(label: "test"))
}

enum OpenAIOperationFixtures {
    static let embeddings = """
        {"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292,-0.0028842222],"index":0}],
         "model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}
        """

    static let response = """
        {"id":"resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b","object":"response","created_at":1741476542,
         "status":"completed","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,
         "model":"gpt-4.1-2025-04-14","output":[{"type":"message","id":"msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
         "status":"completed","role":"assistant","content":[{"type":"output_text","text":"In a peaceful grove...","annotations":[]}]}],
         "parallel_tool_calls":true,"previous_response_id":null,"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},
         "tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled",
         "usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":4},"output_tokens":87,
          "output_tokens_details":{"reasoning_tokens":2},"total_tokens":123},"user":null,"metadata":{}}
        """

    static let responseStream = """
        event: response.created
        data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[],"usage":null}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":2,"item_id":"msg_1","output_index":0,"content_index":0,"delta":" there"}

        event: response.completed
        data: {"type":"response.completed","sequence_number":3,"response":{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":7}}}


        """
}

struct EmbeddingsAndResponsesTests {
    @Test func embeddingsPassThroughWithTheModelRewritten() async throws {
        let transport = ScriptedTransport { _ in .json(200, OpenAIOperationFixtures.embeddings) }
        var target = TargetConfig(provider: "up", model: "text-embedding-3-small")
        target.extraBody = ["user": .string("gateway")]
        let call = try operationCall(
            #"{"model":"embed-alias","input":["a","b"],"encoding_format":"base64","dimensions":3}"#, operation: .embeddings,
            target: target)
        let result = try await OpenAIAdapter(transport: transport).complete(call)
        let request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url == "http://upstream.test/v1/embeddings")
        #expect(try json(request.body) == j(#"{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","dimensions":3,"user":"gateway"}"#))
        guard case .raw(let body) = result.body else {
            Issue.record("expected the upstream's bytes")
            return
        }
        #expect(String(buffer: body) == OpenAIOperationFixtures.embeddings)
        #expect(result.usage == Usage(promptTokens: 8, completionTokens: 0, totalTokens: 8))
        #expect(!result.usageEstimated)
        let notAList = ScriptedTransport { _ in .json(200, #"{"object":"chat.completion","choices":[]}"#) }
        await #expect(throws: GatewayError.self) { _ = try await OpenAIAdapter(transport: notAList).complete(call) }
    }

    @Test func embeddingRequestsAreValidated() {
        let cases: [(String, String)] = [
            (#"{"model":"m","input":""}"#, "input"), (#"{"model":"m","input":[]}"#, "input"),
            (#"{"model":"m","input":["a",""]}"#, "input[1]"), (#"{"model":"m","input":[[1],[]]}"#, "input[1]"),
            (#"{"model":"m","input":"x","encoding_format":"hex"}"#, "encoding_format"),
            (#"{"model":"m","input":"x","dimensions":0}"#, "dimensions"), (#"{"model":"","input":"x"}"#, "model"),
            (#"{"model":"m","input":{"a":1}}"#, "input"), (#"{"model":"m"}"#, "input"), (#"{"input":"x"}"#, "model"),
        ]
        for (body, param) in cases {
            do {
                _ = try EmbeddingsInboundCodec().decodeChatRequest(ByteBuffer(string: body))
                Issue.record("expected a 400 for \(body)")
            } catch {
                #expect(error.status == 400, "\(body)")
                #expect(error.param == param, "\(body)")
            }
        }
        let many = "[" + Array(repeating: "\"x\"", count: EmbeddingRequest.maxInputs + 1).joined(separator: ",") + "]"
        #expect(throws: GatewayError.self) {
            _ = try EmbeddingsInboundCodec().decodeChatRequest(ByteBuffer(string: #"{"model":"m","input":\#(many)}"#))
        }
        // Token arrays are valid input (for OpenAI-style upstreams).
        #expect(throws: Never.self) {
            _ = try EmbeddingsInboundCodec().decodeChatRequest(ByteBuffer(string: #"{"model":"m","input":[[1,2],[3]]}"#))
        }
    }

    @Test func base64EmbeddingsAreLittleEndianFloat32() throws {
        let body = EmbeddingResponseWriter.encode(vectors: [[1, -0.5]], model: "m", promptTokens: 2, base64: true)
        let text = try #require(try json(body)["data"]?.arrayValue?.first?["embedding"]?.stringValue)
        #expect(Array(try #require(Data(base64Encoded: text))) == [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xBF])
        let floats = try json(EmbeddingResponseWriter.encode(vectors: [[0.25, 3]], model: "m", promptTokens: 2, base64: false))
        #expect(floats == j(#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,3.0]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}"#))
    }

    @Test func responsesPassThroughAndUsage() async throws {
        let transport = ScriptedTransport { _ in .json(200, OpenAIOperationFixtures.response) }
        let call = try operationCall(#"{"model":"alias","input":"Tell me a story","store":false}"#, operation: .responses)
        #expect(call.request.chat.messages.first?.content?.plainText == "Tell me a story")
        let result = try await OpenAIAdapter(transport: transport).complete(call)
        let request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url == "http://upstream.test/v1/responses")
        #expect(try json(request.body) == j(#"{"model":"real-model","input":"Tell me a story","store":false}"#))
        guard case .raw(let body) = result.body else {
            Issue.record("expected the upstream's bytes")
            return
        }
        #expect(String(buffer: body) == OpenAIOperationFixtures.response)
        #expect(result.usage == Usage(promptTokens: 36, completionTokens: 87, totalTokens: 123, cachedTokens: 4, reasoningTokens: 2))
        let chat = ScriptedTransport { _ in .json(200, #"{"object":"chat.completion","choices":[]}"#) }
        await #expect(throws: GatewayError.self) { _ = try await OpenAIAdapter(transport: chat).complete(call) }
    }

    @Test func responsesStreamPassesEventsThrough() async throws {
        let transport = ScriptedTransport { _ in .sse([OpenAIOperationFixtures.responseStream]) }
        let call = try operationCall(#"{"model":"alias","input":"hi","stream":true}"#, operation: .responses)
        let events = try await collect(try await OpenAIAdapter(transport: transport).stream(call))
        let raw = events.compactMap(\.rawText).joined()
        #expect(raw.components(separatedBy: "event: ").count == 5)
        #expect(raw.contains(#"event: response.completed"#))
        #expect(raw.contains(#""delta":" there""#))
        #expect(events.compactMap(\.usage).last == Usage(promptTokens: 5, completionTokens: 2, totalTokens: 7, cachedTokens: 0, reasoningTokens: 0))
        // Chunk boundaries do not matter.
        let bytes = Array(OpenAIOperationFixtures.responseStream.utf8)
        for cut in 1..<bytes.count {
            let split = ScriptedTransport { _ in
                .sse([String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)])
            }
            let again = try await collect(try await OpenAIAdapter(transport: split).stream(call))
            #expect(again.compactMap(\.rawText).joined() == raw, "cut at \(cut)")
        }
        // An error event before anything else fails over; a stream without its terminal event is broken.
        let failing = ScriptedTransport { _ in
            .sse(["event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"boom\"}\n\n"])
        }
        await #expect(throws: GatewayError.self) { _ = try await collect(try await OpenAIAdapter(transport: failing).stream(call)) }
        let cut = ScriptedTransport { _ in
            .sse(["event: response.created\ndata: {\"type\":\"response.created\",\"response\":{}}\n\n"])
        }
        await #expect(throws: GatewayError.self) { _ = try await collect(try await OpenAIAdapter(transport: cut).stream(call)) }
    }

    @Test func responsesCodecNeedsAModelAndEndsStreamsWithAnErrorEvent() throws {
        #expect(throws: GatewayError.self) { _ = try ResponsesInboundCodec().decodeChatRequest(ByteBuffer(string: #"{"input":"x"}"#)) }
        #expect(throws: GatewayError.self) { _ = try ResponsesInboundCodec().decodeChatRequest(ByteBuffer(string: #"{"model":""}"#)) }
        let chat = try ResponsesInboundCodec().decodeChatRequest(
            ByteBuffer(string: #"{"model":"m","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Hello"}]}]}"#))
        #expect(chat.messages.first?.content?.plainText == "Be brief.\nHello")
        var encoder = ResponsesInboundCodec().makeStreamEncoder(for: chat)
        #expect(encoder.finish() == nil)
        let error = String(buffer: encoder.encodeError(.timeout("slow")))
        #expect(error.hasPrefix("event: error\ndata: {\"type\":\"error\""))
        #expect(error.hasSuffix("\n\n"))
    }

    @Test func adaptersDeclareWhatTheyServe() {
        let transport = ScriptedTransport { _ in .json(200, "{}") }
        #expect(OpenAIAdapter(transport: transport).supports(.responses))
        #expect(OpenAIAdapter(transport: transport, dialect: .azure).supports(.embeddings))
        #expect(!AnthropicAdapter(transport: transport).supports(.embeddings))
        #expect(!MockAdapter(providerName: "m", settings: MockSettings()).supports(.responses))
    }
}

struct AzureTests {
    static var provider: ProviderConfig {
        var provider = ProviderConfig(name: "az", type: .azure, baseURL: "https://contoso.openai.azure.com/")
        provider.apiVersion = "2024-10-21"
        return provider
    }

    static let filteredCompletion = """
        {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},
          "sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"finish_reason":"stop","index":0,
          "logprobs":null,"message":{"content":"Hello!","role":"assistant"}}],"created":1724183231,"id":"chatcmpl-9yTd","model":"gpt-4o-2024-05-13",
         "object":"chat.completion","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},
          "jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"}}}],
         "system_fingerprint":"fp_80a1bad4c7","usage":{"completion_tokens":2,"prompt_tokens":9,"total_tokens":11}}
        """

    @Test func chatGoesToTheDeploymentWithTheApiKeyHeader() async throws {
        let transport = ScriptedTransport { _ in .json(200, Self.filteredCompletion) }
        let target = TargetConfig(provider: "az", model: "gpt4o-prod")
        let call = try makeCall(#"{"model":"alias","messages":[{"role":"user","content":"hi"}]}"#, provider: Self.provider, target: target)
        let result = try await OpenAIAdapter(transport: transport, dialect: .azure).complete(call)
        let request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url == "https://contoso.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21")
        #expect(request.headers[HTTPField.Name("api-key")!] == "sk-upstream")
        #expect(request.headers[.authorization] == nil)
        // Same style: Azure's content filter results reach the client untouched.
        guard case .raw(let body) = result.body else {
            Issue.record("expected the upstream's bytes")
            return
        }
        #expect(try json(body)["prompt_filter_results"]?.arrayValue?.count == 1)
        #expect(result.usage?.totalTokens == 11)
    }

    @Test func embeddingsResponsesAndEntraTokens() async throws {
        let transport = ScriptedTransport { request in
            request.url.contains("embeddings") ? .json(200, OpenAIOperationFixtures.embeddings) : .json(200, OpenAIOperationFixtures.response)
        }
        var provider = Self.provider
        provider.azureAuth = .entra
        let adapter = OpenAIAdapter(transport: transport, dialect: .azure)
        _ = try await adapter.complete(
            try operationCall(#"{"model":"e","input":"x"}"#, operation: .embeddings, provider: provider, target: TargetConfig(provider: "az", model: "embed dep")))
        var request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url == "https://contoso.openai.azure.com/openai/deployments/embed%20dep/embeddings?api-version=2024-10-21")
        #expect(request.headers[.authorization] == "Bearer sk-upstream")
        #expect(request.headers[HTTPField.Name("api-key")!] == nil)
        _ = try await adapter.complete(
            try operationCall(#"{"model":"r","input":"x"}"#, operation: .responses, provider: provider, target: TargetConfig(provider: "az", model: "gpt4o-prod")))
        request = try #require(transport.requests.withLock { $0.last })
        #expect(request.url == "https://contoso.openai.azure.com/openai/v1/responses")
        #expect(try json(request.body)["model"] == .string("gpt4o-prod"))
    }

    @Test func streamsKeepThePromptFilterChunk() async throws {
        let stream = """
            data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}

            data: {"choices":[{"content_filter_results":{},"delta":{"content":"Hi","role":"assistant"},"finish_reason":null,"index":0}],"created":1,"id":"c","model":"gpt-4o","object":"chat.completion.chunk"}

            data: {"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"content_filter","index":0}],"created":1,"id":"c","model":"gpt-4o","object":"chat.completion.chunk"}

            data: {"choices":[],"created":1,"id":"c","model":"gpt-4o","object":"chat.completion.chunk","usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}

            data: [DONE]


            """
        let transport = ScriptedTransport { _ in .sse([stream]) }
        let call = try makeCall(
            #"{"model":"alias","stream":true,"messages":[{"role":"user","content":"hi"}]}"#, provider: Self.provider,
            target: TargetConfig(provider: "az", model: "dep"))
        let events = try await collect(try await OpenAIAdapter(transport: transport, dialect: .azure).stream(call))
        let raw = events.compactMap(\.rawText).joined()
        #expect(raw.contains("prompt_filter_results"))
        #expect(raw.contains(#""finish_reason":"content_filter""#))
        // The usage chunk the gateway asked for is not forwarded; the usage is logged.
        #expect(!raw.contains(#""usage""#))
        #expect(events.compactMap(\.usage).last?.totalTokens == 4)
        // Translated for other styles: the empty filter chunk decodes and the finish reason survives.
        let anthropic = try makeCall(
            #"{"model":"alias","stream":true,"messages":[{"role":"user","content":"hi"}]}"#, style: .anthropic,
            provider: Self.provider, target: TargetConfig(provider: "az", model: "dep"))
        let translated = try await collect(try await OpenAIAdapter(transport: ScriptedTransport { _ in .sse([stream]) }, dialect: .azure).stream(anthropic))
        #expect(translated.compactMap(\.chunk).compactMap { $0.choices.first?.finishReason } == ["content_filter"])
    }

    @Test func contentFilterErrorsKeepTheirCode() async throws {
        let body = """
            {"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
             "type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation",
             "content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}
            """
        let transport = ScriptedTransport { _ in .json(400, body) }
        do {
            _ = try await OpenAIAdapter(transport: transport, dialect: .azure).complete(
                try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#, provider: Self.provider))
            Issue.record("expected the filter's 400")
        } catch let error as GatewayError {
            #expect(error.status == 400)
            #expect(error.code == "content_filter")
            #expect(error.param == "prompt")
            #expect(!error.isRetryable)
            #expect(error.message.contains("content management policy"))
        }
        let missing = ScriptedTransport { _ in
            .json(404, #"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#)
        }
        do {
            _ = try await OpenAIAdapter(transport: missing, dialect: .azure).complete(
                try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#, provider: Self.provider))
        } catch let error as GatewayError {
            #expect(error.status == 404)
            #expect(error.message.contains("deployment"))
        }
    }

    @Test func probeListsTheResourcesModels() async throws {
        let transport = ScriptedTransport { _ in .json(200, #"{"data":[]}"#) }
        try await OpenAIAdapter(transport: transport, dialect: .azure).probe(
            Self.provider, apiKey: "k", deadline: .now + .seconds(5), logger: Logger(label: "t"))
        #expect(transport.requests.withLock { $0.last?.url } == "https://contoso.openai.azure.com/openai/models?api-version=2024-10-21")
    }
}

struct OpenAICompatiblePresetTests {
    @Test func mistralGetsNoStreamOptionsOrMaxCompletionTokens() throws {
        let provider = ProviderConfig(name: "mistral", type: .openai, baseURL: "https://api.mistral.ai/v1")
        let passThrough = try makeCall(
            #"{"model":"a","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":50,"messages":[{"role":"user","content":"x"}]}"#,
            provider: provider)
        let body = try json(OpenAIAdapter.upstreamBody(for: passThrough, stream: true))
        #expect(body["stream_options"] == nil)
        #expect(body["max_completion_tokens"] == nil)
        #expect(body["max_tokens"] == .int(50))
        let translated = try makeCall(
            #"{"model":"a","stream":true,"max_completion_tokens":50,"messages":[{"role":"user","content":"x"}]}"#, style: .anthropic,
            provider: provider)
        let other = try json(OpenAIAdapter.upstreamBody(for: translated, stream: true))
        #expect(other["stream_options"] == nil)
        #expect(other["max_tokens"] == .int(50))
        // The host's letters in either case are Mistral's; a longer host is not.
        for (baseURL, isMistral) in [
            ("HTTPS://API.Mistral.AI/v1", true), ("https://api.mistral.ai", true), ("https://api.mistral.a/v1", false),
            ("http://api.mistral.ai/v1", false), ("https://mistral.example/v1", false),
        ] {
            #expect(OpenAIAdapter.refusesOpenAIOnlyFields(baseURL) == isMistral, "\(baseURL)")
        }
        // Everyone else gets stream_options so usage is always logged.
        let vllm = try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#)
        #expect(try json(OpenAIAdapter.upstreamBody(for: vllm, stream: true))["stream_options"] == j(#"{"include_usage":true}"#))
    }

    @Test func usageAndReasoningQuirksAreRead() throws {
        // Groq: usage in x_groq on the last chunk.
        let groq = try PassThroughSummary.scan(
            #"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}}"#)
        #expect(groq.usage == Usage(promptTokens: 12, completionTokens: 4, totalTokens: 16))
        // DeepSeek: cached prompt tokens as prompt_cache_hit_tokens.
        let deepseek = try PassThroughSummary.scan(
            #"{"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":3,"total_tokens":23,"prompt_cache_hit_tokens":16,"prompt_cache_miss_tokens":4}}"#)
        #expect(deepseek.usage?.cachedTokens == 16)
        // vLLM, Ollama, OpenRouter: reasoning text as `reasoning`.
        let chunk = try JSONCoding.decode(
            ChatCompletionChunk.self, from: #"{"choices":[{"index":0,"delta":{"reasoning":"think","content":null}}]}"#)
        #expect(chunk.choices.first?.delta.reasoningContent == "think")
        #expect(chunk.choices.first?.delta.extra["reasoning"] == nil)
        let message = try JSONCoding.decode(ChatMessage.self, from: #"{"role":"assistant","content":"a","reasoning":"b"}"#)
        #expect(message.reasoningContent == "b")
        #expect(message.extra.isEmpty)
        let summary = try PassThroughSummary.scan(#"{"choices":[{"index":0,"delta":{"reasoning":"abcd"}}]}"#)
        #expect(summary.textBytes == 4)
    }

    @Test func aStreamWithoutUsageIsEstimatedNotDropped() async throws {
        // Older Ollama: no usage chunk even when asked.
        let stream = """
            data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello there"}}]}

            data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

            data: [DONE]


            """
        let transport = ScriptedTransport { _ in .sse([stream]) }
        let call = try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#)
        let events = try await collect(try await OpenAIAdapter(transport: transport).stream(call))
        #expect(events.compactMap(\.usage).isEmpty)
        #expect(events.contains { if case .outputText(let n) = $0 { return n > 0 } else { return false } })
    }
}

struct ReviewFixTests {
    @Test func failedResponsesAreForwarded() async throws {
        let failed = #"{"id":"resp_f","object":"response","status":"failed","error":{"code":"server_error","message":"boom"},"output":[],"usage":null}"#
        let transport = ScriptedTransport { _ in .json(200, failed) }
        let result = try await OpenAIAdapter(transport: transport).complete(
            try operationCall(#"{"model":"m","input":"x"}"#, operation: .responses))
        guard case .raw(let body) = result.body else {
            Issue.record("expected bytes")
            return
        }
        #expect(String(buffer: body) == failed)
        #expect(result.usageEstimated)
    }

    @Test func errorsInChunkClothesFailTheStream() async throws {
        let vllm = "data: {\"object\":\"error\",\"message\":\"The model ran out of KV cache\",\"type\":\"BadRequestError\",\"code\":400}\n\n"
        let openRouter = "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"error\"}],\"error\":{\"code\":502,\"message\":\"Provider disconnected\"}}\n\n"
        for body in [vllm, openRouter] {
            for style in [APIStyle.openai, .anthropic] {
                let call = try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#, style: style)
                await #expect(throws: GatewayError.self, "\(style) \(body)") {
                    _ = try await collect(try await OpenAIAdapter(transport: ScriptedTransport { _ in .sse([body]) }).stream(call))
                }
            }
        }
    }

    @Test func translatedPathsReadQuirkyUsage() async throws {
        let groq = """
            data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}

            data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}}

            data: [DONE]


            """
        let call = try makeCall(#"{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}"#, style: .anthropic)
        let events = try await collect(try await OpenAIAdapter(transport: ScriptedTransport { _ in .sse([groq]) }).stream(call))
        #expect(events.compactMap(\.usage).last?.totalTokens == 16)
        let deepseek = try JSONCoding.decode(
            Usage.self, from: #"{"prompt_tokens":20,"completion_tokens":3,"total_tokens":23,"prompt_cache_hit_tokens":16,"prompt_cache_miss_tokens":4}"#)
        #expect(deepseek.cachedTokens == 16)
    }

    @Test func azureTranslatedRequestsUseMaxCompletionTokens() throws {
        let call = try makeCall(
            #"{"model":"a","max_tokens":64,"messages":[{"role":"user","content":"x"}]}"#, style: .anthropic, provider: AzureTests.provider)
        let body = try json(OpenAIAdapter.upstreamBody(for: call, stream: false))
        #expect(body["max_completion_tokens"] == .int(64))
        #expect(body["max_tokens"] == nil)
    }
}

struct SecondReviewFixTests {
    @Test func modelNamesStayOnePathSegment() throws {
        #expect(try GeminiAdapter.modelPath("gemini-2.5-flash") == "models/gemini-2.5-flash")
        #expect(try GeminiAdapter.modelPath("tunedModels/my-model") == "tunedModels/my-model")
        #expect(try GeminiAdapter.modelPath("models/gemini-2.5-flash:countTokens#") == "models/gemini-2.5-flash%3AcountTokens%23")
        #expect(try GeminiAdapter.modelPath("a/b?c") == "models/a%2Fb%3Fc")
        for bad in ["..", "models/..", "", "tunedModels/."] {
            #expect(throws: GatewayError.self, "\(bad)") { _ = try GeminiAdapter.modelPath(bad) }
        }
        let azure = OpenAIAdapter(transport: ScriptedTransport { _ in .json(200, "{}") }, dialect: .azure)
        let escaped = try makeCall(
            #"{"model":"a","messages":[{"role":"user","content":"x"}]}"#, provider: AzureTests.provider,
            target: TargetConfig(provider: "az", model: "../../x?y"))
        #expect(try azure.url(for: escaped) == "https://contoso.openai.azure.com/openai/deployments/..%2F..%2Fx%3Fy/chat/completions?api-version=2024-10-21")
        let dots = try makeCall(
            #"{"model":"a","messages":[{"role":"user","content":"x"}]}"#, provider: AzureTests.provider,
            target: TargetConfig(provider: "az", model: ".."))
        #expect(throws: GatewayError.self) { _ = try azure.url(for: dots) }
    }

    @Test func geminiSignaturesOnlyGoToGeminisOwnEndpoint() throws {
        let request = #"{"model":"a","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"c2ln"}}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}"#
        let mistral = try makeCall(request, style: .gemini, provider: ProviderConfig(name: "m", type: .openai, baseURL: "https://api.mistral.ai/v1"))
        let sent = try json(OpenAIAdapter.upstreamBody(for: mistral, stream: false))
        #expect(sent["messages"]?.arrayValue?[1]["tool_calls"]?.arrayValue?.first?["extra_content"] == nil)
        let google = try makeCall(
            request, style: .gemini,
            provider: ProviderConfig(name: "g", type: .openai, baseURL: "https://generativelanguage.googleapis.com/v1beta/openai"))
        let kept = try json(OpenAIAdapter.upstreamBody(for: google, stream: false))
        #expect(kept["messages"]?.arrayValue?[1]["tool_calls"]?.arrayValue?.first?["extra_content"] == j(#"{"google":{"thought_signature":"c2ln"}}"#))
    }

    @Test func azureDefaultsUseMaxCompletionTokens() throws {
        var target = TargetConfig(provider: "az", model: "o3-deploy")
        target.maxTokensDefault = 2000
        let passThrough = try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#, provider: AzureTests.provider, target: target)
        let body = try json(OpenAIAdapter.upstreamBody(for: passThrough, stream: false))
        #expect(body["max_completion_tokens"] == .int(2000))
        #expect(body["max_tokens"] == nil)
        let translated = try makeCall(#"{"model":"a","messages":[{"role":"user","content":"x"}]}"#, style: .anthropic, provider: AzureTests.provider, target: target)
        let other = try json(OpenAIAdapter.upstreamBody(for: translated, stream: false))
        #expect(other["max_completion_tokens"] == .int(2000))
        #expect(other["max_tokens"] == nil)
    }

    @Test func absurdUpstreamCountsDoNotTrap() throws {
        let usage = try JSONCoding.decode(
            GeminiUsage.self, from: #"{"promptTokenCount":9223372036854775807,"toolUsePromptTokenCount":1,"candidatesTokenCount":9223372036854775807,"thoughtsTokenCount":5}"#)
        #expect(usage.canonical.promptTokens == .max)
        #expect(usage.canonical.completionTokens == .max)
        var negative = Usage(promptTokens: 1, completionTokens: .min + 1)
        negative.reasoningTokens = .max
        #expect(GeminiUsage(negative).candidatesTokenCount == 0)
    }

    @Test func imageFetchLimitsAndOddAnswers() async throws {
        let transport = ScriptedTransport { request in
            if request.method == .get {
                return TransportResponse(status: 200, headers: [.contentType: ";"], body: ErasedAsyncSequence(elements: [ByteBuffer(string: "x")]))
            }
            return .json(200, GeminiFixtures.text("response_text.json"))
        }
        var provider = geminiProvider
        provider.fetchImageURLs = true
        let one = #"{"model":"a","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://img.test/a.png"}}]}]}"#
        do {
            _ = try await GeminiAdapter(transport: transport).complete(try geminiCall(one, provider: provider))
            Issue.record("an empty content type is not an image")
        } catch let error as GatewayError {
            #expect(error.code == "image_fetch_failed")
        }
        let parts = (0...GeminiAdapter.maxFetchedImages).map { #"{"type":"image_url","image_url":{"url":"https://img.test/\#($0).png"}}"# }
        let many = #"{"model":"a","messages":[{"role":"user","content":[\#(parts.joined(separator: ","))]}]}"#
        let before = transport.requests.withLock { $0.count }
        do {
            _ = try await GeminiAdapter(transport: transport).complete(try geminiCall(many, provider: provider))
            Issue.record("too many images")
        } catch let error as GatewayError {
            #expect(error.message.contains("At most"))
        }
        #expect(transport.requests.withLock { $0.count } == before)
        #expect(GeminiAdapter.isInternalHost("localhost."))
        #expect(GeminiAdapter.isInternalHost("127.0.0.1."))
    }
}
