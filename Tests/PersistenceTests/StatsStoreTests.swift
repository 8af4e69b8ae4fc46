import Foundation
import OrchestratorCore
import Testing

@testable import Persistence

/// The hourly rollups: written with the logs, read grouped and filtered, and rebuilt
/// from stored logs by migration 4 — on SQLite and on MySQL, with the same results.
struct StatsStoreTests {
    static let hour: Int64 = 3_600_000
    static let base: Int64 = Int64(1_790_000_000_000).hourFloor

    /// A varied set of requests over three hours, two providers, two models, two keys.
    static func traffic() -> [RequestLogEntry] {
        let statuses = [200, 200, 200, 429, 502, 504, 400, 499, 200, 500]
        let latencies: [Int64] = [3, 12, 48, 75, 99, 101, 640, 1_000, 2_600, 150_000]
        return (0..<60).map { i in
            RequestLogEntry(
                requestID: "r\(i)", timestampMillis: base + Int64(i % 3) * hour + Int64(i) * 1_000,
                keyID: i % 4 == 0 ? "key-b" : "key-a", keyName: "k", apiStyle: "openai", model: i % 2 == 0 ? "chat" : "embed",
                provider: i % 7 == 0 ? nil : (i % 3 == 1 ? "beta" : "alpha"), stream: i % 2 == 0, status: statuses[i % 10],
                attempts: 1, latencyMillis: latencies[(i * 7) % 10], timeToFirstTokenMillis: i % 2 == 0 ? Int64(20 + i * 9) : nil,
                promptTokens: 10 + i, completionTokens: i % 5, cachedTokens: i % 3 == 0 ? 4 : 0, costMicros: Int64(100 * i))
        }
    }

    /// What the rollups must hold: the same entries summed in memory.
    static func expected(_ entries: [RequestLogEntry], by key: (RequestLogEntry) -> String) -> [String: StatsAggregate] {
        var result: [String: StatsAggregate] = [:]
        for entry in entries { result[key(entry), default: StatsAggregate()].record(entry) }
        return result
    }

    static func everything() -> StatsQuery {
        StatsQuery(sinceHourMillis: base - hour, untilHourMillis: base + 10 * hour)
    }

