/// The SQL dialects the stores speak. Every difference between SQLite and MySQL DDL is
/// rendered here, so migrations are written once as ``TableDefinition``s.
enum SQLDialect: Sendable {
    case sqlite
    case mysql

    func type(_ type: ColumnType) -> String {
        switch (self, type) {
        case (.sqlite, .id), (.sqlite, .name), (.sqlite, .text), (.sqlite, .longText): return "TEXT"
        case (.sqlite, .bigint), (.sqlite, .int), (.sqlite, .bool): return "INTEGER"
        case (.sqlite, .double): return "REAL"
        case (.mysql, .id): return "VARCHAR(64)"
        case (.mysql, .name): return "VARCHAR(255)"
        case (.mysql, .text): return "TEXT"
        case (.mysql, .longText): return "MEDIUMTEXT"
        case (.mysql, .bigint): return "BIGINT"
        case (.mysql, .int): return "INT"
        case (.mysql, .bool): return "TINYINT(1)"
        case (.mysql, .double): return "DOUBLE"
        }
    }

    /// The table of applied migrations (created before any migration runs).
    var migrationsTable: String {
        switch self {
        case .sqlite:
            return "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        case .mysql:
            return "CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        }
    }

    /// `INSERT … VALUES (?, …)` that updates the other columns when a row with the same
    /// `key` exists: SQLite's `ON CONFLICT … DO UPDATE`, MySQL's `ON DUPLICATE KEY UPDATE`.
    func upsert(into table: String, columns: [String], key: [String]) -> String {
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let insert = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(placeholders))"
        let others = columns.filter { !key.contains($0) }
        switch self {
        case .sqlite:
            let set = others.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            return insert + " ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET " + set
        case .mysql:
            let set = others.map { "\($0) = VALUES(\($0))" }.joined(separator: ", ")
            return insert + " ON DUPLICATE KEY UPDATE " + set
        }
    }

    /// The statements creating `table` and its indexes, idempotently.
    func create(_ table: TableDefinition) -> [String] {
        var parts: [String] = table.columns.map { column in
            var sql = "\(column.name) \(type(column.type))"
            if !column.nullable { sql += " NOT NULL" }
            if let defaultValue = column.defaultValue { sql += " DEFAULT \(defaultValue)" }
            return sql
        }
        parts.append("PRIMARY KEY (\(table.primaryKey.joined(separator: ", ")))")
        for unique in table.uniques {
            parts.append("CONSTRAINT \(table.name)_\(unique.joined(separator: "_"))_key UNIQUE (\(unique.joined(separator: ", ")))")
        }
        for fk in table.foreignKeys {
            parts.append(
                "FOREIGN KEY (\(fk.column)) REFERENCES \(fk.table)(\(fk.referencedColumn)) ON DELETE \(fk.onDelete)")
        }
        var statements: [String] = []
        switch self {
        case .sqlite:
            statements.append("CREATE TABLE IF NOT EXISTS \(table.name) (\n  \(parts.joined(separator: ",\n  "))\n)")
            for index in table.indexes {
                statements.append(
                    "CREATE INDEX IF NOT EXISTS \(table.name)_\(index.name) ON \(table.name) (\(index.columns.joined(separator: ", ")))")
            }
        case .mysql:
            for index in table.indexes {
                parts.append("INDEX \(table.name)_\(index.name) (\(index.columns.joined(separator: ", ")))")
            }
            statements.append(
                "CREATE TABLE IF NOT EXISTS \(table.name) (\n  \(parts.joined(separator: ",\n  "))\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
        }
        return statements
    }
}

enum ColumnType: Sendable {
    /// Short identifiers (ids, hashes).
    case id
    /// Names and other bounded strings.
    case name
    case text
    /// Request and response bodies.
    case longText
    case bigint, int, bool, double
}

struct ColumnDefinition: Sendable {
    var name: String
    var type: ColumnType
    var nullable = false
    var defaultValue: String?
}

struct TableDefinition: Sendable {
    struct Index: Sendable {
        var name: String
        var columns: [String]
    }

    struct ForeignKey: Sendable {
        var column: String
        var table: String
        var referencedColumn = "id"
        var onDelete = "CASCADE"
    }

    var name: String
    var columns: [ColumnDefinition]
    var primaryKey: [String] = ["id"]
    var uniques: [[String]] = []
    var indexes: [Index] = []
    var foreignKeys: [ForeignKey] = []
}

/// Shorthands for column definitions.
func column(_ name: String, _ type: ColumnType, null: Bool = false, default defaultValue: String? = nil)
    -> ColumnDefinition
{
    ColumnDefinition(name: name, type: type, nullable: null, defaultValue: defaultValue)
}
