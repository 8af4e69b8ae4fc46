/// A wire type that can be read straight from validated bytes (``JSONValidator``:
/// well-formed, UTF-8, no duplicate keys) in its common shape, giving exactly what its
/// `Decodable` initializer gives through `JSONDecoder`, or nil where it cannot be sure
/// to. `JSONCoding.decode` tries this first for an upstream body, then the tree, then
/// `JSONDecoder`.
public protocol JSONFastDecodable: Decodable {
    /// The value at the reader's position (moving past it), or nil.
    static func read(_ reader: inout JSONFastReader) -> Self?
}

/// A translated stream decodes every upstream event (an OpenAI-style chunk that an
/// Anthropic client gets as Messages events), so the chunk is read from its bytes: about
/// two hundred bytes of `id`, `object`, `created`, `model` and one choice whose delta
/// carries a few characters. Through the tree and `JSONTreeDecoder` that took 56
/// allocations and, per chunk, about as much CPU as a whole pass-through request
/// (docs/performance.md).
///
/// What the reader leaves to the slow path: a number that is not a plain integer where an
/// integer is meant, an escaped key, a member of the wrong type (whose error
/// `JSONDecoder` gives), and two unknown keys that are equal as strings but not as bytes.
/// The last chunk's `usage` is read as ``Usage/read(_:)`` reads a completion's: left to
/// the tree, it cost as much as the stream's other chunks together.
extension ChatCompletionChunk: JSONFastDecodable {
    public static func read(_ reader: inout JSONFastReader) -> ChatCompletionChunk? {
        var envelope = CompletionEnvelope()
        var choices: [Choice]?
        var usage: Usage?
        let complete = reader.object { r, key in
            if r.equals(key, "choices") { return r.optionalArray(&choices) { Choice.read(&$0) } }
            if r.equals(key, "usage") { return r.optional(&usage) { Usage.read(&$0) } }
            return envelope.read(key, from: &r)
        }
        guard complete, let extra = envelope.extra.members else { return nil }
        return ChatCompletionChunk(
            id: envelope.id ?? "", object: envelope.object ?? "chat.completion.chunk", created: envelope.created ?? 0,
            model: envelope.model ?? "", choices: choices ?? [], usage: usage, systemFingerprint: envelope.systemFingerprint,
            extra: extra)
    }
}

extension ChatCompletionChunk.Choice {
    static func read(_ reader: inout JSONFastReader) -> Self? {
        var common = ChoiceCommon()
        var delta: ChatCompletionChunk.Delta?
        let complete = reader.object { r, key in
            if r.equals(key, "delta") { return r.optional(&delta) { ChatCompletionChunk.Delta.read(&$0) } }
            return common.read(key, from: &r)
        }
        guard complete, let extra = common.extra.members else { return nil }
        return Self(
            index: common.index ?? 0, delta: delta ?? ChatCompletionChunk.Delta(), finishReason: common.finishReason,
            logprobs: common.logprobs, extra: extra)
    }
}

/// The members a completion and a chunk share (`id`, `object`, `created`, `model`,
/// `system_fingerprint`, and unknown ones), read as their initializers read them.
struct CompletionEnvelope {
    var id: String?
    var object: String?
    var created: Int64?
    var model: String?
    var systemFingerprint: String?
    var extra = FastExtra()

    mutating func read(_ key: Range<Int>, from r: inout JSONFastReader) -> Bool {
        if r.equals(key, "id") { return r.optionalString(&id) }
        if r.equals(key, "object") { return r.optionalString(&object) }
        if r.equals(key, "created") { return r.optionalInt64(&created) }
        if r.equals(key, "model") { return r.optionalString(&model) }
        if r.equals(key, "system_fingerprint") { return r.optionalString(&systemFingerprint) }
        return extra.read(key, from: &r)
    }
}

/// The members a completion's and a chunk's choices share (`index`, `finish_reason`,
/// `logprobs`, and unknown ones).
struct ChoiceCommon {
    var index: Int?
    var finishReason: String?
    var logprobs: JSONValue?
    var extra = FastExtra()

    mutating func read(_ key: Range<Int>, from r: inout JSONFastReader) -> Bool {
        if r.equals(key, "index") { return r.optionalInt(&index) }
        if r.equals(key, "finish_reason") { return r.optionalString(&finishReason) }
        if r.equals(key, "logprobs") { return r.optionalValue(&logprobs) }
        return extra.read(key, from: &r)
    }
}

