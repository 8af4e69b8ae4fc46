/// Wire-format examples shaped like those in OpenAI's API reference, shared by tests.
public enum OpenAIFixtures {
    public static func completion(content: String = "Hello there, how may I assist you today?", model: String = "gpt-4o-mini")
        -> String
    {
        """
        {"id":"chatcmpl-123","object":"chat.completion","created":1677652288,"model":"\(model)","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"message":{"role":"assistant","content":"\(content)"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"completion_tokens_details":{"reasoning_tokens":0}}}
        """
    }

    /// Stream events (without `[DONE]`): role, one chunk per piece, finish, and optionally usage.
    public static func chunks(_ pieces: [String], model: String = "gpt-4o-mini", usage: Bool = true) -> [String] {
        var events = [
            #"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"\#(model)","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#
        ]
        for piece in pieces {
            events.append(
                #"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"\#(model)","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"\#(piece)"},"logprobs":null,"finish_reason":null}]}"#
            )
        }
        events.append(
            #"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"\#(model)","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#
        )
        if usage {
            events.append(
                #"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"\#(model)","system_fingerprint":"fp_44709d6fcb","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#
            )
        }
        return events
    }
}
