public import NIOCore
import Foundation

/// An OpenAI embeddings request (`POST /v1/embeddings`).
public struct EmbeddingRequest: Sendable, Hashable, Codable {
    public var model: String
    public var input: EmbeddingInput
    /// `float` (the default) or `base64` (little-endian float32 bytes).
    public var encodingFormat: String?
    public var dimensions: Int?
    public var user: String?
    /// Fields not modelled here, kept for OpenAI-style upstreams.
    public var extra: [String: JSONValue]

    public init(
        model: String, input: EmbeddingInput, encodingFormat: String? = nil, dimensions: Int? = nil, user: String? = nil,
        extra: [String: JSONValue] = [:]
    ) {
        self.model = model
        self.input = input
        self.encodingFormat = encodingFormat
        self.dimensions = dimensions
        self.user = user
        self.extra = extra
    }

    static let knownKeys: Set<String> = ["model", "input", "encoding_format", "dimensions", "user"]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.model = try c.required(String.self, "model")
        self.input = try c.required(EmbeddingInput.self, "input")
        self.encodingFormat = try c.optional(String.self, "encoding_format")
        self.dimensions = try c.optional(Int.self, "dimensions")
        self.user = try c.optional(String.self, "user")
        self.extra = try c.unknownFields(excluding: Self.knownKeys)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(model, "model")
        try c.put(input, "input")
        try c.put(encodingFormat, "encoding_format")
        try c.put(dimensions, "dimensions")
        try c.put(user, "user")
        try c.putUnknown(extra)
    }

    /// The most inputs one request may carry (OpenAI's limit).
    public static let maxInputs = 2048

    /// Checks what OpenAI's API checks, so every provider gets the same 400s.
    public func validate() throws(GatewayError) {
        if model.isEmpty { throw .invalidRequest("model must not be empty", param: "model") }
        switch input {
        case .text(let text):
            if text.isEmpty { throw .invalidRequest("input must not be an empty string", param: "input") }
        case .texts(let texts):
            if texts.isEmpty { throw .invalidRequest("input must not be an empty array", param: "input") }
            if texts.count > Self.maxInputs {
                throw .invalidRequest("input may hold at most \(Self.maxInputs) items", param: "input")
            }
            if let i = texts.firstIndex(where: \.isEmpty) {
                throw .invalidRequest("input items must not be empty strings", param: "input[\(i)]")
            }
        case .tokens(let tokens):
            if tokens.isEmpty { throw .invalidRequest("input must not be an empty array", param: "input") }
        case .tokenBatches(let batches):
            if batches.isEmpty { throw .invalidRequest("input must not be an empty array", param: "input") }
            if batches.count > Self.maxInputs {
                throw .invalidRequest("input may hold at most \(Self.maxInputs) items", param: "input")
            }
            if let i = batches.firstIndex(where: \.isEmpty) {
                throw .invalidRequest("input items must not be empty arrays", param: "input[\(i)]")
            }
        }
        if let format = encodingFormat, format != "float", format != "base64" {
            throw .invalidRequest("encoding_format must be \"float\" or \"base64\"", param: "encoding_format")
        }
        if let dimensions, dimensions < 1 {
            throw .invalidRequest("dimensions must be at least 1", param: "dimensions")
        }
    }

    /// The routing view the engine works with: model, no stream, the input text as one
    /// user message (so an estimate has something to count).
    public var routingView: ChatRequest {
        ChatRequest(model: model, messages: [ChatMessage(role: .user, content: .text(input.texts?.joined(separator: "\n") ?? ""))])
    }
}

/// `input`: a string, an array of strings, an array of token ids, or an array of those.
public enum EmbeddingInput: Sendable, Hashable, Codable {
    case text(String)
    case texts([String])
    case tokens([Int])
    case tokenBatches([[Int]])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            self = .text(text)
        } else if let texts = try? c.decode([String].self) {
            self = .texts(texts)
        } else if let tokens = try? c.decode([Int].self) {
            self = .tokens(tokens)
        } else if let batches = try? c.decode([[Int]].self) {
            self = .tokenBatches(batches)
        } else {
            throw DecodingError.typeMismatch(
                EmbeddingInput.self,
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "input must be a string, an array of strings, or an array of token arrays"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .text(let text): try c.encode(text)
        case .texts(let texts): try c.encode(texts)
        case .tokens(let tokens): try c.encode(tokens)
        case .tokenBatches(let batches): try c.encode(batches)
        }
    }

    /// The inputs as texts; nil for token ids (only OpenAI-style upstreams take those).
    public var texts: [String]? {
        switch self {
        case .text(let text): return [text]
        case .texts(let texts): return texts
        case .tokens, .tokenBatches: return nil
        }
    }
}

/// Builds an OpenAI embeddings response (`{"object":"list","data":[…],"model","usage"}`)
/// from vectors, in the encoding the client asked for.
public enum EmbeddingResponseWriter {
    public static func encode(vectors: [[Float]], model: String, promptTokens: Int, base64: Bool) -> ByteBuffer {
        var out = #"{"object":"list","data":["#
        for (index, vector) in vectors.enumerated() {
            if index > 0 { out += "," }
            out += #"{"object":"embedding","index":\#(index),"embedding":"#
            if base64 {
                out += "\"" + base64Float32(vector) + "\""
            } else {
                out += "[" + vector.map { formatFloat($0) }.joined(separator: ",") + "]"
            }
            out += "}"
        }
        out += #"],"model":\#(JSONCoding.quoted(model)),"usage":{"prompt_tokens":\#(promptTokens),"total_tokens":\#(promptTokens)}}"#
        return ByteBuffer(string: out)
    }

    /// Little-endian float32 bytes, base64-encoded (what OpenAI sends for `encoding_format: base64`).
    public static func base64Float32(_ vector: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(vector.count * 4)
        for value in vector {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        return Data(bytes).base64EncodedString()
    }

    /// The shortest text that reads back as the same float32 (`Float.description`),
    /// with non-finite values (which JSON cannot carry) as 0.
    static func formatFloat(_ value: Float) -> String {
        value.isFinite ? value.description : "0"
    }
}
