import Foundation
import Hummingbird
import HummingbirdCore
import OrchestratorCore

/// `GET /admin/stats` and `GET /admin/stats/timeline`, read from the hourly rollups
/// (the current hour is live: the log writer updates its rows with every batch).
///
/// Windows and buckets are whole hours (`Nh`) or days (`Nd`). A window ends with the
/// current hour, so `window=1h` is the hour so far and `window=24h` adds the 23 before
/// it; timeline buckets are aligned to UTC multiples of their size, and the window is
/// rounded up to whole buckets. `since` and `until` in the answer say exactly which
/// hours were counted.
struct StatsRoutes {
    let stats: any StatsStore
    let configStore: any ConfigStore
    let clock: any GatewayClock
    let authorize: @Sendable (Request) throws(GatewayError) -> Void

    static let hour: Int64 = 3_600_000
    static let maxWindowHours: Int64 = 400 * 24
    static let maxBuckets: Int64 = 1000

    func register(on router: Router<GatewayRequestContext>) {
        let stats = self.stats
        let configStore = self.configStore
        let clock = self.clock
        let authorize = self.authorize
        router.get("/admin/stats") { request, _ in
            try authorize(request)
            let parameters = StatsParameters(request.uri.queryParameters)
            let window = try parameters.hours("window", default: 24)
            let groupBy = try parameters.dimension()
            let until = clock.epochMillis.hourFloor + Self.hour
            var query = parameters.filtered(StatsQuery(sinceHourMillis: until - window * Self.hour, untilHourMillis: until))
            query.groupBy = [groupBy]
            let groups = try await AdminRoutes.loading { try await stats.stats(query) }
            let keyNames = groupBy == .key ? try await Self.keyNames(configStore) : [:]
            var totals = StatsAggregate()
            let data = groups.map { group -> JSONValue in
                totals.add(group.aggregate)
                var members: [String: JSONValue] = [:]
                switch groupBy {
                case .provider: members["provider"] = .string(group.provider ?? "")
                case .model: members["model"] = .string(group.model ?? "")
                case .key:
                    let id = group.keyID ?? ""
                    members["key"] = .string(id)
                    members["key_name"] = keyNames[id].map { .string($0) } ?? .null
                case .hour: break
                }
                return Self.document(group.aggregate, adding: members)
            }
            return try jsonResponse(
                JSONValue.object([
                    "window": .string(parameters.text("window") ?? "24h"), "group_by": .string(groupBy.rawValue),
                    "since": LogDocuments.time(query.sinceHourMillis), "until": LogDocuments.time(query.untilHourMillis),
                    "data": .array(data), "totals": Self.document(totals),
                ]))
        }
        router.get("/admin/stats/timeline") { request, _ in
            try authorize(request)
            let parameters = StatsParameters(request.uri.queryParameters)
            let window = try parameters.hours("window", default: 24)
            let bucket = try parameters.hours("bucket", default: 1)
            let count = (window + bucket - 1) / bucket
            guard count <= Self.maxBuckets else {
                throw GatewayError.invalidRequest(
                    "The window holds \(count) buckets; at most \(Self.maxBuckets) are allowed.", param: "bucket")
            }
            let bucketMillis = bucket * Self.hour
            let currentHour = clock.epochMillis.hourFloor
            let until = (currentHour / bucketMillis) * bucketMillis + bucketMillis
            let since = until - count * bucketMillis
            var query = parameters.filtered(StatsQuery(sinceHourMillis: since, untilHourMillis: until))
            query.groupBy = [.hour]
            let hours = try await AdminRoutes.loading { try await stats.stats(query) }
            var buckets = Array(repeating: StatsAggregate(), count: Int(count))
            for group in hours {
                let index = Int(((group.hourMillis ?? since) - since) / bucketMillis)
                if buckets.indices.contains(index) { buckets[index].add(group.aggregate) }
            }
            let data = buckets.enumerated().map { index, aggregate -> JSONValue in
                let start = since + Int64(index) * bucketMillis
                return Self.document(aggregate, adding: ["start": LogDocuments.time(start), "start_ms": .int(start)])
            }
            return try jsonResponse(
                JSONValue.object([
                    "window": .string(parameters.text("window") ?? "24h"), "bucket": .string(parameters.text("bucket") ?? "1h"),
                    "since": LogDocuments.time(since), "until": LogDocuments.time(until), "data": .array(data),
                ]))
        }
    }

