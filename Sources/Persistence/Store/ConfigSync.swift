import Foundation
import OrchestratorCore

/// Upserts the config file's providers, models and keys (`source: file`) and loads the
/// merged configuration. Runs on the database thread, inside one transaction.
struct ConfigSync {
    let db: any SQLConnection
    let box: SecretBox
    let now: Int64

    /// Applies `settings`; returns warnings to log.
    func run(_ settings: GatewaySettings) throws -> [String] {
        let rows = ConfigRows(db: db, box: box, now: now)
        var warnings: [String] = []
        var providerIDs = try nameIndex("providers")
        var modelIDs = try nameIndex("model_configs")
        let existingKeys = try nameIndex("api_keys")

        for provider in settings.providers {
            let id: String
            if let existing = providerIDs[provider.name] {
                id = existing.id
                if existing.source == .api { warnings.append("config file provider \(provider.name) replaces one created through the admin API") }
                try rows.updateProvider(id: id, provider, source: .file, version: rows.nextVersion(after: existing.updatedAt))
            } else {
                id = RequestID.generate()
                try rows.insertProvider(id: id, provider, source: .file)
                providerIDs[provider.name] = (id, .file, now)
            }
            // Keys added through the admin API stay; the file's are made what it lists.
            try rows.syncKeys(providerID: id, secrets: provider.apiKeys, source: .file, onlySource: .file)
        }

        let fileModels = Set(settings.models.map(\.name))
        for (name, entry) in modelIDs where entry.source == .file && !fileModels.contains(name) {
            try db.query("DELETE FROM model_configs WHERE id = ?", [.text(entry.id)])
            modelIDs[name] = nil
        }
        let providerIDsByName = providerIDs.mapValues(\.id)
        for model in settings.models {
            do {
                if let existing = modelIDs[model.name] {
                    try rows.updateModel(
                        id: existing.id, model, source: .file, version: rows.nextVersion(after: existing.updatedAt),
                        providerIDs: providerIDsByName)
                } else {
                    try rows.insertModel(id: RequestID.generate(), model, source: .file, providerIDs: providerIDsByName)
                }
            } catch let error as ConfigChangeError {
                throw DatabaseError(code: -1, message: error.message)
            }
        }

        let fileProviders = Set(settings.providers.map(\.name))
        for (name, entry) in providerIDs where entry.source == .file && !fileProviders.contains(name) {
            let uses = try db.query("SELECT COUNT(*) FROM model_providers WHERE provider_id = ?", [.text(entry.id)])[0][0].int ?? 0
            if uses > 0 {
                warnings.append("provider \(name) was removed from the config file but models still use it; kept")
            } else {
                try db.query("DELETE FROM providers WHERE id = ?", [.text(entry.id)])
            }
        }

        let fileKeys = Set(settings.keys.map(\.name))
        for (name, entry) in existingKeys where entry.source == .file && !fileKeys.contains(name) {
            try db.query("DELETE FROM api_keys WHERE id = ?", [.text(entry.id)])
        }
        for key in settings.keys {
            if let existing = existingKeys[key.name] {
                try rows.updateClientKey(id: existing.id, key, source: .file, version: rows.nextVersion(after: existing.updatedAt))
            } else {
                // Short names keep their readable id; long ones get one that fits the column.
                let id = key.name.utf8.count <= 59 ? "file:" + key.name : "file:" + String(KeyHashing.sha256Hex(key.name).prefix(40))
                try rows.insertClientKey(id: id, key, source: .file)
            }
        }
        return warnings
    }

    private func nameIndex(_ table: String) throws -> [String: (id: String, source: EntitySource, updatedAt: Int64)] {
        let sql: String
        switch table {
        case "providers": sql = "SELECT name, id, source, updated_at FROM providers"
        case "model_configs": sql = "SELECT name, id, source, updated_at FROM model_configs"
        default: sql = "SELECT name, id, source, updated_at FROM api_keys"
        }
        var out: [String: (id: String, source: EntitySource, updatedAt: Int64)] = [:]
        for row in try db.query(sql) {
            out[row[0].text ?? ""] = (row[1].text ?? "", EntitySource(rawValue: row[2].text ?? "") ?? .api, row[3].int ?? 0)
        }
        return out
    }

    // MARK: Load

    static let wrongKey = DatabaseError(
        code: -1,
        message:
            "cannot decrypt the stored upstream secrets: the secret key (ORCH_SECRET_KEY, or the <database>.key file next to the SQLite database) is not the one they were sealed with"
    )

    static func unseal(_ sealed: String, box: SecretBox) throws -> String {
        do {
            return try box.open(sealed)
        } catch {
            throw wrongKey
        }
    }

