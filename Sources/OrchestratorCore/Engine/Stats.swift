/// Request statistics: hourly rollups of the request logs, kept per (hour, provider,
/// model, client key) with latency and time-to-first-token histograms, so percentiles
/// over any window come from a few rows instead of every log.

/// The fixed latency histogram: upper bounds in milliseconds (a value falls in the first
/// bucket whose bound is at least the value), plus one overflow bucket. The bounds are
/// part of the stored schema: they never change.
public enum LatencyHistogram {
    public static let upperBoundsMillis: [Int64] = [
        5, 10, 25, 50, 75, 100, 150, 250, 400, 600, 1_000, 1_500, 2_500, 4_000, 6_000, 10_000, 15_000, 25_000, 40_000,
        60_000, 120_000,
    ]
    /// Buckets, the overflow one included.
    public static var bucketCount: Int { upperBoundsMillis.count + 1 }

    /// The bucket `millis` falls in.
    public static func bucket(_ millis: Int64) -> Int {
        var low = 0
        var high = upperBoundsMillis.count
        while low < high {
            let mid = (low + high) / 2
            if upperBoundsMillis[mid] >= millis { high = mid } else { low = mid + 1 }
        }
        return low
    }

    /// The `quantile` (0…1) of the values counted in `buckets`, interpolated linearly
    /// inside the bucket it falls in and never above `max` (the largest value seen).
    /// Nil when nothing was counted.
    public static func quantile(_ quantile: Double, buckets: [Int64], max: Int64) -> Double? {
        let total = buckets.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = Swift.max(1, (quantile * Double(total)).rounded(.up))
        var seen: Int64 = 0
        for (index, count) in buckets.enumerated() where count > 0 {
            if Double(seen + count) >= rank {
                let lower = index == 0 ? 0 : Double(upperBoundsMillis[index - 1])
                let upper = index < upperBoundsMillis.count ? Double(upperBoundsMillis[index]) : Double(Swift.max(max, 0))
                let fraction = (rank - Double(seen)) / Double(count)
                let value = lower + (Swift.max(upper, lower) - lower) * fraction
                return Swift.min(value, Double(max))
            }
            seen += count
        }
        return Double(max)
    }
}

/// How a failed request is classed in the statistics.
public enum ErrorClass: String, Sendable, CaseIterable {
    /// 4xx the client caused (bad request, auth, unknown model…), 429 and 499 excepted.
    case client
    /// 429: the gateway's or every upstream's rate limit.
    case rateLimited = "rate_limited"
    /// 5xx other than timeouts: upstream failures, nothing healthy, internal errors.
    case upstream
    /// 504 and 408: a deadline passed.
    case timeout
    /// 499: the client went away first.
    case cancelled

    /// The class of `status`, nil for a success.
    public init?(status: Int) {
        switch status {
        case ..<400: return nil
        case 429: self = .rateLimited
        case 499: self = .cancelled
        case 408, 504: self = .timeout
        case 400..<500: self = .client
        default: self = .upstream
        }
    }
}

/// Counters summed over any set of requests (one rollup row, or many added up).
public struct StatsAggregate: Sendable, Hashable {
    public var requests: Int64 = 0
    public var errors: Int64 = 0
    /// Failed requests by ``ErrorClass``, in `ErrorClass.allCases` order.
    public var errorsByClass: [Int64] = Array(repeating: 0, count: ErrorClass.allCases.count)
    public var promptTokens: Int64 = 0
    public var completionTokens: Int64 = 0
    public var cachedTokens: Int64 = 0
    public var costMicros: Int64 = 0
    public var latencySumMillis: Int64 = 0
    public var latencyMaxMillis: Int64 = 0
    public var latencyBuckets: [Int64] = Array(repeating: 0, count: LatencyHistogram.bucketCount)
    /// Requests that measured a time to first token (streams that produced output).
    public var ttftCount: Int64 = 0
    public var ttftSumMillis: Int64 = 0
    public var ttftMaxMillis: Int64 = 0
    public var ttftBuckets: [Int64] = Array(repeating: 0, count: LatencyHistogram.bucketCount)

    public init() {}

