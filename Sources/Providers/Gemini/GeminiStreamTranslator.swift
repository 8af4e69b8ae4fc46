import NIOCore
import OrchestratorCore

/// Reads a Gemini `streamGenerateContent?alt=sse` body: each event's data is a whole
/// `GenerateContentResponse` (function calls arrive whole, `usageMetadata` is cumulative
/// and the last one counts). Pass-through forwards each event unchanged; otherwise each
/// becomes a canonical chunk.
struct GeminiStreamTranslator: SSEEventTranslator, Sendable {
    let provider: String
    let passThrough: Bool
    let clientWantsUsage: Bool
    let model: String
    let created: Int64
    private var id: String
    private var released = false
    private var usage: Usage?
    private var modelVersion: String?
    private var sawFinish = false
    /// The next tool-call index, and whether a candidate called a tool, per candidate.
    private var toolIndex: [Int: Int] = [:]
    private var ids = IDSource()

    init(provider: String, passThrough: Bool, clientWantsUsage: Bool, model: String, created: Int64) {
        self.provider = provider
        self.passThrough = passThrough
        self.clientWantsUsage = clientWantsUsage
        self.model = model
        self.created = created
        self.id = ids.completionID()
    }

    func incompleteStreamError() -> GatewayError? {
        sawFinish ? nil : .badUpstreamResponse("the event stream ended before a finishReason", provider: provider)
    }

    mutating func translate(_ event: SSEScanner.Event, into batch: inout SSEBatch) throws(GatewayError) {
        let data = event.data
        if data.isEmpty { return }
        if RawBytes.hasPrefix(data, #"{"error""#) { throw ProviderErrors.streamError(data, provider: provider) }
        let response: GeminiResponse
        do {
            response = try JSONCoding.decode(GeminiResponse.self, from: data)
        } catch {
            throw .badUpstreamResponse(
                "an event is not a GenerateContentResponse (\(ProviderErrors.snippet(data)))", provider: provider)
        }
        let candidates = response.candidates ?? []
        if candidates.isEmpty, let blocked = GeminiTranslation.blockedError(response.promptFeedback, provider: provider) {
            // A Gemini client reads the block from the upstream's own chunk, as without a stream.
            guard passThrough else { throw blocked }
            sawFinish = true
        }
        if let metadata = response.usageMetadata {
            usage = metadata.canonical
            batch.out.append(.usage(metadata.canonical))
        }
        if passThrough {
            var text = 0
            for candidate in candidates {
                if candidate.finishReason != nil { sawFinish = true }
                for part in candidate.content?.parts ?? [] { text += part.text?.utf8.count ?? 0 }
            }
            batch.countOutputText(text)
            batch.forward(event)
            return
        }
        if let responseID = response.responseId, !released { id = "chatcmpl-" + responseID }
        if let version = response.modelVersion { modelVersion = version }
        var choices: [ChatCompletionChunk.Choice] = []
        var textCount = 0
        for (offset, candidate) in candidates.enumerated() {
            let index = candidate.index ?? offset
            var delta = ChatCompletionChunk.Delta()
            var content = ""
            var reasoning = ""
            var calls: [ChatCompletionChunk.ToolCallDelta] = []
            for part in candidate.content?.parts ?? [] {
                if let call = part.functionCall {
                    let next = toolIndex[index, default: 0]
                    toolIndex[index] = next + 1
                    let arguments = JSONValueDecoding.compactJSON(call.args)
                    textCount += arguments.utf8.count
                    calls.append(
                        .init(
                            index: next, id: call.id ?? ids.toolCallID(), type: "function",
                            function: .init(name: call.name, arguments: arguments),
                            extra: GeminiTranslation.signatureExtra(part.thoughtSignature)))
                } else if let text = part.text {
                    if part.thought == true { reasoning += text } else { content += text }
                }
            }
            textCount += content.utf8.count + reasoning.utf8.count
            if !content.isEmpty { delta.content = content }
            if !reasoning.isEmpty { delta.reasoningContent = reasoning }
            if !calls.isEmpty { delta.toolCalls = calls }
            let finish = GeminiTranslation.finishReason(candidate.finishReason, hasToolCalls: toolIndex[index] != nil)
            if finish != nil { sawFinish = true }
            if delta == ChatCompletionChunk.Delta(), finish == nil { continue }
            if !released {
                released = true
                delta.role = "assistant"
            }
            choices.append(.init(index: index, delta: delta, finishReason: finish))
        }
        batch.countOutputText(textCount)
        if !choices.isEmpty {
            let chunk = ChatCompletionChunk(
                id: id, created: created, model: response.modelVersion ?? model, choices: choices)
            batch.out.append(.part(.chunk(chunk)))
        }
    }

    /// The client's usage chunk, once, after everything else: Gemini's usage is
    /// cumulative, so the last one seen is the whole stream's.
    mutating func finish(into batch: inout SSEBatch) {
        guard !passThrough, clientWantsUsage, let usage else { return }
        batch.out.append(
            .part(.chunk(ChatCompletionChunk(id: id, created: created, model: modelVersion ?? model, choices: [], usage: usage))))
    }
}
