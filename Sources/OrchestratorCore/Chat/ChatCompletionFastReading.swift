/// A completion that the gateway translates (an OpenAI-compatible upstream's answer to an
/// Anthropic client) is read from its bytes: its choices' messages (text content, tool
/// calls, refusal, reasoning, unknown members), `usage` with its details, and unknown
/// members at every level, each as the type's `Decodable` initializer reads it. Content
/// given as parts, numbers that are not plain integers where integers are meant, escaped
/// keys and mistyped members are left to the tree and `JSONDecoder`, as for chunks.
extension ChatCompletion: JSONFastDecodable {
    public static func read(_ reader: inout JSONFastReader) -> ChatCompletion? {
        var envelope = CompletionEnvelope()
        var choices: [Choice]?
        var usage: Usage?
        let complete = reader.object { r, key in
            // Required, so null is `JSONDecoder`'s error to give.
            if r.equals(key, "choices") {
                choices = r.array { Choice.read(&$0) }
                return choices != nil
            }
            if r.equals(key, "usage") { return r.optional(&usage) { Usage.read(&$0) } }
            return envelope.read(key, from: &r)
        }
        guard complete, let choices, let extra = envelope.extra.members else { return nil }
        return ChatCompletion(
            id: envelope.id ?? "", object: envelope.object ?? "chat.completion", created: envelope.created ?? 0,
            model: envelope.model ?? "", choices: choices, usage: usage, systemFingerprint: envelope.systemFingerprint,
            extra: extra)
    }
}

extension ChatCompletion.Choice {
    static func read(_ reader: inout JSONFastReader) -> Self? {
        var common = ChoiceCommon()
        var message: ChatMessage?
        let complete = reader.object { r, key in
            if r.equals(key, "message") {
                message = ChatMessage.read(&r)
                return message != nil
            }
            return common.read(key, from: &r)
        }
        guard complete, let message, let extra = common.extra.members else { return nil }
        return Self(
            index: common.index ?? 0, message: message, finishReason: common.finishReason, logprobs: common.logprobs,
            extra: extra)
    }
}

extension ChatMessage {
    /// A message whose content is text or null (parts are left to the slow path).
    static func read(_ reader: inout JSONFastReader) -> ChatMessage? {
        var role: String?
        var content: String?
        var message = ChatMessage(role: .assistant)
        var extra = FastExtra()
        let complete = reader.object { r, key in
            if r.equals(key, "role") { return r.requiredString(&role) }
            if r.equals(key, "content") { return r.optionalString(&content) }
            if r.equals(key, "tool_calls") { return r.optionalArray(&message.toolCalls) { $0.toolCall() } }
            if r.equals(key, "refusal") { return r.optionalString(&message.refusal) }
            if r.equals(key, "reasoning_content") { return r.optionalString(&message.reasoningContent) }
            if r.equals(key, "name") { return r.optionalString(&message.name) }
            if r.equals(key, "tool_call_id") { return r.optionalString(&message.toolCallID) }
            return extra.read(key, from: &r)
        }
        guard complete, let role, Role.known.contains(role), var extra = extra.members else { return nil }
        message.role = Role(rawValue: role)
        message.content = content.map(MessageContent.text)
        FastExtra.takeReasoning(from: &extra, into: &message.reasoningContent)
        message.extra = extra
        return message
    }
}

extension Usage {
    static func read(_ reader: inout JSONFastReader) -> Usage? {
        var prompt: Int?
        var completion: Int?
        var total: Int?
        var promptDetails: [String: JSONValue]?
        var completionDetails: [String: JSONValue]?
        var extra = FastExtra()
        let complete = reader.object { r, key in
            if r.equals(key, "prompt_tokens") { return r.optionalInt(&prompt) }
            if r.equals(key, "completion_tokens") { return r.optionalInt(&completion) }
            if r.equals(key, "total_tokens") { return r.optionalInt(&total) }
            if r.equals(key, "prompt_tokens_details") { return r.optionalValues(&promptDetails) }
            if r.equals(key, "completion_tokens_details") { return r.optionalValues(&completionDetails) }
            return extra.read(key, from: &r)
        }
        guard complete, let extra = extra.members else { return nil }
        var usage = Usage(promptTokens: prompt ?? 0, completionTokens: completion ?? 0, totalTokens: total)
        var prompts = promptDetails ?? [:]
        // DeepSeek's `prompt_cache_hit_tokens` stands in when the details have no count
        // (and stays in `extra`); read as an `Int` is, anything else is none.
        var cacheHits: Int?
        if case .int(let hits)? = extra["prompt_cache_hit_tokens"] { cacheHits = Int(exactly: hits) }
        usage.cachedTokens = prompts.removeValue(forKey: "cached_tokens")?.intValue ?? cacheHits
        usage.promptDetailsExtra = prompts
        var completions = completionDetails ?? [:]
        usage.reasoningTokens = completions.removeValue(forKey: "reasoning_tokens")?.intValue
        usage.completionDetailsExtra = completions
        usage.extra = extra
        return usage
    }
}
