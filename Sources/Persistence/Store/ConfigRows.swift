import Foundation
import OrchestratorCore

/// The rows of providers, their keys, models and client keys: how each is written,
/// whether by the config-file sync (`source: file`) or the admin API (`source: api`).
/// Runs on the database thread, inside the caller's transaction.
struct ConfigRows {
    let db: any SQLConnection
    let box: SecretBox
    let now: Int64

    /// A new `updated_at` that is later than `previous` even within one millisecond, so
    /// every change gives the entity a new version (its ETag).
    func nextVersion(after previous: Int64) -> Int64 { max(now, previous + 1) }

    // MARK: Providers

    struct Row {
        var id: String
        var source: EntitySource
        var updatedAt: Int64
    }

    func provider(named name: String) throws -> Row? {
        try row("SELECT id, source, updated_at FROM providers WHERE name = ?", name)
    }

    func model(named name: String) throws -> Row? {
        try row("SELECT id, source, updated_at FROM model_configs WHERE name = ?", name)
    }

    func key(named name: String) throws -> Row? {
        try row("SELECT id, source, updated_at FROM api_keys WHERE name = ?", name)
    }

    private func row(_ sql: String, _ name: String) throws -> Row? {
        guard let row = try db.query(sql, [.text(name)]).first else { return nil }
        return Row(id: row[0].text ?? "", source: EntitySource(rawValue: row[1].text ?? "") ?? .api, updatedAt: row[2].int ?? 0)
    }

