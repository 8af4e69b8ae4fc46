import OrchestratorCore

/// The `provider_stats` rollup rows: their columns, the accumulating upsert the log
/// writer runs with every batch, the grouped read, and the backfill from
/// `request_logs` — every statement built from constant column names, values always
/// bound as parameters.
enum StatsRows {
    static let key = ["hour", "provider", "model", "key_id"]
    static let errorClassColumns = ErrorClass.allCases.map { "errors_\($0.rawValue)" }
    static let latencyBucketColumns = (0..<LatencyHistogram.bucketCount).map { "lat_b" + twoDigits($0) }
    static let ttftBucketColumns = (0..<LatencyHistogram.bucketCount).map { "ttft_b" + twoDigits($0) }

    /// Counter columns, summed when rows meet.
    static let sumColumns =
        ["requests", "errors"] + errorClassColumns
        + [
            "prompt_tokens", "completion_tokens", "cached_tokens", "cost_micros", "latency_ms_sum", "ttft_count",
            "ttft_ms_sum",
        ] + latencyBucketColumns + ttftBucketColumns
    /// Maximum columns, kept at the larger value when rows meet.
    static let maxColumns = ["latency_ms_max", "ttft_ms_max"]
    /// Every value column, in the order ``values(_:)`` and ``aggregate(_:from:)`` use.
    static let valueColumns = sumColumns + maxColumns

    static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// The table (migration 4).
    static let table = TableDefinition(
        name: "provider_stats",
        columns: [column("hour", .bigint), column("provider", .name), column("model", .name), column("key_id", .name)]
            + valueColumns.map { column($0, .bigint, default: "0") },
        primaryKey: key)

    /// The row key of a log entry: its hour, provider (`""` when none was reached),
    /// model and client key, cut to the columns' size like the log row itself.
    struct RowKey: Hashable, Comparable {
        var hour: Int64
        var provider: String
        var model: String
        var keyID: String

        init(_ entry: RequestLogEntry) {
            hour = entry.timestampMillis.hourFloor
            provider = LogRows.fit(entry.provider ?? "", LogRows.name)
            model = LogRows.fit(entry.model, LogRows.name)
            keyID = LogRows.fit(entry.keyID, LogRows.name)
        }

        static func < (a: RowKey, b: RowKey) -> Bool {
            (a.hour, a.provider, a.model, a.keyID) < (b.hour, b.provider, b.model, b.keyID)
        }
    }

