import NIOCore
import OrchestratorCore

/// Reads an Anthropic Messages event stream (`message_start`, `content_block_start` /
/// `_delta` / `_stop`, `message_delta`, `message_stop`, `ping`, `error`).
///
/// Pass-through (the client speaks Anthropic): every event is forwarded as it came and
/// only `message_start` and `message_delta` are decoded, for usage. Otherwise each event
/// becomes OpenAI chunks: text → `content`, thinking → `reasoning_content`, each
/// `tool_use` block → one tool call (its own `index`, the `id` and name on its first
/// delta, `input_json_delta` fragments as `arguments`), the stop reason → `finish_reason`,
/// and a usage-only chunk at `message_stop`.
///
/// Nothing reaches the client before the first content event: `message_start` and
/// `ping` are held back (the role rides on the first chunk), so an `error` event that
/// follows them (an `overloaded_error` right after the 200, say) still fails over.
struct AnthropicStreamTranslator: SSEEventTranslator, Sendable {
    let provider: String
    let passThrough: Bool
    /// The forced tool standing in for `response_format`: its input is streamed as text.
    let structuredOutputTool: String?
    let created: Int64

    private var id = ""
    private var model = ""
    private var usage = AnthropicUsage()
    private var stopped = false
    /// Pass-through frames held until the first content event.
    private var held = ByteBuffer()
    /// Whether anything was released to the client yet.
    private var released = false
    /// Content-block index → what the block is.
    private var blocks: [Int: Block] = [:]
    private var nextToolIndex = 0
    private var structured = false

    private enum Block {
        case text
        /// The thinking text so far: a client sending the block back needs all of it
        /// with its signature.
        case thinking(text: String)
        /// A tool call, and whether any argument fragment was sent for it yet.
        case tool(index: Int, sentArguments: Bool)
        case structuredOutput
        case ignored
    }

    init(provider: String, passThrough: Bool, structuredOutputTool: String?, created: Int64) {
        self.provider = provider
        self.passThrough = passThrough
        self.structuredOutputTool = structuredOutputTool
        self.created = created
    }

    func incompleteStreamError() -> GatewayError? {
        stopped ? nil : .badUpstreamResponse("the event stream ended before message_stop", provider: provider)
    }

    mutating func translate(_ event: SSEScanner.Event, into batch: inout SSEBatch) throws(GatewayError) {
        let data = event.data
        guard !data.isEmpty else { return }
        if passThrough {
            try passThrough(name: event.name, data: data, into: &batch)
            return
        }
        guard let value = try? JSONCoding.decode(JSONValue.self, from: data),
            case .object(let object) = value
        else { throw notAnEvent(data) }
        let type = object["type"]?.stringValue ?? event.name.map { String(decoding: $0, as: UTF8.self) } ?? ""
        switch type {
        case "message_start":
            let message = object["message"]
            id = message?["id"]?.stringValue ?? ""
            model = message?["model"]?.stringValue ?? ""
            if let u = message?["usage"] {
                usage.merge(decodeUsage(u))
                // Reported now too, so a stream cut short still logs the real input count.
                batch.out.append(.usage(usage.canonical))
            }
        case "content_block_start":
            guard let index = object["index"]?.intValue, let block = object["content_block"] else {
                throw notAnEvent(data)
            }
            switch block["type"]?.stringValue {
            case "text":
                blocks[index] = .text
                if let text = block["text"]?.stringValue, !text.isEmpty {
                    emitText(text, into: &batch)
                }
            case "thinking":
                blocks[index] = .thinking(text: "")
            case "redacted_thinking":
                blocks[index] = .ignored
                if let data = block["data"]?.stringValue {
                    let carried: JSONValue = ["type": "redacted_thinking", "data": .string(data)]
                    emit(ChatCompletionChunk.Delta(extra: [AnthropicTranslation.thinkingBlocksKey: [carried]]), into: &batch)
                }
            case "tool_use":
                let name = block["name"]?.stringValue ?? ""
                if let tool = structuredOutputTool, name == tool {
                    blocks[index] = .structuredOutput
                    structured = true
                    break
                }
                let toolIndex = nextToolIndex
                nextToolIndex += 1
                blocks[index] = .tool(index: toolIndex, sentArguments: false)
                let call = ChatCompletionChunk.ToolCallDelta(
                    index: toolIndex, id: block["id"]?.stringValue, type: "function",
                    function: .init(name: name, arguments: ""))
                batch.countOutputText(name.utf8.count)
                emit(ChatCompletionChunk.Delta(toolCalls: [call]), into: &batch)
            default:
                // redacted_thinking, server tools and their results: nothing an OpenAI client reads.
                blocks[index] = .ignored
            }
        case "content_block_delta":
            guard let index = object["index"]?.intValue, let delta = object["delta"] else { throw notAnEvent(data) }
            switch (blocks[index], delta["type"]?.stringValue) {
            case (.text?, "text_delta"):
                emitText(delta["text"]?.stringValue ?? "", into: &batch)
            case (.thinking(let soFar)?, "thinking_delta"):
                let text = delta["thinking"]?.stringValue ?? ""
                guard !text.isEmpty else { break }
                blocks[index] = .thinking(text: soFar + text)
                batch.countOutputText(text.utf8.count)
                emit(ChatCompletionChunk.Delta(reasoningContent: text), into: &batch)
            case (.thinking(let text)?, "signature_delta"):
                // The whole block with its signature, so a client can send it back in a
                // later turn (Anthropic checks the signature against the text).
                let signature = delta["signature"]?.stringValue ?? ""
                let block: JSONValue = ["type": "thinking", "thinking": .string(text), "signature": .string(signature)]
                emit(
                    ChatCompletionChunk.Delta(extra: [AnthropicTranslation.thinkingBlocksKey: .array([block])]),
                    into: &batch)
            case (.tool(let toolIndex, _)?, "input_json_delta"):
                let fragment = delta["partial_json"]?.stringValue ?? ""
                guard !fragment.isEmpty else { break }
                blocks[index] = .tool(index: toolIndex, sentArguments: true)
                batch.countOutputText(fragment.utf8.count)
                let call = ChatCompletionChunk.ToolCallDelta(index: toolIndex, function: .init(arguments: fragment))
                emit(ChatCompletionChunk.Delta(toolCalls: [call]), into: &batch)
            case (.structuredOutput?, "input_json_delta"):
                emitText(delta["partial_json"]?.stringValue ?? "", into: &batch)
            default:
                break  // citations and future delta kinds
            }
        case "content_block_stop":
            // A tool without input sends no fragment; OpenAI clients parse `arguments`.
            if let index = object["index"]?.intValue, case .tool(let toolIndex, false)? = blocks[index] {
                blocks[index] = .tool(index: toolIndex, sentArguments: true)
                let call = ChatCompletionChunk.ToolCallDelta(index: toolIndex, function: .init(arguments: "{}"))
                emit(ChatCompletionChunk.Delta(toolCalls: [call]), into: &batch)
            }
        case "ping":
            break
        case "message_delta":
            if let u = object["usage"] { usage.merge(decodeUsage(u)) }
            if let reason = object["delta"]?["stop_reason"]?.stringValue {
                var finish = AnthropicTranslation.finishReason(reason)
                if structured, finish == "tool_calls" { finish = "stop" }
                var delta = ChatCompletionChunk.Delta()
                if !released {
                    released = true
                    delta.role = "assistant"
                }
                var chunk = makeChunk(delta)
                chunk.choices[0].finishReason = finish
                batch.out.append(.part(.chunk(chunk)))
            }
        case "message_stop":
            stopped = true
            let canonical = usage.canonical
            batch.out.append(.usage(canonical))
            batch.out.append(
                .part(.chunk(ChatCompletionChunk(id: id, created: created, model: model, choices: [], usage: canonical))))
        case "error":
            throw ProviderErrors.streamError(data, provider: provider)
        default:
            break  // new event types may be added (Anthropic's versioning policy)
        }
    }

