/// One request-log row: what was asked, what served it, and what it cost.
public struct RequestLogEntry: Sendable, Hashable, Codable {
    /// The row's own unique id.
    public var id: String
    /// The request id (`x-request-id`); a client may reuse one, so it is not unique.
    public var requestID: String
    /// Epoch milliseconds when the request arrived.
    public var timestampMillis: Int64
    public var keyID: String
    public var keyName: String
    public var apiStyle: String
    /// The model the client asked for.
    public var model: String
    public var provider: String?
    public var upstreamModel: String?
    public var stream: Bool
    public var status: Int
    public var attempts: Int
    public var latencyMillis: Int64
    public var timeToFirstTokenMillis: Int64?
    public var promptTokens: Int
    public var completionTokens: Int
    public var cachedTokens: Int
    /// Whether the token counts were estimated (no usage from upstream, or cut short).
    public var tokensEstimated: Bool
    public var costMicros: Int64
    public var errorMessage: String?
    public var upstreamRequestID: String?
    /// Request/response bodies, only for keys with `log_bodies`.
    public var requestBody: String?
    public var responseBody: String?
    /// Every attempt made: which target, and how it ended.
    public var attemptDetails: [AttemptRecord]

    public init(
        id: String = RequestID.generate(), requestID: String, timestampMillis: Int64, keyID: String, keyName: String, apiStyle: String, model: String,
        provider: String? = nil, upstreamModel: String? = nil, stream: Bool, status: Int, attempts: Int,
        latencyMillis: Int64, timeToFirstTokenMillis: Int64? = nil, promptTokens: Int = 0, completionTokens: Int = 0,
        cachedTokens: Int = 0, tokensEstimated: Bool = false, costMicros: Int64 = 0, errorMessage: String? = nil,
        upstreamRequestID: String? = nil, requestBody: String? = nil, responseBody: String? = nil,
        attemptDetails: [AttemptRecord] = []
    ) {
        self.id = id
        self.requestID = requestID
        self.timestampMillis = timestampMillis
        self.keyID = keyID
        self.keyName = keyName
        self.apiStyle = apiStyle
        self.model = model
        self.provider = provider
        self.upstreamModel = upstreamModel
        self.stream = stream
        self.status = status
        self.attempts = attempts
        self.latencyMillis = latencyMillis
        self.timeToFirstTokenMillis = timeToFirstTokenMillis
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
        self.tokensEstimated = tokensEstimated
        self.costMicros = costMicros
        self.errorMessage = errorMessage
        self.upstreamRequestID = upstreamRequestID
        self.requestBody = requestBody
        self.responseBody = responseBody
        self.attemptDetails = attemptDetails
    }
}

/// One upstream attempt of a request.
public struct AttemptRecord: Sendable, Hashable, Codable {
    public var provider: String
    public var model: String
    /// The upstream key's id, when the provider has keys.
    public var keyID: String?
    /// 200 for the attempt that succeeded, else the failure's status.
    public var status: Int
    /// Why it failed (scrubbed), nil when it succeeded.
    public var error: String?
    public var latencyMs: Int64

    public init(provider: String, model: String, keyID: String?, status: Int, error: String?, latencyMs: Int64) {
        self.provider = provider
        self.model = model
        self.keyID = keyID
        self.status = status
        self.error = error
        self.latencyMs = latencyMs
    }

    enum CodingKeys: String, CodingKey {
        case provider, model, status, error
        case keyID = "key_id"
        case latencyMs = "latency_ms"
    }

    /// `records` as a JSON array with sorted keys and absent optionals left out: the
    /// bytes `JSONEncoder` would write, built directly because it runs for every log row.
    public static func jsonArray(_ records: [AttemptRecord]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(records.count * 96 + 2)
        out.append(UInt8(ascii: "["))
        for (index, record) in records.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            if let error = record.error {
                append(#""error":"#, to: &out)
                JSONCoding.appendQuoted(error, to: &out)
                out.append(UInt8(ascii: ","))
            }
            if let keyID = record.keyID {
                append(#""key_id":"#, to: &out)
                JSONCoding.appendQuoted(keyID, to: &out)
                out.append(UInt8(ascii: ","))
            }
            append(#""latency_ms":"#, to: &out)
            appendDecimal(record.latencyMs, to: &out)
            append(#","model":"#, to: &out)
            JSONCoding.appendQuoted(record.model, to: &out)
            append(#","provider":"#, to: &out)
            JSONCoding.appendQuoted(record.provider, to: &out)
            append(#","status":"#, to: &out)
            appendDecimal(Int64(record.status), to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    private static func append(_ literal: StaticString, to out: inout [UInt8]) {
        literal.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// A number's digits (a small string: no allocation).
    private static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }
}

/// Where finished requests are recorded. `record` returns at once while the writer's
/// queue has room; when it is full the caller waits (rows are never dropped).
public protocol RequestLogSink: Sendable {
    func record(_ entry: RequestLogEntry) async
}

/// A filter for reading request logs back, newest first.
public struct RequestLogQuery: Sendable, Hashable {
    public var model: String?
    public var provider: String?
    public var keyID: String?
    public var status: Int?
    public var sinceMillis: Int64?
    public var untilMillis: Int64?
    public var limit = 50
    /// Continue after this (timestamp, id) position.
    public var cursor: RequestLogCursor?

    public init() {}
}

/// A position in the newest-first log order.
public struct RequestLogCursor: Sendable, Hashable {
    public var timestampMillis: Int64
    public var id: String

    public init(timestampMillis: Int64, id: String) {
        self.timestampMillis = timestampMillis
        self.id = id
    }

    /// `"<millis>_<id>"`, opaque to clients.
    public var token: String { "\(timestampMillis)_\(id)" }

    public init?(token: String) {
        guard let sep = token.firstIndex(of: "_"), let millis = Int64(token[..<sep]) else { return nil }
        self.timestampMillis = millis
        self.id = String(token[token.index(after: sep)...])
        if id.isEmpty { return nil }
    }
}

/// Reads request logs back (admin API, tests).
public protocol RequestLogStore: Sendable {
    func logs(_ query: RequestLogQuery) async throws -> [RequestLogEntry]
    func countLogs() async throws -> Int
    /// One log row, with its attempts and (for keys with `log_bodies`) its bodies.
    func log(id: String) async throws -> RequestLogEntry?
    /// Deletes at most `limit` of the oldest rows written before `millis`; returns how many.
    func deleteLogs(before millis: Int64, limit: Int) async throws -> Int
}