    @Test(arguments: TestBackend.all) func rollupsFollowTheLogsInEveryGrouping(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        let entries = Self.traffic()
        // Two batches, so rows that already exist are added to, not replaced.
        try await store.insertLogs(Array(entries.prefix(25)))
        try await store.insertLogs(Array(entries.dropFirst(25)))

        var query = Self.everything()
        let total = try await store.stats(query)
        #expect(total.count == 1)
        #expect(total.first?.aggregate == Self.expected(entries) { _ in "" }[""])
        #expect(total.first?.aggregate.requests == 60)

        query.groupBy = [.provider]
        let byProvider = try await store.stats(query)
        #expect(byProvider.map { $0.provider ?? "?" } == ["", "alpha", "beta"])
        let expectedByProvider = Self.expected(entries) { $0.provider ?? "" }
        for group in byProvider { #expect(group.aggregate == expectedByProvider[group.provider ?? "?"]) }

        query.groupBy = [.key]
        let byKey = try await store.stats(query)
        let expectedByKey = Self.expected(entries) { $0.keyID }
        #expect(byKey.count == 2)
        for group in byKey { #expect(group.aggregate == expectedByKey[group.keyID ?? "?"]) }

        query.groupBy = [.hour, .model]
        let byHourAndModel = try await store.stats(query)
        #expect(byHourAndModel.count == 6)
        let expectedByHourAndModel = Self.expected(entries) { "\($0.timestampMillis.hourFloor)/\($0.model)" }
        for group in byHourAndModel {
            #expect(group.provider == nil && group.keyID == nil)
            #expect(group.aggregate == expectedByHourAndModel["\(group.hourMillis ?? -1)/\(group.model ?? "?")"])
        }
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func windowsAndFiltersSelectRows(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        let entries = Self.traffic()
        try await store.insertLogs(entries)

        // Only the second hour.
        let second = try await store.stats(StatsQuery(sinceHourMillis: Self.base + Self.hour, untilHourMillis: Self.base + 2 * Self.hour))
        #expect(second.first?.aggregate == Self.expected(entries.filter { $0.timestampMillis.hourFloor == Self.base + Self.hour }) { _ in "" }[""])

        var filtered = Self.everything()
        filtered.provider = "beta"
        filtered.model = "chat"
        filtered.keyID = "key-a"
        let matching = entries.filter { $0.provider == "beta" && $0.model == "chat" && $0.keyID == "key-a" }
        #expect(!matching.isEmpty)
        #expect(try await store.stats(filtered).first?.aggregate == Self.expected(matching) { _ in "" }[""])

        // Nothing in the window: no groups at all, not a row of zeros.
        #expect(try await store.stats(StatsQuery(sinceHourMillis: Self.base + 50 * Self.hour, untilHourMillis: Self.base + 60 * Self.hour)).isEmpty)
        var grouped = Self.everything()
        grouped.provider = "nobody"
        grouped.groupBy = [.provider]
        #expect(try await store.stats(grouped).isEmpty)
        await database.drop()
    }

    /// The log writer's batches also move each stored key's lifetime usage and last use.
    @Test(arguments: TestBackend.all) func keysUsageFollowsTheLogs(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        let keyID = try #require(try await store.syncFromFile(sampleSettings()).keys.first?.id)
        func entry(_ ts: Int64, _ prompt: Int, _ completion: Int, _ cost: Int64, key: String = keyID) -> RequestLogEntry {
            RequestLogEntry(
                requestID: "r", timestampMillis: ts, keyID: key, keyName: "k", apiStyle: "openai", model: "m", stream: false,
                status: 200, attempts: 1, latencyMillis: 5, promptTokens: prompt, completionTokens: completion, costMicros: cost)
        }
        try await store.insertLogs([entry(5_000, 10, 5, 100), entry(9_000, 1, 1, 7), entry(1, 1, 1, 1, key: "not-stored")])
        try await store.insertLogs([entry(7_000, 2, 2, 3)])  // older than the last use: it stays
        let key = try #require(try await store.loadConfiguration().keys.first { $0.id == keyID })
        #expect(key.usedTokens == 21 && key.usedMicros == 110 && key.lastUsedAtMillis == 9_000)
        await database.drop()
    }

    /// A batch is summed in runs of one key: whatever the order (a new key every row, one
    /// run per key, runs that come back after another key), the sums are those of adding
    /// the rows one by one, per rollup row and per client key.
    @Test func batchesSumTheSameInAnyOrder() {
        let entries = Self.traffic()
        let byKey = entries.sorted { StatsRows.RowKey($0) < StatsRows.RowKey($1) }
        let orders = [
            entries, byKey, byKey + byKey.reversed(), entries.filter { $0.keyID == "key-a" } + entries,
            Array(byKey.prefix(1)), [],
        ]
        for order in orders {
            var expected: [StatsRows.RowKey: StatsAggregate] = [:]
            var expectedUsage: [String: [Int64]] = [:]
            for entry in order {
                expected[StatsRows.RowKey(entry), default: StatsAggregate()].record(entry)
                let row = expectedUsage[entry.keyID] ?? [0, 0, .min]
                expectedUsage[entry.keyID] = [
                    row[0] + Int64(entry.promptTokens + entry.completionTokens), row[1] + entry.costMicros,
                    max(row[2], entry.timestampMillis),
                ]
            }
            let rollup = StatsRows.rollup(order)
            #expect(rollup.map { $0.0 } == expected.keys.sorted())
            for (key, aggregate) in rollup { #expect(aggregate == expected[key], "\(key)") }
            let usage = StatsRows.keyUsage(order)
            #expect(usage.map { $0.keyID } == expectedUsage.keys.sorted())
            for row in usage { #expect([row.tokens, row.micros, row.lastUsed] == expectedUsage[row.keyID]) }
        }
    }

    /// Migration 4 rebuilds the rollups of logs written before it with SQL; that SQL
    /// must bucket and class exactly as the writer's Swift does.
    @Test(arguments: TestBackend.all) func backfillMatchesTheWriter(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        var entries = Self.traffic()
        // Values on every bucket bound, and either side of it.
        for (i, bound) in LatencyHistogram.upperBoundsMillis.enumerated() {
            for delta: Int64 in [-1, 0, 1] {
                entries.append(
                    RequestLogEntry(
                        requestID: "b\(i)\(delta)", timestampMillis: Self.base + 5 * Self.hour + Int64(i), keyID: "key-c",
                        keyName: "c", apiStyle: "anthropic", model: "edge", provider: "gamma", stream: true, status: 200,
                        attempts: 1, latencyMillis: bound + delta, timeToFirstTokenMillis: bound + delta))
            }
        }
        try await store.insertLogs(entries)
        var query = Self.everything()
        query.groupBy = [.hour, .provider, .model, .key]
        let written = try await store.stats(query)

        try await store.database.run { db in
            try db.query("DELETE FROM provider_stats")
            try db.execute(StatsRows.backfill(db.dialect))
        }
        let rebuilt = try await store.stats(query)
        #expect(rebuilt == written)
        #expect(rebuilt.reduce(0) { $0 + $1.aggregate.requests } == Int64(entries.count))
        await database.drop()
    }
}

/// The histogram and the classes, without a database.
struct StatsAggregateTests {
    @Test func bucketsAreInclusiveUpperBounds() {
        #expect(LatencyHistogram.bucket(0) == 0)
        #expect(LatencyHistogram.bucket(-3) == 0)
        #expect(LatencyHistogram.bucket(5) == 0)
        #expect(LatencyHistogram.bucket(6) == 1)
        #expect(LatencyHistogram.bucket(1_000) == 10)
        #expect(LatencyHistogram.bucket(120_000) == 20)
        #expect(LatencyHistogram.bucket(120_001) == 21)
        #expect(LatencyHistogram.bucketCount == 22)
    }

    @Test func quantilesInterpolateWithinTheirBucket() throws {
        var aggregate = StatsAggregate()
        // 1…1000 ms, one request each: the true p50 is 500, p95 950, p99 990.
        for ms in 1...1000 {
            aggregate.record(
                RequestLogEntry(
                    requestID: "r", timestampMillis: 0, keyID: "k", keyName: "k", apiStyle: "openai", model: "m", stream: false,
                    status: 200, attempts: 1, latencyMillis: Int64(ms)))
        }
        let p50 = try #require(aggregate.latency(quantile: 0.5))
        let p95 = try #require(aggregate.latency(quantile: 0.95))
        let p99 = try #require(aggregate.latency(quantile: 0.99))
        #expect(abs(p50 - 500) <= 25)
        #expect(abs(p95 - 950) <= 25)
        #expect(abs(p99 - 990) <= 15)
        #expect(aggregate.timeToFirstToken(quantile: 0.5) == nil)
        #expect(StatsAggregate().latency(quantile: 0.5) == nil)
    }

    @Test func theOverflowBucketStopsAtTheMaximum() throws {
        var aggregate = StatsAggregate()
        for ms: Int64 in [200_000, 300_000] {
            aggregate.record(
                RequestLogEntry(
                    requestID: "r", timestampMillis: 0, keyID: "k", keyName: "k", apiStyle: "openai", model: "m", stream: true,
                    status: 200, attempts: 1, latencyMillis: ms, timeToFirstTokenMillis: 7))
        }
        let p99 = try #require(aggregate.latency(quantile: 0.99))
        #expect(p99 > 120_000 && p99 <= 300_000)
        #expect(aggregate.latency(quantile: 1) == 300_000)
        // One value: every quantile is at most that value.
        #expect(try #require(aggregate.timeToFirstToken(quantile: 0.99)) <= 7)
    }

    @Test func statusesFallInOneClass() {
        #expect(ErrorClass(status: 200) == nil)
        #expect(ErrorClass(status: 304) == nil)
        #expect(ErrorClass(status: 400) == .client)
        #expect(ErrorClass(status: 401) == .client)
        #expect(ErrorClass(status: 429) == .rateLimited)
        #expect(ErrorClass(status: 499) == .cancelled)
        #expect(ErrorClass(status: 408) == .timeout)
        #expect(ErrorClass(status: 504) == .timeout)
        #expect(ErrorClass(status: 500) == .upstream)
        #expect(ErrorClass(status: 502) == .upstream)
        #expect(ErrorClass(status: 503) == .upstream)
    }

    @Test func hoursFloorToUTC() {
        #expect(Int64(7_199_999).hourFloor == 3_600_000)
        #expect(Int64(7_200_000).hourFloor == 7_200_000)
        #expect(Int64(0).hourFloor == 0)
        #expect(Int64(-1).hourFloor == -3_600_000)
    }
}