    /// A batch of log entries summed per row key, in key order (so concurrent writers
    /// on MySQL lock rows in the same order and never deadlock each other).
    static func rollup(_ entries: [RequestLogEntry]) -> [(RowKey, StatsAggregate)] {
        var rows: [RowKey: StatsAggregate] = [:]
        // A batch's rows mostly come in runs of one key (one model, one client key, one
        // hour): a run is summed apart and meets the dictionary once, when the key
        // changes, instead of hashing three strings for every row.
        var runKey: RowKey?
        var run = StatsAggregate()
        func endRun() {
            guard let runKey else { return }
            if rows[runKey]?.add(run) == nil { rows[runKey] = run }
        }
        for entry in entries {
            let key = RowKey(entry)
            if key != runKey {
                endRun()
                runKey = key
                run = StatsAggregate()
            }
            run.record(entry)
        }
        endRun()
        return rows.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Per client key: tokens and cost of a batch, and its latest request (key order).
    static func keyUsage(_ entries: [RequestLogEntry]) -> [(keyID: String, tokens: Int64, micros: Int64, lastUsed: Int64)] {
        var usage: [String: (tokens: Int64, micros: Int64, lastUsed: Int64)] = [:]
        // Summed in runs of one key, as ``rollup(_:)`` does.
        var runKey: String?
        var run: (tokens: Int64, micros: Int64, lastUsed: Int64) = (0, 0, .min)
        func endRun() {
            guard let runKey else { return }
            let row = usage[runKey] ?? (0, 0, .min)
            usage[runKey] = (row.tokens + run.tokens, row.micros + run.micros, max(row.lastUsed, run.lastUsed))
        }
        for entry in entries where !entry.keyID.isEmpty {
            if entry.keyID != runKey {
                endRun()
                runKey = entry.keyID
                run = (0, 0, .min)
            }
            run.tokens += Int64(max(0, entry.promptTokens) + max(0, entry.completionTokens))
            run.micros += max(0, entry.costMicros)
            run.lastUsed = max(run.lastUsed, entry.timestampMillis)
        }
        endRun()
        return usage.sorted { $0.key < $1.key }.map { ($0.key, $0.value.tokens, $0.value.micros, $0.value.lastUsed) }
    }

    static func values(_ a: StatsAggregate) -> [Int64] {
        [a.requests, a.errors] + a.errorsByClass
            + [a.promptTokens, a.completionTokens, a.cachedTokens, a.costMicros, a.latencySumMillis, a.ttftCount, a.ttftSumMillis]
            + a.latencyBuckets + a.ttftBuckets + [a.latencyMaxMillis, a.ttftMaxMillis]
    }

    /// Reads an aggregate from `row`, whose columns from `start` on are ``valueColumns``.
    static func aggregate(_ row: [SQLValue], from start: Int) -> StatsAggregate {
        var values = row[start...].map { $0.int ?? 0 }.makeIterator()
        func next() -> Int64 { values.next() ?? 0 }
        func next(_ count: Int) -> [Int64] { (0..<count).map { _ in next() } }
        var a = StatsAggregate()
        a.requests = next()
        a.errors = next()
        a.errorsByClass = next(ErrorClass.allCases.count)
        a.promptTokens = next()
        a.completionTokens = next()
        a.cachedTokens = next()
        a.costMicros = next()
        a.latencySumMillis = next()
        a.ttftCount = next()
        a.ttftSumMillis = next()
        a.latencyBuckets = next(LatencyHistogram.bucketCount)
        a.ttftBuckets = next(LatencyHistogram.bucketCount)
        a.latencyMaxMillis = next()
        a.ttftMaxMillis = next()
        return a
    }

    /// `INSERT … VALUES` that adds to the row when it exists.
    static func upsert(_ dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite: sqliteUpsert
        case .mysql: mysqlUpsert
        }
    }

    // Built once: the statement joins some forty column names, which cost about a
    // hundred allocations for every batch the log writer wrote.
    private static let sqliteUpsert = makeUpsert(.sqlite)
    private static let mysqlUpsert = makeUpsert(.mysql)

    private static func makeUpsert(_ dialect: SQLDialect) -> String {
        let columns = key + valueColumns
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let insert = "INSERT INTO provider_stats (\(columns.joined(separator: ", "))) VALUES (\(placeholders))"
        switch dialect {
        case .sqlite:
            let set =
                sumColumns.map { "\($0) = \($0) + excluded.\($0)" } + maxColumns.map { "\($0) = max(\($0), excluded.\($0))" }
            return insert + " ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET " + set.joined(separator: ", ")
        case .mysql:
            let set =
                sumColumns.map { "\($0) = \($0) + VALUES(\($0))" } + maxColumns.map { "\($0) = GREATEST(\($0), VALUES(\($0)))" }
            return insert + " ON DUPLICATE KEY UPDATE " + set.joined(separator: ", ")
        }
    }

    static func parameters(_ key: RowKey, _ aggregate: StatsAggregate) -> [SQLValue] {
        [.int(key.hour), .text(key.provider), .text(key.model), .text(key.keyID)] + values(aggregate).map { .int($0) }
    }