    /// Counts one request.
    public mutating func record(_ entry: RequestLogEntry) {
        requests += 1
        if let errorClass = ErrorClass(status: entry.status) {
            errors += 1
            errorsByClass[ErrorClass.allCases.firstIndex(of: errorClass)!] += 1
        }
        promptTokens += Int64(entry.promptTokens)
        completionTokens += Int64(entry.completionTokens)
        cachedTokens += Int64(entry.cachedTokens)
        costMicros += entry.costMicros
        let latency = max(0, entry.latencyMillis)
        latencySumMillis += latency
        latencyMaxMillis = max(latencyMaxMillis, latency)
        latencyBuckets[LatencyHistogram.bucket(latency)] += 1
        if let ttft = entry.timeToFirstTokenMillis.map({ max(0, $0) }) {
            ttftCount += 1
            ttftSumMillis += ttft
            ttftMaxMillis = max(ttftMaxMillis, ttft)
            ttftBuckets[LatencyHistogram.bucket(ttft)] += 1
        }
    }

    /// Adds `other`'s counts to these.
    public mutating func add(_ other: StatsAggregate) {
        requests += other.requests
        errors += other.errors
        for index in errorsByClass.indices { errorsByClass[index] += other.errorsByClass[index] }
        promptTokens += other.promptTokens
        completionTokens += other.completionTokens
        cachedTokens += other.cachedTokens
        costMicros += other.costMicros
        latencySumMillis += other.latencySumMillis
        latencyMaxMillis = max(latencyMaxMillis, other.latencyMaxMillis)
        ttftCount += other.ttftCount
        ttftSumMillis += other.ttftSumMillis
        ttftMaxMillis = max(ttftMaxMillis, other.ttftMaxMillis)
        for index in latencyBuckets.indices {
            latencyBuckets[index] += other.latencyBuckets[index]
            ttftBuckets[index] += other.ttftBuckets[index]
        }
    }

    public func errors(_ errorClass: ErrorClass) -> Int64 {
        errorsByClass[ErrorClass.allCases.firstIndex(of: errorClass)!]
    }

    /// The latency `quantile` (0…1) in milliseconds; nil without requests.
    public func latency(quantile: Double) -> Double? {
        LatencyHistogram.quantile(quantile, buckets: latencyBuckets, max: latencyMaxMillis)
    }

    /// The time-to-first-token `quantile` in milliseconds; nil when none was measured.
    public func timeToFirstToken(quantile: Double) -> Double? {
        LatencyHistogram.quantile(quantile, buckets: ttftBuckets, max: ttftMaxMillis)
    }
}

/// What the rollups are grouped by.
public enum StatsDimension: String, Sendable, Hashable, CaseIterable {
    case hour, provider, model, key
}

/// A read of the rollups: the hours `[sinceHourMillis, untilHourMillis)`, optionally
/// filtered, grouped by `groupBy` (nothing: one total).
public struct StatsQuery: Sendable, Hashable {
    public var sinceHourMillis: Int64
    public var untilHourMillis: Int64
    public var groupBy: Set<StatsDimension>
    public var provider: String?
    public var model: String?
    public var keyID: String?

    public init(
        sinceHourMillis: Int64, untilHourMillis: Int64, groupBy: Set<StatsDimension> = [], provider: String? = nil,
        model: String? = nil, keyID: String? = nil
    ) {
        self.sinceHourMillis = sinceHourMillis
        self.untilHourMillis = untilHourMillis
        self.groupBy = groupBy
        self.provider = provider
        self.model = model
        self.keyID = keyID
    }
}

/// One group of a ``StatsQuery``: the dimensions not grouped by are nil. A request that
/// reached no provider is counted under the provider `""`.
public struct StatsGroup: Sendable, Hashable {
    public var hourMillis: Int64?
    public var provider: String?
    public var model: String?
    public var keyID: String?
    public var aggregate: StatsAggregate

    public init(
        hourMillis: Int64? = nil, provider: String? = nil, model: String? = nil, keyID: String? = nil,
        aggregate: StatsAggregate
    ) {
        self.hourMillis = hourMillis
        self.provider = provider
        self.model = model
        self.keyID = keyID
        self.aggregate = aggregate
    }
}

/// Where the hourly rollups are read. They are written with the request logs, in the
/// same transaction, so the current hour is always live.
public protocol StatsStore: Sendable {
    func stats(_ query: StatsQuery) async throws -> [StatsGroup]
}

extension Int64 {
    /// The start of the hour (UTC) this epoch-millisecond time falls in.
    public var hourFloor: Int64 {
        let hour: Int64 = 3_600_000
        return (self / hour) * hour - (self % hour < 0 ? hour : 0)
    }
}