extension ChatCompletionChunk.Delta {
    static func read(_ reader: inout JSONFastReader) -> Self? {
        var role: String?
        var content: String?
        var reasoningContent: String?
        var refusal: String?
        var toolCalls: [ChatCompletionChunk.ToolCallDelta]?
        var extra = FastExtra()
        let complete = reader.object { r, key in
            if r.equals(key, "content") { return r.optionalString(&content) }
            if r.equals(key, "role") { return r.optionalString(&role) }
            if r.equals(key, "reasoning_content") { return r.optionalString(&reasoningContent) }
            if r.equals(key, "refusal") { return r.optionalString(&refusal) }
            if r.equals(key, "tool_calls") {
                return r.optionalArray(&toolCalls) { ChatCompletionChunk.ToolCallDelta.read(&$0) }
            }
            // `reasoning` (vLLM, Ollama, OpenRouter) is an unknown member to the type,
            // taken out below when it is text, as its initializer does.
            return extra.read(key, from: &r)
        }
        guard complete, var extra = extra.members else { return nil }
        FastExtra.takeReasoning(from: &extra, into: &reasoningContent)
        return Self(
            role: role, content: content, reasoningContent: reasoningContent, refusal: refusal, toolCalls: toolCalls,
            extra: extra)
    }
}

extension ChatCompletionChunk.ToolCallDelta {
    static func read(_ reader: inout JSONFastReader) -> Self? {
        var index: Int?
        var id: String?
        var type: String?
        var function: ChatCompletionChunk.FunctionDelta?
        var extra = FastExtra()
        let complete = reader.object { r, key in
            if r.equals(key, "index") { return r.optionalInt(&index) }
            if r.equals(key, "id") { return r.optionalString(&id) }
            if r.equals(key, "type") { return r.optionalString(&type) }
            if r.equals(key, "function") {
                return r.optional(&function) { ChatCompletionChunk.FunctionDelta.read(&$0) }
            }
            return extra.read(key, from: &r)
        }
        // `index` is required: a missing or null one is `JSONDecoder`'s error to give.
        guard complete, let index, let extra = extra.members else { return nil }
        return Self(index: index, id: id, type: type, function: function, extra: extra)
    }
}

extension ChatCompletionChunk.FunctionDelta {
    /// As its synthesized initializer reads it: `name` and `arguments`, other members
    /// stepped over.
    static func read(_ reader: inout JSONFastReader) -> Self? {
        var name: String?
        var arguments: String?
        let complete = reader.object { r, key in
            if r.equals(key, "arguments") { return r.optionalString(&arguments) }
            if r.equals(key, "name") { return r.optionalString(&name) }
            return r.skipValue()
        }
        return complete ? Self(name: name, arguments: arguments) : nil
    }
}

/// The unknown members of an object being read, kept as sent (`extra`).
struct FastExtra {
    private var values: [String: JSONValue] = [:]
    private var count = 0

    mutating func read(_ key: Range<Int>, from reader: inout JSONFastReader) -> Bool {
        count += 1
        return reader.extraMember(key, into: &values)
    }

    /// The members, or nil when two keys that differ in bytes made one entry (equal as
    /// strings, one precomposed and one not): which one `JSONDecoder` keeps is its call.
    var members: [String: JSONValue]? { values.count == count ? values : nil }

    /// `reasoning` (vLLM, Ollama and OpenRouter's name for `reasoning_content`) is an
    /// unknown member to the message types: their initializers take it out of `extra`
    /// when it is text, as the reasoning unless `reasoning_content` gave one.
    static func takeReasoning(from extra: inout [String: JSONValue], into reasoningContent: inout String?) {
        guard case .string(let reasoning)? = extra["reasoning"] else { return }
        extra.removeValue(forKey: "reasoning")
        if reasoningContent == nil { reasoningContent = reasoning }
    }
}

extension JSONFastReader {
    /// A 64-bit plain integer (`-?[0-9]+`), or null for none.
    mutating func optionalInt64(_ target: inout Int64?) -> Bool {
        if takeNull() { return true }
        guard case .int(let value)? = integer() else { return false }
        target = value
        return true
    }

    /// A value read with `read`, or null for none (as `decodeIfPresent` reads it).
    mutating func optional<Value>(_ target: inout Value?, _ read: (inout JSONFastReader) -> Value?) -> Bool {
        if takeNull() { return true }
        guard let value = read(&self) else { return false }
        target = value
        return true
    }
}