    /// The grouped read: the grouped dimensions first (hour, provider, model, key_id, in
    /// that order, only those asked for), then ``valueColumns``.
    static func select(_ query: StatsQuery) -> (sql: String, parameters: [SQLValue], groups: [StatsDimension]) {
        let groups = StatsDimension.allCases.filter { query.groupBy.contains($0) }
        let groupColumns = groups.map(columnName)
        let aggregates = sumColumns.map { "COALESCE(SUM(\($0)), 0)" } + maxColumns.map { "COALESCE(MAX(\($0)), 0)" }
        var conditions = ["hour >= ?", "hour < ?"]
        var parameters: [SQLValue] = [.int(query.sinceHourMillis), .int(query.untilHourMillis)]
        for (dimension, value) in [(StatsDimension.provider, query.provider), (.model, query.model), (.key, query.keyID)] {
            if let value {
                conditions.append("\(columnName(dimension)) = ?")
                parameters.append(.text(value))
            }
        }
        var sql = "SELECT \((groupColumns + aggregates).joined(separator: ", ")) FROM provider_stats"
        sql += " WHERE " + conditions.joined(separator: " AND ")
        if !groupColumns.isEmpty {
            sql += " GROUP BY \(groupColumns.joined(separator: ", ")) ORDER BY \(groupColumns.joined(separator: ", "))"
        }
        return (sql, parameters, groups)
    }

    static func group(_ row: [SQLValue], groups: [StatsDimension]) -> StatsGroup? {
        var group = StatsGroup(aggregate: aggregate(row, from: groups.count))
        // A read without grouping over no rows still answers one row, of zeros.
        if groups.isEmpty && group.aggregate.requests == 0 { return nil }
        for (index, dimension) in groups.enumerated() {
            switch dimension {
            case .hour: group.hourMillis = row[index].int ?? 0
            case .provider: group.provider = row[index].text ?? ""
            case .model: group.model = row[index].text ?? ""
            case .key: group.keyID = row[index].text ?? ""
            }
        }
        return group
    }

    static func columnName(_ dimension: StatsDimension) -> String {
        dimension == .key ? "key_id" : dimension.rawValue
    }

    /// Rebuilds the rollups of the request logs already stored (run once, by migration
    /// 4): the same buckets and classes as ``StatsAggregate/record(_:)``.
    static func backfill(_ dialect: SQLDialect) -> String {
        let hour = dialect == .sqlite ? "(ts / 3600000) * 3600000" : "(ts DIV 3600000) * 3600000"
        func count(_ condition: String) -> String { "SUM(CASE WHEN \(condition) THEN 1 ELSE 0 END)" }
        func classCondition(_ errorClass: ErrorClass) -> String {
            switch errorClass {
            case .rateLimited: return "status = 429"
            case .cancelled: return "status = 499"
            case .timeout: return "status IN (408, 504)"
            case .client: return "status >= 400 AND status < 500 AND status NOT IN (408, 429, 499)"
            case .upstream: return "status >= 500 AND status <> 504"
            }
        }
        func buckets(_ column: String) -> [String] {
            let bounds = LatencyHistogram.upperBoundsMillis
            return (0..<LatencyHistogram.bucketCount).map { index in
                var parts: [String] = []
                if index > 0 { parts.append("\(column) > \(bounds[index - 1])") }
                if index < bounds.count { parts.append("\(column) <= \(bounds[index])") }
                // Negative times (a clock step) count in the first bucket, as the writer does.
                if index == 0 { return count("\(column) IS NOT NULL AND \(column) <= \(bounds[0])") }
                return count(parts.joined(separator: " AND "))
            }
        }
        let selected =
            [
                hour, "COALESCE(provider, '')", "model", "key_id", "COUNT(*)", count("status >= 400"),
            ] + ErrorClass.allCases.map { count(classCondition($0)) }
            + [
                "SUM(prompt_tokens)", "SUM(completion_tokens)", "SUM(cached_tokens)", "SUM(cost_micros)",
                "SUM(CASE WHEN latency_ms > 0 THEN latency_ms ELSE 0 END)", count("ttft_ms IS NOT NULL"),
                "COALESCE(SUM(CASE WHEN ttft_ms > 0 THEN ttft_ms ELSE 0 END), 0)",
            ] + buckets("latency_ms") + buckets("ttft_ms")
            + ["MAX(CASE WHEN latency_ms > 0 THEN latency_ms ELSE 0 END)", "COALESCE(MAX(CASE WHEN ttft_ms > 0 THEN ttft_ms ELSE 0 END), 0)"]
        return "INSERT INTO provider_stats (\((key + valueColumns).joined(separator: ", "))) SELECT "
            + selected.joined(separator: ", ") + " FROM request_logs GROUP BY 1, 2, 3, 4"
    }
}
