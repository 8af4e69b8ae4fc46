import OrchestratorCore

/// Request-log rows: column order, parameter lists and the paged query, shared by
/// both backends.
enum LogRows {
    static let columns =
        "id, request_id, ts, key_id, key_name, api_style, model, provider, upstream_model, stream, status, attempts, latency_ms, ttft_ms, prompt_tokens, completion_tokens, cached_tokens, tokens_estimated, cost_micros, error, upstream_request_id, request_body, response_body, attempts_detail"

    /// Rows per `INSERT`. A statement opens its cursors on the table and its indexes,
    /// and closes them, once: a statement per row did that for every row, about a fifth
    /// of a row's cost on SQLite.
    static let rowsPerInsert = 32

    /// Rows are added to a statement while their text stays under this, so bodies kept
    /// in the log (up to 16 MB each) never make a statement larger than MySQL's packet.
    static let textBytesPerInsert = 1 << 20

    /// `INSERT INTO request_logs (…) VALUES (…), …` for `rows` rows, 1 to
    /// ``rowsPerInsert``: the same string each time, so the connection's statement cache
    /// finds it.
    ///
    /// On SQLite it is `INSERT OR ROLLBACK`. A statement that writes several rows and may
    /// stop part-way on a constraint (the default, `ABORT`) keeps a statement journal,
    /// a copy of every page it changes, to undo its own rows alone. The writer rolls back
    /// the whole batch on any failure anyway, so SQLite may as well do that at once, and
    /// then keeps no such copy (about 4,000 instructions per row kept in memory, two
    /// `pwrite` calls per page spilled to a file).
    static func insert(rows: Int, dialect: SQLDialect) -> String {
        precondition(rows >= 1 && rows <= rowsPerInsert, "rows per insert")
        switch dialect {
        case .sqlite: return sqliteInserts[rows - 1]
        case .mysql: return mysqlInserts[rows - 1]
        }
    }

    private static let sqliteInserts = inserts("INSERT OR ROLLBACK INTO")
    private static let mysqlInserts = inserts("INSERT INTO")

    private static func inserts(_ verb: String) -> [String] {
        let row = "(" + Array(repeating: "?", count: columnCount).joined(separator: ", ") + ")"
        return (1...rowsPerInsert).map { count in
            "\(verb) request_logs (\(columns)) VALUES " + Array(repeating: row, count: count).joined(separator: ", ")
        }
    }

    /// Values per row.
    static let columnCount = columns.split(separator: ",").count

    /// Appends a row's values to `values`, every text cut to its column's size (a value a
    /// client chose, a 300-character model name, must never make a whole batch fail on
    /// MySQL's strict columns and stall the log writer behind it); returns the bytes of
    /// its text values.
    ///
    /// Appended in place: a row built as an array of its own, then copied into the
    /// statement's parameters, cost an allocation and a retain and release of every
    /// text value per row.
    @discardableResult
    static func append(_ e: RequestLogEntry, to values: inout [SQLValue]) -> Int {
        var textBytes = 0
        func text(_ value: String?, _ limit: Limit) {
            guard let value else { return values.append(.null) }
            let fitted = fit(value, limit)
            textBytes += fitted.utf8.count
            values.append(.text(fitted))
        }
        text(e.id, name)
        text(e.requestID, name)
        values.append(.int(e.timestampMillis))
        text(e.keyID, name)
        text(e.keyName, name)
        text(e.apiStyle, name)
        text(e.model, name)
        text(e.provider, name)
        text(e.upstreamModel, name)
        values.append(SQLValue(e.stream))
        values.append(.int(Int64(e.status)))
        values.append(.int(Int64(e.attempts)))
        values.append(.int(e.latencyMillis))
        values.append(SQLValue(e.timeToFirstTokenMillis))
        values.append(.int(Int64(e.promptTokens)))
        values.append(.int(Int64(e.completionTokens)))
        values.append(.int(Int64(e.cachedTokens)))
        values.append(SQLValue(e.tokensEstimated))
        values.append(.int(e.costMicros))
        text(e.errorMessage, self.text)
        text(e.upstreamRequestID, name)
        text(e.requestBody, longText)
        text(e.responseBody, longText)
        // Already cut to fit by `fittedAttempts`.
        text(e.attemptDetails.isEmpty ? nil : fittedAttempts(e.attemptDetails), longText)
        return textBytes
    }

    /// Column sizes (MySQL's, the stricter): VARCHAR(255) characters, TEXT and
    /// MEDIUMTEXT bytes (with room to spare).
    static let name = Limit.characters(255)
    static let text = Limit.bytes(60_000)
    static let longText = Limit.bytes(16_000_000)

