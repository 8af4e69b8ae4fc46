import NIOCore
import OrchestratorCore

/// Reads an OpenAI Responses API event stream (`event: response.output_text.delta` …
/// `event: response.completed`) for the same-style pass-through: every event goes to
/// the client as it came, while the usage is read from the terminal event.
struct ResponsesStreamTranslator: SSEEventTranslator, Sendable {
    let provider: String
    /// A terminal event (`response.completed`, `.incomplete` or `.failed`) arrived.
    private(set) var finished = false

    init(provider: String) {
        self.provider = provider
    }

    func incompleteStreamError() -> GatewayError? {
        finished ? nil : .badUpstreamResponse("the event stream ended before response.completed", provider: provider)
    }

    mutating func translate(_ event: SSEScanner.Event, into batch: inout SSEBatch) throws(GatewayError) {
        let data = event.data
        if data.isEmpty { return }
        // The event's type is its `event:` name; streams without names carry it in `type`.
        let kind: Kind
        if let name = event.name {
            kind = Kind(name)
        } else {
            kind = Kind(typeIn: data)
        }
        switch kind {
        case .error:
            throw ProviderErrors.streamError(data, provider: provider)
        case .textDelta:
            // Roughly the text it carries, for an estimate if the stream is cut short.
            batch.countOutputText(max(0, data.count - 90))
        case .terminal:
            finished = true
            if let usage = Self.usage(in: data) { batch.out.append(.usage(usage)) }
        case .other:
            break
        }
        batch.writeFrame(eventName: event.name, dataBytes: data)
    }

    /// `response.usage` of a terminal event.
    static func usage(in data: UnsafeRawBufferPointer) -> Usage? {
        let event = ByteBuffer(bytes: data)
        guard case .object(let response)? = JSONObjectRewriter.value(of: "response", in: event),
            let usage = response["usage"], usage != .null,
            let bytes = try? JSONCoding.encode(usage),
            let summary = try? PassThroughSummary.scan(ByteBuffer(string: #"{"usage":"# + String(buffer: bytes) + "}"))
        else { return nil }
        return summary.usage
    }

    enum Kind {
        case error, textDelta, terminal, other

        init(_ name: UnsafeRawBufferPointer) {
            if RawBytes.equal(name, "response.output_text.delta") || RawBytes.equal(name, "response.reasoning_summary_text.delta") {
                self = .textDelta
            } else if RawBytes.equal(name, "response.completed") || RawBytes.equal(name, "response.incomplete")
                || RawBytes.equal(name, "response.failed")
            {
                self = .terminal
            } else if RawBytes.equal(name, "error") {
                self = .error
            } else {
                self = .other
            }
        }

        init(typeIn data: UnsafeRawBufferPointer) {
            guard case .string(var name)? = JSONObjectRewriter.value(of: "type", in: ByteBuffer(bytes: data)) else {
                self = .other
                return
            }
            self = name.withUTF8 { Kind(UnsafeRawBufferPointer($0)) }
        }
    }
}
