/// One numbered schema change. Released migrations are never edited; changes come as
/// new numbers.
struct Migration: Sendable {
    var version: Int
    var name: String
    var tables: [TableDefinition]
    /// Rows the migration starts its tables with (portable SQL).
    var seed: [String] = []
    /// Statements run before the tables are created (portable SQL).
    var prelude: [String] = []
    /// Statements run last, written per dialect.
    var finish: @Sendable (SQLDialect) -> [String] = { _ in [] }

    func statements(for dialect: SQLDialect) -> [String] {
        prelude + tables.flatMap { dialect.create($0) } + seed + finish(dialect)
    }
}

/// Every migration, in order.
enum Migrations {
    static let all: [Migration] = [initialSchema, configVersion, auditLog, statsHistograms]

    /// 4: `provider_stats` as the log writer maintains it — errors by class, maximums,
    /// and latency and time-to-first-token histograms for percentiles — rebuilt from the
    /// request logs already stored. Nothing wrote the table of migration 1, so it is
    /// replaced rather than altered.
    static let statsHistograms = Migration(
        version: 4, name: "stats_histograms",
        tables: [StatsRows.table],
        prelude: ["DROP TABLE IF EXISTS provider_stats"],
        finish: { [StatsRows.backfill($0)] })

    /// 3: who changed what through the admin API, with the documents before and after
    /// (which never hold a secret).
    static let auditLog = Migration(
        version: 3, name: "audit_log",
        tables: [
            TableDefinition(
                name: "audit_log",
                columns: [
                    column("id", .id), column("ts", .bigint), column("actor", .name), column("action", .name),
                    column("resource", .name), column("entity", .name), column("before_doc", .longText, null: true),
                    column("after_doc", .longText, null: true),
                ],
                indexes: [.init(name: "ts", columns: ["ts", "id"]), .init(name: "entity", columns: ["resource", "entity", "ts"])])
        ])

    /// 2: one row counting configuration changes. Every write bumps it, and every
    /// instance polls it, so a change made on one instance reaches the others.
    static let configVersion = Migration(
        version: 2, name: "config_version",
        tables: [
            TableDefinition(name: "config_state", columns: [column("id", .int), column("version", .bigint)])
        ],
        seed: ["INSERT INTO config_state (id, version) VALUES (1, 0)"])

    /// 1: the whole schema of DESIGN.md §6. Times are epoch milliseconds; money is
    /// integer micro-dollars (prices: micro-dollars per million tokens).
    static let initialSchema = Migration(
        version: 1, name: "initial_schema",
        tables: [
            TableDefinition(
                name: "providers",
                columns: [
                    column("id", .id), column("name", .name), column("type", .name), column("base_url", .text),
                    column("settings", .text), column("enabled", .bool), column("source", .name),
                    column("created_at", .bigint), column("updated_at", .bigint),
                ],
                uniques: [["name"]]),
            TableDefinition(
                name: "provider_keys",
                columns: [
                    column("id", .id), column("provider_id", .id), column("secret_enc", .text),
                    column("fingerprint", .id), column("last4", .name), column("position", .int), column("enabled", .bool),
                    column("state", .name), column("source", .name), column("last_error", .text, null: true),
                    column("created_at", .bigint), column("updated_at", .bigint),
                ],
                uniques: [["provider_id", "fingerprint"]],
                foreignKeys: [.init(column: "provider_id", table: "providers")]),
            TableDefinition(
                name: "model_configs",
                columns: [
                    column("id", .id), column("name", .name), column("strategy", .name, null: true),
                    column("input_price_micros", .bigint, null: true), column("output_price_micros", .bigint, null: true),
                    column("cached_input_price_micros", .bigint, null: true), column("source", .name),
                    column("created_at", .bigint), column("updated_at", .bigint),
                ],
                uniques: [["name"]]),
            TableDefinition(
                name: "model_providers",
                columns: [
                    column("id", .id), column("model_id", .id), column("provider_id", .id),
                    column("upstream_model", .name), column("weight", .int), column("priority", .int),
                    column("position", .int), column("capabilities", .text, null: true), column("extra_body", .text, null: true),
                    column("max_tokens_default", .int, null: true), column("input_price_micros", .bigint, null: true),
                    column("output_price_micros", .bigint, null: true),
                    column("cached_input_price_micros", .bigint, null: true),
                ],
                indexes: [.init(name: "model", columns: ["model_id", "position"]), .init(name: "provider", columns: ["provider_id"])],
                foreignKeys: [
                    .init(column: "model_id", table: "model_configs"),
                    .init(column: "provider_id", table: "providers", onDelete: "RESTRICT"),
                ]),
            TableDefinition(
                name: "api_keys",
                columns: [
                    column("id", .id), column("name", .name), column("key_hash", .id), column("prefix", .name),
                    column("models", .text), column("rpm", .int), column("tpm", .int), column("max_concurrency", .int),
                    column("budget_micros", .bigint), column("budget_tokens", .bigint), column("budget_period", .name),
                    column("expires_at", .bigint, null: true), column("enabled", .bool), column("log_bodies", .bool),
                    column("metadata", .text), column("source", .name), column("used_tokens", .bigint, default: "0"),
                    column("used_micros", .bigint, default: "0"), column("last_used_at", .bigint, null: true),
                    column("created_at", .bigint), column("updated_at", .bigint),
                ],
                uniques: [["name"], ["key_hash"]]),
            TableDefinition(
                name: "request_logs",
                columns: [
                    column("id", .id), column("request_id", .name), column("ts", .bigint), column("key_id", .name),
                    column("key_name", .name), column("api_style", .name), column("model", .name),
                    column("provider", .name, null: true), column("upstream_model", .name, null: true),
                    column("stream", .bool), column("status", .int), column("attempts", .int),
                    column("latency_ms", .bigint), column("ttft_ms", .bigint, null: true),
                    column("prompt_tokens", .bigint), column("completion_tokens", .bigint),
                    column("cached_tokens", .bigint), column("tokens_estimated", .bool), column("cost_micros", .bigint),
                    column("error", .text, null: true), column("upstream_request_id", .name, null: true),
                    column("request_body", .longText, null: true), column("response_body", .longText, null: true),
                    column("attempts_detail", .text, null: true),
                ],
                indexes: [
                    .init(name: "ts", columns: ["ts", "id"]),
                    .init(name: "model_ts", columns: ["model", "ts"]),
                    .init(name: "provider_ts", columns: ["provider", "ts"]),
                    .init(name: "key_ts", columns: ["key_id", "ts"]),
                    .init(name: "status_ts", columns: ["status", "ts"]),
                    .init(name: "request_id", columns: ["request_id"]),
                ]),
            TableDefinition(
                name: "provider_health",
                columns: [
                    column("provider", .name), column("upstream_model", .name), column("state", .name),
                    column("consecutive_failures", .int), column("last_error", .text, null: true),
                    column("updated_at", .bigint),
                ],
                primaryKey: ["provider", "upstream_model"]),
            TableDefinition(
                name: "provider_stats",
                columns: [
                    column("hour", .bigint), column("provider", .name), column("model", .name), column("key_id", .name),
                    column("requests", .bigint), column("errors", .bigint), column("prompt_tokens", .bigint),
                    column("completion_tokens", .bigint), column("cached_tokens", .bigint), column("cost_micros", .bigint),
                    column("latency_ms_sum", .bigint), column("ttft_ms_sum", .bigint),
                ],
                primaryKey: ["hour", "provider", "model", "key_id"]),
        ])
}