    /// Forwards the event as it came; reads usage from the two events that carry it.
    /// The pass-through's reading of an event name, compared in place (no string per event).
    private enum PassThroughEvent {
        case messageStart, messageDelta, messageStop, contentBlockDelta, ping, error, other

        init(_ name: UnsafeRawBufferPointer?) {
            guard let name else {
                self = .other
                return
            }
            if RawBytes.equal(name, "content_block_delta") {
                self = .contentBlockDelta
            } else if RawBytes.equal(name, "message_start") {
                self = .messageStart
            } else if RawBytes.equal(name, "message_delta") {
                self = .messageDelta
            } else if RawBytes.equal(name, "message_stop") {
                self = .messageStop
            } else if RawBytes.equal(name, "ping") {
                self = .ping
            } else if RawBytes.equal(name, "error") {
                self = .error
            } else {
                self = .other
            }
        }
    }

    private mutating func passThrough(name: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer, into batch: inout SSEBatch)
        throws(GatewayError)
    {
        let kind = PassThroughEvent(name)
        switch kind {
        case .error:
            throw ProviderErrors.streamError(data, provider: provider)
        case .messageStart, .messageDelta:
            guard let value = try? JSONCoding.decode(JSONValue.self, from: data) else {
                throw notAnEvent(data)
            }
            if let u = value["message"]?["usage"] ?? value["usage"] { usage.merge(decodeUsage(u)) }
            batch.out.append(.usage(usage.canonical))
        case .contentBlockDelta:
            // Roughly the text it carries, for an estimate if the stream is cut short.
            batch.countOutputText(max(0, data.count - 60))
        case .messageStop:
            stopped = true
        case .ping, .other:
            break
        }
        let holdBack: Bool
        switch kind {
        case .messageStart, .ping: holdBack = !released
        default: holdBack = false
        }
        if !holdBack, !released {
            released = true
            batch.writeFrames(&held)
        }
        if holdBack {
            SSEWriter.write(eventName: name, dataBytes: data, into: &held)
        } else {
            batch.writeFrame(eventName: name, dataBytes: data)
        }
    }


    private func decodeUsage(_ value: JSONValue) -> AnthropicUsage {
        AnthropicUsage(
            inputTokens: value["input_tokens"]?.intValue, outputTokens: value["output_tokens"]?.intValue,
            cacheCreationInputTokens: value["cache_creation_input_tokens"]?.intValue,
            cacheReadInputTokens: value["cache_read_input_tokens"]?.intValue)
    }

    private mutating func emitText(_ text: String, into batch: inout SSEBatch) {
        guard !text.isEmpty else { return }
        batch.countOutputText(text.utf8.count)
        emit(ChatCompletionChunk.Delta(content: text), into: &batch)
    }

    private mutating func emit(_ delta: ChatCompletionChunk.Delta, into batch: inout SSEBatch) {
        var delta = delta
        if !released {
            released = true
            delta.role = "assistant"
        }
        batch.out.append(.part(.chunk(makeChunk(delta))))
    }

    private func makeChunk(_ delta: ChatCompletionChunk.Delta) -> ChatCompletionChunk {
        ChatCompletionChunk(id: id, created: created, model: model, choices: [.init(index: 0, delta: delta)])
    }

    private func notAnEvent(_ data: UnsafeRawBufferPointer) -> GatewayError {
        .badUpstreamResponse("an event is not an Anthropic stream event (\(ProviderErrors.snippet(data)))", provider: provider)
    }
}