    enum Limit {
        case characters(Int)
        case bytes(Int)
    }

    /// `value` cut to `limit`, never inside a character.
    static func fit(_ value: String, _ limit: Limit) -> String {
        switch limit {
        case .characters(let count):
            // Never more characters than UTF-8 bytes: most values need no count at all.
            if value.utf8.count <= count || value.count <= count { return value }
            return String(value.prefix(count))
        case .bytes(let count):
            if value.utf8.count <= count { return value }
            let bytes = Array(value.utf8)
            var cut = count
            // Back off continuation bytes (10xxxxxx) to the start of a character.
            while cut > 0, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
            return String(decoding: bytes[..<cut], as: UTF8.self)
        }
    }

    /// The attempts as JSON within a TEXT column: the last ones are dropped if needed.
    static func fittedAttempts(_ attempts: [AttemptRecord]) -> String {
        // Copied only when an error needs cutting (most rows have none).
        var kept = attempts
        if attempts.contains(where: { ($0.error?.utf8.count ?? 0) > 2_000 }) {
            kept = attempts.map { attempt -> AttemptRecord in
                var attempt = attempt
                attempt.error = attempt.error.map { fit($0, .bytes(2_000)) }
                return attempt
            }
        }
        var json = AttemptRecord.jsonArray(kept)
        while json.utf8.count > 60_000, kept.count > 1 {
            kept.removeLast()
            json = AttemptRecord.jsonArray(kept)
        }
        return json
    }

    static func entry(_ row: [SQLValue]) -> RequestLogEntry {
        RequestLogEntry(
            id: row[0].text ?? "", requestID: row[1].text ?? "", timestampMillis: row[2].int ?? 0,
            keyID: row[3].text ?? "", keyName: row[4].text ?? "", apiStyle: row[5].text ?? "", model: row[6].text ?? "",
            provider: row[7].text, upstreamModel: row[8].text, stream: row[9].bool, status: Int(row[10].int ?? 0),
            attempts: Int(row[11].int ?? 0), latencyMillis: row[12].int ?? 0, timeToFirstTokenMillis: row[13].int,
            promptTokens: Int(row[14].int ?? 0), completionTokens: Int(row[15].int ?? 0),
            cachedTokens: Int(row[16].int ?? 0), tokensEstimated: row[17].bool, costMicros: row[18].int ?? 0,
            errorMessage: row[19].text, upstreamRequestID: row[20].text, requestBody: row[21].text,
            responseBody: row[22].text,
            attemptDetails: JSONCoding.fromJSONText([AttemptRecord].self, row[23].text) ?? [])
    }

    /// Newest first, paged by (ts, id) — never by OFFSET.
    static func select(_ query: RequestLogQuery) -> (String, [SQLValue]) {
        var conditions: [String] = []
        var parameters: [SQLValue] = []
        // A request id names one row or a few: its index is the way in, whatever else is
        // asked. Without statistics SQLite would pick the (model, ts) index for
        // `model = ? AND request_id = ?` and walk every row of the model; a unary `+`
        // keeps a column's index out of the plan (MySQL reads it as a no-op).
        let other = query.requestID == nil ? "" : "+"
        if let requestID = query.requestID {
            conditions.append("request_id = ?")
            parameters.append(.text(requestID))
        }
        if let model = query.model {
            conditions.append("\(other)model = ?")
            parameters.append(.text(model))
        }
        if let provider = query.provider {
            conditions.append("\(other)provider = ?")
            parameters.append(.text(provider))
        }
        if let key = query.keyID {
            conditions.append("\(other)key_id = ?")
            parameters.append(.text(key))
        }
        if let status = query.status {
            conditions.append("\(other)status = ?")
            parameters.append(.int(Int64(status)))
        }
        if let since = query.sinceMillis {
            conditions.append("\(other)ts >= ?")
            parameters.append(.int(since))
        }
        if let until = query.untilMillis {
            conditions.append("\(other)ts < ?")
            parameters.append(.int(until))
        }
        if let cursor = query.cursor {
            conditions.append("(\(other)ts < ? OR (\(other)ts = ? AND \(other)id < ?))")
            parameters += [.int(cursor.timestampMillis), .int(cursor.timestampMillis), .text(cursor.id)]
        }
        var sql = "SELECT \(columns) FROM request_logs"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY ts DESC, id DESC LIMIT ?"
        parameters.append(.int(Int64(max(1, min(query.limit, 1000)))))
        return (sql, parameters)
    }
}