    /// Key names by id, for `group_by=key` (a deleted key's name is gone: null).
    static func keyNames(_ store: any ConfigStore) async throws -> [String: String] {
        let configuration = try await AdminRoutes.loading { try await store.loadConfiguration() }
        return Dictionary(configuration.keys.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }

    /// One statistics row as the admin API shows it.
    static func document(_ a: StatsAggregate, adding members: [String: JSONValue] = [:]) -> JSONValue {
        func number(_ value: Double?) -> JSONValue {
            value.map { .double(($0 * 10).rounded() / 10) } ?? .null
        }
        func average(_ sum: Int64, _ count: Int64) -> Double? { count > 0 ? Double(sum) / Double(count) : nil }
        var document: [String: JSONValue] = [
            "requests": .int(a.requests), "errors": .int(a.errors),
            "errors_by_class": .object(
                Dictionary(uniqueKeysWithValues: ErrorClass.allCases.map { ($0.rawValue, JSONValue.int(a.errors($0))) })),
            "success_rate": a.requests > 0
                ? .double((Double(a.requests - a.errors) / Double(a.requests) * 10_000).rounded() / 10_000) : .null,
            "tokens": .object([
                "prompt": .int(a.promptTokens), "completion": .int(a.completionTokens), "cached": .int(a.cachedTokens),
                "total": .int(a.promptTokens + a.completionTokens),
            ]),
            "cost_micros": .int(a.costMicros), "cost_usd": .double(Double(a.costMicros) / 1_000_000),
            "latency_ms": .object([
                "avg": number(average(a.latencySumMillis, a.requests)), "p50": number(a.latency(quantile: 0.5)),
                "p95": number(a.latency(quantile: 0.95)), "p99": number(a.latency(quantile: 0.99)),
            ]),
            "ttft_ms": .object([
                "count": .int(a.ttftCount), "avg": number(average(a.ttftSumMillis, a.ttftCount)),
                "p50": number(a.timeToFirstToken(quantile: 0.5)), "p95": number(a.timeToFirstToken(quantile: 0.95)),
                "p99": number(a.timeToFirstToken(quantile: 0.99)),
            ]),
        ]
        document.merge(members) { _, new in new }
        return .object(document)
    }
}

/// The query parameters of the statistics routes, validated.
struct StatsParameters {
    let parameters: FlatDictionary<Substring, Substring>

    init(_ parameters: FlatDictionary<Substring, Substring>) {
        self.parameters = parameters
    }

    func text(_ name: String) -> String? {
        parameters.get(name).map { String($0) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A duration of whole hours written `Nh` or `Nd` (1h … 400d).
    func hours(_ name: String, default value: Int64) throws(GatewayError) -> Int64 {
        guard let text = text(name) else { return value }
        let invalid = GatewayError.invalidRequest(
            "\(name) must be a whole number of hours or days, like 1h, 24h or 7d (at most 400d).", param: name)
        guard let unit = text.last, unit == "h" || unit == "d", text.count <= 8,
            let count = Int64(text.dropLast()), count > 0
        else { throw invalid }
        let hours = unit == "d" ? count * 24 : count
        guard hours <= StatsRoutes.maxWindowHours else { throw invalid }
        return hours
    }

    func dimension() throws(GatewayError) -> StatsDimension {
        guard let text = text("group_by") else { return .provider }
        guard let dimension = StatsDimension(rawValue: text), dimension != .hour else {
            throw .invalidRequest("group_by must be provider, model or key.", param: "group_by")
        }
        return dimension
    }

    /// `query` with the `provider`, `model` and `key` filters given.
    func filtered(_ query: StatsQuery) -> StatsQuery {
        var query = query
        query.provider = text("provider")
        query.model = text("model")
        query.keyID = text("key")
        return query
    }
}
