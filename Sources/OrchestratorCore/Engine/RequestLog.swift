/// One request-log row: what was asked, what served it, and what it cost.
public struct RequestLogEntry: Sendable, Hashable, Codable {
    /// The row's values. A row is copied several times on its way into the database (the
    /// writer's batch, its rollups); kept in one box, a copy is one retain rather than one
    /// for each of its dozen strings, and the box is copied only when a shared row changes.
    private struct Fields: Sendable, Hashable, Codable {
        var id: String
        var requestID: String
        var timestampMillis: Int64
        var keyID: String
        var keyName: String
        var apiStyle: String
        var model: String
        var provider: String?
        var upstreamModel: String?
        var stream: Bool
        var status: Int
        var attempts: Int
        var latencyMillis: Int64
        var timeToFirstTokenMillis: Int64?
        var promptTokens: Int
        var completionTokens: Int
        var cachedTokens: Int
        var tokensEstimated: Bool
        var costMicros: Int64
        var errorMessage: String?
        var upstreamRequestID: String?
        var requestBody: String?
        var responseBody: String?
        var attemptDetails: [AttemptRecord]
    }

    /// Written only through `fields`, which first copies a box that other rows share: a
    /// box another thread can see is never written, so sharing it is safe.
    private final class Box: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    private var fields: Fields {
        get { box.fields }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            yield &box.fields
        }
    }

    /// The row's own unique id.
    public var id: String {
        get { box.fields.id }
        set { fields.id = newValue }
    }
    /// The request id (`x-request-id`); a client may reuse one, so it is not unique.
    public var requestID: String {
        get { box.fields.requestID }
        set { fields.requestID = newValue }
    }
    /// Epoch milliseconds when the request arrived.
    public var timestampMillis: Int64 {
        get { box.fields.timestampMillis }
        set { fields.timestampMillis = newValue }
    }
    public var keyID: String {
        get { box.fields.keyID }
        set { fields.keyID = newValue }
    }
    public var keyName: String {
        get { box.fields.keyName }
        set { fields.keyName = newValue }
    }
    public var apiStyle: String {
        get { box.fields.apiStyle }
        set { fields.apiStyle = newValue }
    }
    /// The model the client asked for.
    public var model: String {
        get { box.fields.model }
        set { fields.model = newValue }
    }
    public var provider: String? {
        get { box.fields.provider }
        set { fields.provider = newValue }
    }
    public var upstreamModel: String? {
        get { box.fields.upstreamModel }
        set { fields.upstreamModel = newValue }
    }
    public var stream: Bool {
        get { box.fields.stream }
        set { fields.stream = newValue }
    }
    public var status: Int {
        get { box.fields.status }
        set { fields.status = newValue }
    }
    public var attempts: Int {
        get { box.fields.attempts }
        set { fields.attempts = newValue }
    }
    public var latencyMillis: Int64 {
        get { box.fields.latencyMillis }
        set { fields.latencyMillis = newValue }
    }
    public var timeToFirstTokenMillis: Int64? {
        get { box.fields.timeToFirstTokenMillis }
        set { fields.timeToFirstTokenMillis = newValue }
    }
    public var promptTokens: Int {
        get { box.fields.promptTokens }
        set { fields.promptTokens = newValue }
    }
    public var completionTokens: Int {
        get { box.fields.completionTokens }
        set { fields.completionTokens = newValue }
    }
    public var cachedTokens: Int {
        get { box.fields.cachedTokens }
        set { fields.cachedTokens = newValue }
    }
    /// Whether the token counts were estimated (no usage from upstream, or cut short).
    public var tokensEstimated: Bool {
        get { box.fields.tokensEstimated }
        set { fields.tokensEstimated = newValue }
    }
    public var costMicros: Int64 {
        get { box.fields.costMicros }
        set { fields.costMicros = newValue }
    }
    public var errorMessage: String? {
        get { box.fields.errorMessage }
        set { fields.errorMessage = newValue }
    }
    public var upstreamRequestID: String? {
        get { box.fields.upstreamRequestID }
        set { fields.upstreamRequestID = newValue }
    }
    /// Request/response bodies, only for keys with `log_bodies`.
    public var requestBody: String? {
        get { box.fields.requestBody }
        set { fields.requestBody = newValue }
    }
    public var responseBody: String? {
        get { box.fields.responseBody }
        set { fields.responseBody = newValue }
    }
    /// Every attempt made: which target, and how it ended.
    public var attemptDetails: [AttemptRecord] {
        get { box.fields.attemptDetails }
        set { fields.attemptDetails = newValue }
    }

    public init(
        id: String = RequestID.generate(), requestID: String, timestampMillis: Int64, keyID: String, keyName: String, apiStyle: String, model: String,
        provider: String? = nil, upstreamModel: String? = nil, stream: Bool, status: Int, attempts: Int,
        latencyMillis: Int64, timeToFirstTokenMillis: Int64? = nil, promptTokens: Int = 0, completionTokens: Int = 0,
        cachedTokens: Int = 0, tokensEstimated: Bool = false, costMicros: Int64 = 0, errorMessage: String? = nil,
        upstreamRequestID: String? = nil, requestBody: String? = nil, responseBody: String? = nil,
        attemptDetails: [AttemptRecord] = []
    ) {
        box = Box(
            Fields(
                id: id, requestID: requestID, timestampMillis: timestampMillis, keyID: keyID, keyName: keyName,
                apiStyle: apiStyle, model: model, provider: provider, upstreamModel: upstreamModel, stream: stream,
                status: status, attempts: attempts, latencyMillis: latencyMillis,
                timeToFirstTokenMillis: timeToFirstTokenMillis, promptTokens: promptTokens,
                completionTokens: completionTokens, cachedTokens: cachedTokens, tokensEstimated: tokensEstimated,
                costMicros: costMicros, errorMessage: errorMessage, upstreamRequestID: upstreamRequestID,
                requestBody: requestBody, responseBody: responseBody, attemptDetails: attemptDetails))
    }

    public init(from decoder: any Decoder) throws {
        box = Box(try Fields(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try box.fields.encode(to: encoder)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.box === rhs.box || lhs.box.fields == rhs.box.fields
    }

    public func hash(into hasher: inout Hasher) {
        box.fields.hash(into: &hasher)
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
    /// `consuming`: a queue keeps the caller's row instead of copying it (a copy
    /// retains each of its dozen strings).
    func record(_ entry: consuming RequestLogEntry) async
}

/// A filter for reading request logs back, newest first.
public struct RequestLogQuery: Sendable, Hashable {
    public var model: String?
    public var provider: String?
    public var keyID: String?
    public var status: Int?
    /// The request id the response carried (`x-request-id`).
    public var requestID: String?
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