    func load() throws -> StoredConfiguration {
        var keysByProvider: [String: [StoredUpstreamKey]] = [:]
        for row in try db.query(
            "SELECT id, provider_id, secret_enc, enabled, state, last_error FROM provider_keys ORDER BY provider_id, position, created_at, id")
        {
            let secret = try Self.unseal(row[2].text ?? "", box: box)
            keysByProvider[row[1].text ?? "", default: []].append(
                StoredUpstreamKey(
                    id: row[0].text ?? "", secret: secret, enabled: row[3].bool, state: row[4].text ?? "active",
                    lastError: row[5].text))
        }
        var providerNames: [String: String] = [:]
        var providers: [StoredProvider] = []
        for row in try db.query(
            "SELECT id, name, type, base_url, settings, enabled, source, created_at, updated_at FROM providers ORDER BY name")
        {
            let id = row[0].text ?? ""
            let name = row[1].text ?? ""
            providerNames[id] = name
            guard let type = ProviderType(rawValue: row[2].text ?? "") else { continue }
            var config = ProviderConfig(name: name, type: type, baseURL: row[3].text ?? "")
            config.enabled = row[5].bool
            if let record = JSONCoding.fromJSONText(ProviderSettingsRecord.self, row[4].text) {
                do {
                    try record.apply(to: &config, box: box)
                } catch {
                    throw Self.wrongKey
                }
            }
            let keys = keysByProvider[id] ?? []
            config.apiKeys = keys.filter(\.enabled).map(\.secret)
            providers.append(
                StoredProvider(
                    id: id, config: config, source: EntitySource(rawValue: row[6].text ?? "") ?? .api,
                    createdAtMillis: row[7].int ?? 0, updatedAtMillis: row[8].int ?? 0, keys: keys))
        }
        var targetsByModel: [String: [TargetConfig]] = [:]
        for row in try db.query(
            "SELECT model_id, provider_id, upstream_model, weight, priority, capabilities, extra_body, max_tokens_default, input_price_micros, output_price_micros, cached_input_price_micros FROM model_providers ORDER BY model_id, position"
        ) {
            var target = TargetConfig(
                provider: providerNames[row[1].text ?? ""] ?? "", model: row[2].text ?? "", weight: Int(row[3].int ?? 1),
                priority: Int(row[4].int ?? 0))
            target.capabilities = JSONCoding.fromJSONText([String].self, row[5].text).map {
                Set($0.compactMap(Capability.init(rawValue:)))
            }
            target.extraBody = JSONCoding.fromJSONText([String: JSONValue].self, row[6].text) ?? [:]
            target.maxTokensDefault = row[7].int.map(Int.init)
            target.price = PriceColumns.price(input: row[8], output: row[9], cached: row[10])
            targetsByModel[row[0].text ?? "", default: []].append(target)
        }
        var models: [StoredModel] = []
        for row in try db.query(
            "SELECT id, name, strategy, input_price_micros, output_price_micros, cached_input_price_micros, source, created_at, updated_at FROM model_configs ORDER BY name"
        ) {
            let id = row[0].text ?? ""
            let config = ModelConfig(
                name: row[1].text ?? "", targets: targetsByModel[id] ?? [],
                strategy: row[2].text.flatMap(RoutingStrategy.init(rawValue:)),
                price: PriceColumns.price(input: row[3], output: row[4], cached: row[5]))
            models.append(
                StoredModel(
                    id: id, config: config, source: EntitySource(rawValue: row[6].text ?? "") ?? .api,
                    createdAtMillis: row[7].int ?? 0, updatedAtMillis: row[8].int ?? 0))
        }
        var keys: [StoredClientKey] = []
        for row in try db.query(
            "SELECT id, name, key_hash, prefix, models, rpm, tpm, max_concurrency, budget_micros, budget_tokens, budget_period, expires_at, enabled, log_bodies, metadata, source, created_at, updated_at, used_tokens, used_micros, last_used_at FROM api_keys ORDER BY name"
        ) {
            var config = ClientKeyConfig(name: row[1].text ?? "", key: "")
            config.models = JSONCoding.fromJSONText([String].self, row[4].text) ?? ["*"]
            config.rpm = Int(row[5].int ?? 0)
            config.tpm = Int(row[6].int ?? 0)
            config.maxConcurrency = Int(row[7].int ?? 0)
            config.budgetUSD = Double(row[8].int ?? 0) / 1_000_000
            config.budgetTokens = row[9].int ?? 0
            config.budgetPeriod = BudgetPeriod(rawValue: row[10].text ?? "") ?? .monthly
            config.expiresAt = row[11].int.map { Date(timeIntervalSince1970: Double($0) / 1000) }
            config.enabled = row[12].bool
            config.logBodies = row[13].bool
            config.metadata = JSONCoding.fromJSONText([String: String].self, row[14].text) ?? [:]
            var key = StoredClientKey(
                id: row[0].text ?? "", name: config.name, keyHash: row[2].text ?? "", prefix: row[3].text ?? "",
                config: config, source: EntitySource(rawValue: row[15].text ?? "") ?? .api)
            key.createdAtMillis = row[16].int ?? 0
            key.updatedAtMillis = row[17].int ?? 0
            key.usedTokens = row[18].int ?? 0
            key.usedMicros = row[19].int ?? 0
            key.lastUsedAtMillis = row[20].int
            keys.append(key)
        }
        return StoredConfiguration(providers: providers, models: models, keys: keys)
    }
}