    func insertProvider(id: String, _ provider: ProviderConfig, source: EntitySource) throws {
        try db.query(
            "INSERT INTO providers (id, name, type, base_url, settings, enabled, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [.text(id), .text(provider.name), .text(provider.type.rawValue), .text(provider.baseURL),
             .text(try settingsJSON(provider)), SQLValue(provider.enabled), .text(source.rawValue), .int(now), .int(now)])
    }

    func updateProvider(id: String, _ provider: ProviderConfig, source: EntitySource, version: Int64) throws {
        try db.query(
            "UPDATE providers SET type = ?, base_url = ?, settings = ?, enabled = ?, source = ?, updated_at = ? WHERE id = ?",
            [.text(provider.type.rawValue), .text(provider.baseURL), .text(try settingsJSON(provider)), SQLValue(provider.enabled),
             .text(source.rawValue), .int(version), .text(id)])
    }

    func touchProvider(_ row: Row) throws {
        try db.query("UPDATE providers SET updated_at = ? WHERE id = ?", [.int(nextVersion(after: row.updatedAt)), .text(row.id)])
    }

    private func settingsJSON(_ provider: ProviderConfig) throws -> String {
        try JSONCoding.jsonText(ProviderSettingsRecord(provider, box: box))
    }

    /// Makes a provider's keys of `source` (or of every source, with `onlySource: nil`)
    /// the given secrets, in order: new ones are added, missing ones removed, the rest
    /// keep their id, state and enabled flag.
    func syncKeys(providerID: String, secrets: [String], source: EntitySource, onlySource: EntitySource?) throws {
        let existing = try db.query("SELECT id, fingerprint, source FROM provider_keys WHERE provider_id = ?", [.text(providerID)])
        let wanted = Dictionary(secrets.map { (KeyHashing.sha256Hex($0), $0) }, uniquingKeysWith: { first, _ in first })
        var present = Set<String>()
        for row in existing {
            let fingerprint = row[1].text ?? ""
            present.insert(fingerprint)
            let removable = onlySource.map { row[2].text == $0.rawValue } ?? true
            if removable, wanted[fingerprint] == nil {
                try db.query("DELETE FROM provider_keys WHERE id = ?", [row[0]])
                present.remove(fingerprint)
            }
        }
        // Keys keep the given order (round robin starts with the first).
        for (position, secret) in secrets.enumerated() {
            let fingerprint = KeyHashing.sha256Hex(secret)
            if present.contains(fingerprint) {
                try db.query(
                    "UPDATE provider_keys SET position = ? WHERE provider_id = ? AND fingerprint = ?",
                    [.int(Int64(position)), .text(providerID), .text(fingerprint)])
                continue
            }
            present.insert(fingerprint)
            _ = try insertKey(providerID: providerID, secret: secret, position: position, source: source)
        }
    }

    /// Adds one upstream key; returns its id.
    func insertKey(providerID: String, secret: String, position: Int, source: EntitySource) throws -> String {
        let id = RequestID.generate()
        try db.query(
            "INSERT INTO provider_keys (id, provider_id, secret_enc, fingerprint, last4, position, enabled, state, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, 'active', ?, ?, ?)",
            [.text(id), .text(providerID), .text(try box.seal(secret)), .text(KeyHashing.sha256Hex(secret)),
             .text(String(secret.suffix(4))), .int(Int64(position)), .text(source.rawValue), .int(now), .int(now)])
        return id
    }

    // MARK: Models

    func insertModel(id: String, _ model: ModelConfig, source: EntitySource, providerIDs: [String: String]) throws {
        let price = model.price
        try db.query(
            "INSERT INTO model_configs (id, name, strategy, input_price_micros, output_price_micros, cached_input_price_micros, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [.text(id), .text(model.name), SQLValue(model.strategy?.rawValue), PriceColumns.micros(price?.inputPerMTok),
             PriceColumns.micros(price?.outputPerMTok), PriceColumns.micros(price?.cachedInputPerMTok), .text(source.rawValue),
             .int(now), .int(now)])
        try insertTargets(modelID: id, model, providerIDs: providerIDs)
    }

    func updateModel(id: String, _ model: ModelConfig, source: EntitySource, version: Int64, providerIDs: [String: String]) throws {
        let price = model.price
        try db.query(
            "UPDATE model_configs SET strategy = ?, input_price_micros = ?, output_price_micros = ?, cached_input_price_micros = ?, source = ?, updated_at = ? WHERE id = ?",
            [SQLValue(model.strategy?.rawValue), PriceColumns.micros(price?.inputPerMTok), PriceColumns.micros(price?.outputPerMTok),
             PriceColumns.micros(price?.cachedInputPerMTok), .text(source.rawValue), .int(version), .text(id)])
        try db.query("DELETE FROM model_providers WHERE model_id = ?", [.text(id)])
        try insertTargets(modelID: id, model, providerIDs: providerIDs)
    }

    private func insertTargets(modelID: String, _ model: ModelConfig, providerIDs: [String: String]) throws {
        for (position, target) in model.targets.enumerated() {
            guard let providerID = providerIDs[target.provider] else {
                throw ConfigChangeError(
                    .invalid, "Model \(model.name) targets the unknown provider \(target.provider).",
                    param: "targets[\(position)].provider")
            }
            try db.query(
                """
                INSERT INTO model_providers (id, model_id, provider_id, upstream_model, weight, priority, position, capabilities,
                  extra_body, max_tokens_default, input_price_micros, output_price_micros, cached_input_price_micros)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [.text(RequestID.generate()), .text(modelID), .text(providerID), .text(target.model), .int(Int64(target.weight)),
                 .int(Int64(target.priority)), .int(Int64(position)),
                 SQLValue(try target.capabilities.map { try JSONCoding.jsonText($0.map(\.rawValue).sorted()) }),
                 SQLValue(target.extraBody.isEmpty ? nil : try JSONCoding.jsonText(target.extraBody)),
                 SQLValue(target.maxTokensDefault), PriceColumns.micros(target.price?.inputPerMTok),
                 PriceColumns.micros(target.price?.outputPerMTok), PriceColumns.micros(target.price?.cachedInputPerMTok)])
        }
    }

    /// Provider ids by name.
    func providerIDs() throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try db.query("SELECT name, id FROM providers") { out[row[0].text ?? ""] = row[1].text ?? "" }
        return out
    }

    // MARK: Client keys

    private func keySettings(_ key: ClientKeyConfig) throws -> [SQLValue] {
        [
            .text(try JSONCoding.jsonText(key.models)), .int(Int64(key.rpm)), .int(Int64(key.tpm)),
            .int(Int64(key.maxConcurrency)), .int(Int64((key.budgetUSD * 1_000_000).rounded())), .int(key.budgetTokens),
            .text(key.budgetPeriod.rawValue), SQLValue(key.expiresAt.map { Int64($0.timeIntervalSince1970 * 1000) }),
            SQLValue(key.enabled), SQLValue(key.logBodies), .text(try JSONCoding.jsonText(key.metadata)),
        ]
    }

    /// Inserts a client key whose secret is `key.key` (stored as its hash and prefix).
    func insertClientKey(id: String, _ key: ClientKeyConfig, source: EntitySource) throws {
        try db.query(
            "INSERT INTO api_keys (models, rpm, tpm, max_concurrency, budget_micros, budget_tokens, budget_period, expires_at, enabled, log_bodies, metadata, key_hash, prefix, id, name, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            try keySettings(key)
                + [.text(KeyHashing.sha256Hex(key.key)), .text(KeyHashing.displayPrefix(key.key)), .text(id), .text(key.name),
                   .text(source.rawValue), .int(now), .int(now)])
    }

    /// Updates a client key's settings; its secret too when `key.key` is set.
    func updateClientKey(id: String, _ key: ClientKeyConfig, source: EntitySource, version: Int64) throws {
        if key.key.isEmpty {
            try db.query(
                "UPDATE api_keys SET models = ?, rpm = ?, tpm = ?, max_concurrency = ?, budget_micros = ?, budget_tokens = ?, budget_period = ?, expires_at = ?, enabled = ?, log_bodies = ?, metadata = ?, source = ?, updated_at = ? WHERE id = ?",
                try keySettings(key) + [.text(source.rawValue), .int(version), .text(id)])
        } else {
            try db.query(
                "UPDATE api_keys SET models = ?, rpm = ?, tpm = ?, max_concurrency = ?, budget_micros = ?, budget_tokens = ?, budget_period = ?, expires_at = ?, enabled = ?, log_bodies = ?, metadata = ?, key_hash = ?, prefix = ?, source = ?, updated_at = ? WHERE id = ?",
                try keySettings(key)
                    + [.text(KeyHashing.sha256Hex(key.key)), .text(KeyHashing.displayPrefix(key.key)), .text(source.rawValue),
                       .int(version), .text(id)])
        }
    }
}
