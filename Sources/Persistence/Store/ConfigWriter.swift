import Foundation
import OrchestratorCore

/// Applies admin API changes (`source: api`) inside the caller's transaction.
struct ConfigWriter {
    let rows: ConfigRows
    private(set) var addedKeyIDs: [String] = []
    private(set) var enabledKeys: [(provider: String, keyID: String)] = []

    init(rows: ConfigRows) {
        self.rows = rows
    }

    private var db: any SQLConnection { rows.db }

    mutating func apply(_ change: ConfigChange) throws {
        switch change {
        case .createProvider(let provider):
            if try rows.provider(named: provider.name) != nil {
                throw ConfigChangeError(.conflict, "A provider named \(provider.name) already exists.", param: "name")
            }
            let id = RequestID.generate()
            try rows.insertProvider(id: id, provider, source: .api)
            try rows.syncKeys(providerID: id, secrets: provider.apiKeys, source: .api, onlySource: nil)
        case .replaceProvider(let provider, let replaceKeys, let ifVersion):
            let row = try existing(rows.provider(named: provider.name), "provider", provider.name, ifVersion: ifVersion)
            try rows.updateProvider(id: row.id, provider, source: .api, version: rows.nextVersion(after: row.updatedAt))
            if replaceKeys { try rows.syncKeys(providerID: row.id, secrets: provider.apiKeys, source: .api, onlySource: nil) }
        case .deleteProvider(let name, let ifVersion):
            let row = try existing(rows.provider(named: name), "provider", name, ifVersion: ifVersion)
            let users = try db.query(
                "SELECT DISTINCT m.name FROM model_providers mp JOIN model_configs m ON m.id = mp.model_id WHERE mp.provider_id = ? ORDER BY m.name",
                [.text(row.id)]
            ).compactMap { $0[0].text }
            if !users.isEmpty {
                throw ConfigChangeError(
                    .conflict, "Provider \(name) is still used by the models \(users.joined(separator: ", ")).", param: "name")
            }
            try db.query("DELETE FROM provider_keys WHERE provider_id = ?", [.text(row.id)])
            try db.query("DELETE FROM providers WHERE id = ?", [.text(row.id)])
        case .setProviderEnabled(let name, let enabled):
            let row = try existing(rows.provider(named: name), "provider", name, ifVersion: nil)
            try db.query(
                "UPDATE providers SET enabled = ?, source = 'api', updated_at = ? WHERE id = ?",
                [SQLValue(enabled), .int(rows.nextVersion(after: row.updatedAt)), .text(row.id)])
        case .addProviderKey(let provider, let secret):
            let row = try existing(rows.provider(named: provider), "provider", provider, ifVersion: nil)
            let fingerprint = KeyHashing.sha256Hex(secret)
            let keys = try db.query("SELECT fingerprint, position FROM provider_keys WHERE provider_id = ?", [.text(row.id)])
            if keys.contains(where: { $0[0].text == fingerprint }) {
                throw ConfigChangeError(.conflict, "This key is already in the pool of provider \(provider).", param: "key")
            }
            let position = (keys.compactMap { $0[1].int }.max() ?? -1) + 1
            addedKeyIDs.append(try rows.insertKey(providerID: row.id, secret: secret, position: Int(position), source: .api))
            try rows.touchProvider(row)
        case .setProviderKeyEnabled(let provider, let keyID, let enabled):
            let row = try existing(rows.provider(named: provider), "provider", provider, ifVersion: nil)
            try requireKey(keyID, of: row, provider: provider)
            // Enabling also clears a refusal: the operator vouches for the key again.
            try db.query(
                enabled
                    ? "UPDATE provider_keys SET enabled = 1, state = 'active', last_error = NULL, updated_at = ? WHERE id = ?"
                    : "UPDATE provider_keys SET enabled = 0, updated_at = ? WHERE id = ?",
                [.int(rows.now), .text(keyID)])
            if enabled { enabledKeys.append((provider, keyID)) }
            try rows.touchProvider(row)
        case .removeProviderKey(let provider, let keyID):
            let row = try existing(rows.provider(named: provider), "provider", provider, ifVersion: nil)
            try requireKey(keyID, of: row, provider: provider)
            try db.query("DELETE FROM provider_keys WHERE id = ?", [.text(keyID)])
            try rows.touchProvider(row)
        case .createModel(let model):
            if try rows.model(named: model.name) != nil {
                throw ConfigChangeError(.conflict, "A model named \(model.name) already exists.", param: "name")
            }
            try rows.insertModel(id: RequestID.generate(), model, source: .api, providerIDs: try rows.providerIDs())
        case .replaceModel(let model, let ifVersion):
            let row = try existing(rows.model(named: model.name), "model", model.name, ifVersion: ifVersion)
            try rows.updateModel(
                id: row.id, model, source: .api, version: rows.nextVersion(after: row.updatedAt), providerIDs: try rows.providerIDs())
        case .deleteModel(let name, let ifVersion):
            let row = try existing(rows.model(named: name), "model", name, ifVersion: ifVersion)
            try db.query("DELETE FROM model_providers WHERE model_id = ?", [.text(row.id)])
            try db.query("DELETE FROM model_configs WHERE id = ?", [.text(row.id)])
        case .createKey(let key):
            if try rows.key(named: key.name) != nil {
                throw ConfigChangeError(.conflict, "A key named \(key.name) already exists.", param: "name")
            }
            try rows.insertClientKey(id: RequestID.generate(), key, source: .api)
        case .replaceKey(let key, let ifVersion):
            let row = try existing(rows.key(named: key.name), "key", key.name, ifVersion: ifVersion)
            var settings = key
            settings.key = ""  // the secret stays
            try rows.updateClientKey(id: row.id, settings, source: .api, version: rows.nextVersion(after: row.updatedAt))
        case .deleteKey(let name, let ifVersion):
            let row = try existing(rows.key(named: name), "key", name, ifVersion: ifVersion)
            try db.query("DELETE FROM api_keys WHERE id = ?", [.text(row.id)])
        }
    }

    /// The entity's row, checked against the version the client saw.
    private func existing(_ row: ConfigRows.Row?, _ what: String, _ name: String, ifVersion: Int64?) throws -> ConfigRows.Row {
        guard let row else { throw ConfigChangeError(.notFound, "No \(what) named \(name).") }
        if let ifVersion, ifVersion != row.updatedAt {
            throw ConfigChangeError(.versionMismatch, "The \(what) \(name) changed since it was read (If-Match does not match).")
        }
        return row
    }

    private func requireKey(_ keyID: String, of row: ConfigRows.Row, provider: String) throws {
        let found = try db.query("SELECT id FROM provider_keys WHERE id = ? AND provider_id = ?", [.text(keyID), .text(row.id)])
        if found.isEmpty { throw ConfigChangeError(.notFound, "Provider \(provider) has no key \(keyID).") }
    }
}
