import Balancing
import Foundation
import Logging
import NIOCore
import Yams
import OrchestratorCore
import Persistence

/// The admin API over the config store: validates documents with the config file's
/// reader, writes through ``ConfigStore/apply(_:)`` (all or nothing, versioned), and
/// swaps the live routing snapshot and key directory after every write.
struct GatewayAdmin: AdminService {
    let store: SQLStore
    /// Who writes: the admin key, named by the start of its hash (never the key).
    let actor: String
    /// Called with the result of every write.
    let onChange: @Sendable (ConfigChangeResult) -> Void
    /// Probes a provider now (nil: not routable).
    let check: @Sendable (String) async -> ProviderCheck?
    let logger: Logger

    static let maxPageSize = 200

    // MARK: Reading

    func list(_ resource: AdminResource, limit: Int, cursor: String?) async throws(GatewayError) -> AdminPage {
        let configuration = try await load()
        let limit = min(max(1, limit), Self.maxPageSize)
        // Names order the collection: a page continues after the last name seen, so rows
        // inserted meanwhile never shift it.
        var entries: [(name: String, doc: JSONValue)]
        switch resource {
        case .providers: entries = configuration.providers.map { ($0.config.name, AdminDocuments.provider($0)) }
        case .models: entries = configuration.models.map { ($0.config.name, AdminDocuments.model($0)) }
        case .keys: entries = configuration.keys.map { ($0.name, AdminDocuments.key($0)) }
        }
        entries.sort { $0.name < $1.name }
        if let cursor {
            guard let after = Self.decodeCursor(cursor) else { throw .invalidRequest("The cursor is not valid.", param: "cursor") }
            entries = entries.filter { $0.name > after }
        }
        let page = entries.prefix(limit)
        let next = entries.count > limit ? page.last.map { Self.encodeCursor($0.name) } : nil
        return AdminPage(items: page.map(\.doc), nextCursor: next)
    }

    func get(_ resource: AdminResource, _ name: String) async throws(GatewayError) -> AdminEntity {
        try Self.entity(resource, name, in: try await load())
    }

    static func entity(_ resource: AdminResource, _ name: String, in configuration: StoredConfiguration) throws(GatewayError)
        -> AdminEntity
    {
        switch resource {
        case .providers:
            if let p = configuration.providers.first(where: { $0.config.name == name }) {
                return AdminEntity(body: AdminDocuments.provider(p), version: p.updatedAtMillis)
            }
        case .models:
            if let m = configuration.models.first(where: { $0.config.name == name }) {
                return AdminEntity(body: AdminDocuments.model(m), version: m.updatedAtMillis)
            }
        case .keys:
            // Keys are addressed by id (DESIGN.md §5) or by name.
            if let k = configuration.keys.first(where: { $0.id == name }) ?? configuration.keys.first(where: { $0.name == name }) {
                return AdminEntity(body: AdminDocuments.key(k), version: k.updatedAtMillis)
            }
        }
        throw .notFound("No \(resource.singular) named \(name).", code: "\(resource.singular)_not_found")
    }

    // MARK: Writing

    func create(_ resource: AdminResource, _ body: JSONValue) async throws(GatewayError) -> AdminEntity {
        switch resource {
        case .providers:
            let provider = try AdminDocuments.provider(Self.withoutMaskedKeys(body))
            let result = try await apply([.createProvider(provider)])
            let entity = try Self.entity(.providers, provider.name, in: result.configuration)
            await record("create", .providers, provider.name, before: nil, after: entity.body)
            return entity
        case .models:
            let model = try AdminDocuments.model(body)
            let result = try await apply([.createModel(model)])
            let entity = try Self.entity(.models, model.name, in: result.configuration)
            await record("create", .models, model.name, before: nil, after: entity.body)
            return entity
        case .keys:
            var document = body
            if document["key"] == nil { document = document.mergePatched(with: .object(["key": .string(Self.newClientSecret())])) }
            let key = try AdminDocuments.key(document)
            if key.key.unicodeScalars.count < 16 { throw .invalidRequest("key must be at least 16 characters long", param: "key") }
            // Keys are addressed by id or name, ids first: a name that is another key's id
            // would make this key unreachable by name.
            if try await load().keys.contains(where: { $0.id == key.name }) {
                throw GatewayError(
                    status: 409, type: "invalid_request_error", code: "conflict",
                    message: "The name \(key.name) is another key's id; choose another name.", param: "name")
            }
            let result = try await apply([.createKey(key)])
            guard let created = result.configuration.keys.first(where: { $0.name == key.name }) else {
                throw .internalError("The key was stored but could not be read back.")
            }
            var entity = AdminEntity(body: AdminDocuments.key(created), version: created.updatedAtMillis)
            await record("create", .keys, key.name, before: nil, after: entity.body)
            // The secret, once: it is stored only as a hash.
            entity.body = entity.body.mergePatched(with: .object(["key": .string(key.key)]))
            return entity
        }
    }

    func replace(_ resource: AdminResource, _ name: String, _ body: JSONValue, ifMatch: Int64?) async throws(GatewayError)
        -> AdminEntity
    {
        try await replace(resource, name, body, ifMatch: ifMatch, action: "replace")
    }

    private func replace(_ resource: AdminResource, _ name: String, _ body: JSONValue, ifMatch: Int64?, action: String)
        async throws(GatewayError) -> AdminEntity
    {
        let current = try await load()
        let before = try Self.entity(resource, name, in: current).body
        let entity = try await replaceLoaded(resource, name, body, ifMatch: ifMatch, current: current)
        await record(action, resource, Self.storedName(resource, name, current), before: before, after: entity.body)
        return entity
    }

    private func replaceLoaded(
        _ resource: AdminResource, _ name: String, _ body: JSONValue, ifMatch: Int64?, current: StoredConfiguration
    ) async throws(GatewayError) -> AdminEntity {
        _ = try Self.entity(resource, name, in: current)
        var document = body
        if document["name"] == nil { document = document.mergePatched(with: .object(["name": .string(Self.storedName(resource, name, current))])) }
        switch resource {
        case .providers:
            let stored = current.providers.first { $0.config.name == name }
            let replaceKeys = Self.hasNewKeys(document)
            var provider = try AdminDocuments.provider(Self.withoutMaskedKeys(document))
            try Self.sameName(provider.name, name)
            if let stored { Self.keepMaskedSecrets(&provider, stored: stored.config) }
            // Masked values were resolved against the version read here: a change since
            // then must not slip in under them (412 instead).
            let result = try await apply([
                .replaceProvider(provider, replaceKeys: replaceKeys, ifVersion: ifMatch ?? stored?.updatedAtMillis)
            ])
            return try Self.entity(.providers, name, in: result.configuration)
        case .models:
            let model = try AdminDocuments.model(document)
            try Self.sameName(model.name, name)
            let result = try await apply([.replaceModel(model, ifVersion: ifMatch)])
            return try Self.entity(.models, name, in: result.configuration)
        case .keys:
            if document["key"] != nil {
                throw .invalidRequest("A key's secret cannot be changed; create a new key instead.", param: "key")
            }
            let key = try AdminDocuments.keySettings(document)
            let storedName = Self.storedName(.keys, name, current)
            try Self.sameName(key.name, storedName)
            let result = try await apply([.replaceKey(key, ifVersion: ifMatch)])
            return try Self.entity(.keys, storedName, in: result.configuration)
        }
    }

    func patch(_ resource: AdminResource, _ name: String, _ patch: JSONValue, ifMatch: Int64?) async throws(GatewayError)
        -> AdminEntity
    {
        guard case .object = patch else { throw .invalidRequest("A merge patch must be a JSON object.") }
        let current = try await load()
        let entity = try Self.entity(resource, name, in: current)
        var document = entity.body
        if case .object(var members) = document {
            // Stored upstream keys are not part of the editable document.
            members.removeValue(forKey: "api_keys")
            document = .object(members)
        }
        let merged = document.mergePatched(with: patch)
        // Unconditional patches still apply to what was read here.
        return try await replace(resource, name, merged, ifMatch: ifMatch ?? entity.version, action: "patch")
    }

    func delete(_ resource: AdminResource, _ name: String, ifMatch: Int64?) async throws(GatewayError) {
        let current = try await load()
        let before = try Self.entity(resource, name, in: current).body
        switch resource {
        case .providers: _ = try await apply([.deleteProvider(name: name, ifVersion: ifMatch)])
        case .models: _ = try await apply([.deleteModel(name: name, ifVersion: ifMatch)])
        case .keys: _ = try await apply([.deleteKey(name: Self.storedName(.keys, name, current), ifVersion: ifMatch)])
        }
        await record("delete", resource, Self.storedName(resource, name, current), before: before, after: nil)
    }

    func addProviderKey(_ provider: String, _ body: JSONValue) async throws(GatewayError) -> AdminEntity {
        guard let secret = body["key"]?.stringValue, !secret.isEmpty else {
            throw .invalidRequest("Send the upstream key as {\"key\": \"…\"}.", param: "key")
        }
        let before = try? Self.entity(.providers, provider, in: try await load()).body
        let result = try await apply([.addProviderKey(provider: provider, secret: secret)])
        let entity = try Self.entity(.providers, provider, in: result.configuration)
        await record("add_key", .providers, provider, before: before, after: entity.body)
        return entity
    }

    func updateProviderKey(_ provider: String, keyID: String, _ body: JSONValue) async throws(GatewayError) -> AdminEntity {
        guard let enabled = body["enabled"]?.boolValue else {
            throw .invalidRequest("Send {\"enabled\": true} or {\"enabled\": false}.", param: "enabled")
        }
        let before = try? Self.entity(.providers, provider, in: try await load()).body
        let result = try await apply([.setProviderKeyEnabled(provider: provider, keyID: keyID, enabled: enabled)])
        let entity = try Self.entity(.providers, provider, in: result.configuration)
        await record(enabled ? "enable_key" : "disable_key", .providers, provider, before: before, after: entity.body)
        return entity
    }

    func removeProviderKey(_ provider: String, keyID: String) async throws(GatewayError) {
        let before = try? Self.entity(.providers, provider, in: try await load()).body
        let result = try await apply([.removeProviderKey(provider: provider, keyID: keyID)])
        let after = try? Self.entity(.providers, provider, in: result.configuration).body
        await record("remove_key", .providers, provider, before: before, after: after)
    }

    func checkProvider(_ name: String) async throws(GatewayError) -> JSONValue {
        let current = try await load()
        guard current.providers.contains(where: { $0.config.name == name }) else {
            throw .notFound("No provider named \(name).", code: "provider_not_found")
        }
        guard let report = await check(name) else {
            throw .invalidRequest(
                "Provider \(name) is disabled or of a type this build cannot route; nothing was checked.", param: "name")
        }
        func millis(_ d: Duration?) -> JSONValue {
            d.map { .double(Double($0.components.seconds * 1000) + Double($0.components.attoseconds) / 1e15) } ?? .null
        }
        func optional(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        var keys: [JSONValue] = []
        for key in report.keys {
            let fields: [String: JSONValue] = [
                "id": optional(key.keyID), "last4": optional(key.last4), "ok": .bool(key.ok),
                "latency_ms": millis(key.latency), "error": optional(key.error),
            ]
            keys.append(.object(fields))
        }
        let fields: [String: JSONValue] = [
            "provider": .string(report.provider), "ok": .bool(report.ok), "latency_ms": millis(report.latency),
            "checked_at": AdminDocuments.rfc3339(SystemClock().epochMillis), "keys": .array(keys),
        ]
        return .object(fields)
    }

    func batchProviders(_ body: JSONValue) async throws(GatewayError) -> JSONValue {
        guard let operations = body["operations"]?.arrayValue, !operations.isEmpty else {
            throw .invalidRequest("Send {\"operations\": [ … ]}.", param: "operations")
        }
        let current = try await load()
        var changes: [ConfigChange] = []
        var results: [JSONValue] = []
        for (i, operation) in operations.enumerated() {
            let op = operation["op"]?.stringValue ?? ""
            let name = operation["name"]?.stringValue ?? operation["provider"]?["name"]?.stringValue ?? ""
            func stored() throws(GatewayError) -> StoredProvider {
                guard let p = current.providers.first(where: { $0.config.name == name }) else {
                    throw .notFound("operations[\(i)]: no provider named \(name).", code: "provider_not_found")
                }
                return p
            }
            switch op {
            case "upsert":
                guard let document = operation["provider"] else {
                    throw .invalidRequest("operations[\(i)]: upsert needs a provider document.", param: "operations[\(i)].provider")
                }
                var provider: ProviderConfig
                do {
                    provider = try AdminDocuments.provider(Self.withoutMaskedKeys(document))
                } catch {
                    var located = error
                    located.param = "operations[\(i)].provider" + (error.param.map { ".\($0)" } ?? "")
                    throw located
                }
                if let existing = current.providers.first(where: { $0.config.name == provider.name }) {
                    Self.keepMaskedSecrets(&provider, stored: existing.config)
                    changes.append(
                        .replaceProvider(provider, replaceKeys: Self.hasNewKeys(document), ifVersion: existing.updatedAtMillis))
                } else {
                    changes.append(.createProvider(provider))
                }
                results.append(.object(["op": .string(op), "name": .string(provider.name)]))
            case "enable", "disable":
                // Resolved when applied, so an upsert earlier in the batch is not undone.
                if !changes.contains(where: { if case .createProvider(let p) = $0 { return p.name == name } else { return false } }) {
                    _ = try stored()
                }
                changes.append(.setProviderEnabled(name: name, enabled: op == "enable"))
                results.append(.object(["op": .string(op), "name": .string(name)]))
            case "delete":
                _ = try stored()
                changes.append(.deleteProvider(name: name, ifVersion: nil))
                results.append(.object(["op": .string(op), "name": .string(name)]))
            default:
                throw .invalidRequest(
                    "operations[\(i)].op must be upsert, enable, disable or delete.", param: "operations[\(i)].op")
            }
        }
        let result = try await apply(changes)
        // One audit entry per provider the batch touched.
        for name in Set(results.compactMap { $0["name"]?.stringValue }).sorted() {
            await record(
                "batch", .providers, name, before: try? Self.entity(.providers, name, in: current).body,
                after: try? Self.entity(.providers, name, in: result.configuration).body)
        }
        return .object(["results": .array(results)])
    }

    func audit(limit: Int, cursor: String?, resource: String?, entity: String?) async throws(GatewayError) -> AdminPage {
        let limit = min(max(1, limit), Self.maxPageSize)
        var after: (timestampMillis: Int64, id: String)?
        if let cursor {
            guard let text = Self.decodeCursor(cursor), let colon = text.firstIndex(of: ":"), let ts = Int64(text[..<colon]) else {
                throw .invalidRequest("The cursor is not valid.", param: "cursor")
            }
            after = (ts, String(text[text.index(after: colon)...]))
        }
        let entries: [AuditEntry]
        do {
            entries = try await store.audit(limit: limit, after: after, resource: resource, entity: entity)
        } catch {
            throw GatewayError.databaseUnavailable
        }
        let items = entries.map { e -> JSONValue in
            .object([
                "id": .string(e.id), "time": AdminDocuments.rfc3339(e.timestampMillis), "actor": .string(e.actor),
                "action": .string(e.action), "resource": .string(e.resource), "entity": .string(e.entity),
                "before": e.before ?? .null, "after": e.after ?? .null,
            ])
        }
        let next = entries.count == limit ? entries.last.map { Self.encodeCursor("\($0.timestampMillis):\($0.id)") } : nil
        return AdminPage(items: items, nextCursor: next)
    }

    // MARK: Helpers

    /// Records a write in the audit log (after it; a failure to record is logged, the
    /// write stands). Documents never hold secrets; a new client key's is removed here.
    func record(_ action: String, _ resource: AdminResource, _ entity: String, before: JSONValue?, after: JSONValue?) async {
        var after = after
        if case .object(var members)? = after, resource == .keys {
            members.removeValue(forKey: "key")
            after = .object(members)
        }
        let entry = AuditEntry(
            timestampMillis: SystemClock().epochMillis, actor: actor, action: action, resource: resource.rawValue, entity: entity,
            before: before, after: after)
        do {
            try await store.appendAudit([entry])
        } catch {
            logger.error("admin: could not record an audit entry", metadata: ["action": "\(action)", "entity": "\(entity)", "error": "\(error)"])
        }
    }

    func load() async throws(GatewayError) -> StoredConfiguration {
        do {
            return try await store.loadConfiguration()
        } catch {
            logger.error("admin: cannot load the configuration", metadata: ["error": "\(error)"])
            throw GatewayError.databaseUnavailable
        }
    }

    /// Applies changes, then swaps the live snapshot.
    func apply(_ changes: [ConfigChange]) async throws(GatewayError) -> ConfigChangeResult {
        let result: ConfigChangeResult
        do {
            result = try await store.apply(changes)
        } catch let error as ConfigChangeError {
            throw Self.gatewayError(error)
        } catch {
            logger.error("admin: write failed", metadata: ["error": "\(Redaction.scrub(String(describing: error)))"])
            throw GatewayError.databaseUnavailable
        }
        onChange(result)
        return result
    }

    static func gatewayError(_ error: ConfigChangeError) -> GatewayError {
        switch error.kind {
        case .notFound: return .notFound(error.message)
        case .conflict: return GatewayError(status: 409, type: "invalid_request_error", code: "conflict", message: error.message, param: error.param)
        case .versionMismatch:
            return GatewayError(status: 412, type: "invalid_request_error", code: "precondition_failed", message: error.message)
        case .invalid: return .invalidRequest(error.message, param: error.param)
        }
    }

    private static func sameName(_ bodyName: String, _ pathName: String) throws(GatewayError) {
        if bodyName != pathName {
            throw .invalidRequest("The name cannot change (create a new entry and delete this one).", param: "name")
        }
    }

    private static func storedName(_ resource: AdminResource, _ name: String, _ configuration: StoredConfiguration) -> String {
        guard resource == .keys else { return name }
        return configuration.keys.first { $0.id == name }?.name ?? name
    }

    /// Whether a document brings a new key list (strings), not the masked one it was read with.
    static func hasNewKeys(_ document: JSONValue) -> Bool {
        guard let keys = document["api_keys"]?.arrayValue else { return false }
        return keys.allSatisfy { $0.stringValue != nil }
    }

    /// The document without a masked key list (`[{"id","last4",…}]`), which only shows the stored keys.
    static func withoutMaskedKeys(_ document: JSONValue) -> JSONValue {
        guard case .object(var members) = document, !hasNewKeys(document) else { return document }
        members.removeValue(forKey: "api_keys")
        return .object(members)
    }

    /// Values sent back masked (header secrets, the proxy password) keep the stored ones.
    static func keepMaskedSecrets(_ provider: inout ProviderConfig, stored: ProviderConfig) {
        for (name, value) in provider.headers {
            // Header names are case-insensitive.
            if let old = stored.headers.first(where: { $0.key.lowercased() == name.lowercased() })?.value,
                value == AdminDocuments.masked(old)
            {
                provider.headers[name] = old
            }
        }
        provider.httpProxy = AdminDocuments.unmaskedProxy(provider.httpProxy, stored: stored.httpProxy)
        if provider.secretAccessKey == nil { provider.secretAccessKey = stored.secretAccessKey }
        if provider.sessionToken == nil { provider.sessionToken = stored.sessionToken }
    }

    static func newClientSecret() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return "sk-orch-" + String((0..<40).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    static func encodeCursor(_ name: String) -> String { Data(name.utf8).base64EncodedString() }

    static func decodeCursor(_ cursor: String) -> String? {
        Data(base64Encoded: cursor).flatMap { String(data: $0, encoding: .utf8) }
    }
}

// MARK: Config export and import

extension GatewayAdmin {
    /// An entity's document as the file would hold it: no ids, times or key list.
    static func portable(_ document: JSONValue) -> JSONValue {
        guard case .object(var members) = document else { return document }
        for field in AdminDocuments.readOnly.union(["api_keys"]) { members.removeValue(forKey: field) }
        return .object(members)
    }

    func exportConfiguration(yaml: Bool) async throws(GatewayError) -> (contentType: String, body: String) {
        let current = try await load()
        let document: JSONValue = .object([
            "providers": .array(current.providers.map { Self.portable(AdminDocuments.provider($0)) }),
            "models": .array(current.models.map { Self.portable(AdminDocuments.model($0)) }),
            "keys": .array(current.keys.map { Self.portable(AdminDocuments.key($0)) }),
        ])
        do {
            if yaml {
                let text = try Yams.serialize(node: Self.yamlNode(document), sortKeys: true)
                return ("application/yaml", "# Orchestrator configuration, exported without secrets.\n" + text)
            }
            return ("application/json", try JSONCoding.encodeString(document))
        } catch {
            throw .internalError("Could not render the configuration.")
        }
    }

    func importConfiguration(_ text: String, dryRun: Bool) async throws(GatewayError) -> JSONValue {
        let document = try Self.parseDocument(text)
        guard case .object(let sections) = document else {
            throw .invalidRequest("The document must be a mapping with providers, models and keys.")
        }
        if let unknown = sections.keys.first(where: { !["providers", "models", "keys"].contains($0) }) {
            throw .invalidRequest("\(unknown): unknown section (expected providers, models, keys)", param: unknown)
        }
        let current = try await load()
        var changes: [ConfigChange] = []
        var report: [JSONValue] = []
        var createdKeys: [JSONValue] = []
        func section(_ name: String) throws(GatewayError) -> [JSONValue] {
            guard let value = sections[name] else { return [] }
            guard let items = value.arrayValue else { throw .invalidRequest("\(name) must be a list", param: name) }
            return items
        }
        func located<T>(_ prefix: String, _ body: () throws(GatewayError) -> T) throws(GatewayError) -> T {
            do {
                return try body()
            } catch {
                var error = error
                error.param = prefix + (error.param.map { ".\($0)" } ?? "")
                error.message = "\(prefix): \(error.message)"
                throw error
            }
        }
        func note(_ resource: AdminResource, _ name: String, _ action: String) {
            report.append(.object(["resource": .string(resource.rawValue), "name": .string(name), "action": .string(action)]))
        }
        for (i, doc) in try section("providers").enumerated() {
            var provider = try located("providers[\(i)]") { () throws(GatewayError) in
                try AdminDocuments.provider(Self.withoutMaskedKeys(doc))
            }
            if let existing = current.providers.first(where: { $0.config.name == provider.name }) {
                Self.keepMaskedSecrets(&provider, stored: existing.config)
                let replaceKeys = Self.hasNewKeys(doc)
                var compared = provider
                if !replaceKeys { compared.apiKeys = existing.config.apiKeys }
                if compared == existing.config {
                    note(.providers, provider.name, "unchanged")
                } else {
                    changes.append(.replaceProvider(provider, replaceKeys: replaceKeys, ifVersion: existing.updatedAtMillis))
                    note(.providers, provider.name, "update")
                }
            } else {
                changes.append(.createProvider(provider))
                note(.providers, provider.name, "create")
            }
        }
        for (i, doc) in try section("models").enumerated() {
            let model = try located("models[\(i)]") { () throws(GatewayError) in try AdminDocuments.model(doc) }
            if let existing = current.models.first(where: { $0.config.name == model.name }) {
                if model == existing.config {
                    note(.models, model.name, "unchanged")
                } else {
                    changes.append(.replaceModel(model, ifVersion: existing.updatedAtMillis))
                    note(.models, model.name, "update")
                }
            } else {
                changes.append(.createModel(model))
                note(.models, model.name, "create")
            }
        }
        for (i, doc) in try section("keys").enumerated() {
            let name = doc["name"]?.stringValue ?? ""
            if let existing = current.keys.first(where: { $0.name == name }) {
                if doc["key"] != nil {
                    throw .invalidRequest(
                        "keys[\(i)].key: a key's secret cannot be changed by an import", param: "keys[\(i)].key")
                }
                let key = try located("keys[\(i)]") { () throws(GatewayError) in try AdminDocuments.keySettings(doc) }
                if key == existing.config {
                    note(.keys, name, "unchanged")
                } else {
                    changes.append(.replaceKey(key, ifVersion: existing.updatedAtMillis))
                    note(.keys, name, "update")
                }
            } else {
                var withSecret = doc
                if doc["key"] == nil { withSecret = doc.mergePatched(with: .object(["key": .string(Self.newClientSecret())])) }
                let key = try located("keys[\(i)]") { () throws(GatewayError) in try AdminDocuments.key(withSecret) }
                if key.key.count < 16 {
                    throw .invalidRequest("keys[\(i)].key: must be at least 16 characters long", param: "keys[\(i)].key")
                }
                changes.append(.createKey(key))
                note(.keys, key.name, "create")
                createdKeys.append(.object(["name": .string(key.name), "key": .string(key.key)]))
            }
        }
        if dryRun || changes.isEmpty {
            return .object(["dry_run": .bool(dryRun), "changes": .array(report)])
        }
        let result = try await apply(changes)
        for entry in report where entry["action"]?.stringValue != "unchanged" {
            guard let resourceName = entry["resource"]?.stringValue, let resource = AdminResource(rawValue: resourceName),
                let name = entry["name"]?.stringValue
            else { continue }
            await record(
                "import", resource, name, before: try? Self.entity(resource, name, in: current).body,
                after: try? Self.entity(resource, name, in: result.configuration).body)
        }
        // New keys' secrets, once (they are stored only as hashes).
        return .object(["dry_run": .bool(false), "changes": .array(report), "created_keys": .array(createdKeys)])
    }

    /// A document as readable YAML: strings plain where a YAML reader would read them back
    /// as strings, double-quoted where it would not (`"0"`, `"yes"`, `"null"`,
    /// `"2001-01-01"`: the emitter itself only quotes for syntax, not for type).
    static func yamlNode(_ value: JSONValue) -> Node {
        switch value {
        case .string(let s): return yamlString(s)
        case .array(let items): return Node(items.map(yamlNode))
        case .object(let members):
            return Node(members.sorted { $0.key < $1.key }.map { (yamlString($0.key), yamlNode($0.value)) })
        default: return AdminDocuments.node(value)
        }
    }

    static func yamlString(_ s: String) -> Node {
        Node(s, Tag(.str), plainReadsAsString(s) ? .any : .doubleQuoted)
    }

    /// Whether YAML 1.1 readers would take `s`, written plain, for a string: not when it
    /// could resolve as a number, time, sexagesimal, `.inf`/`.nan`, merge or value key
    /// (all start with a digit, sign, dot, `<` or `=`), null (`~`, empty, `null`) or a
    /// boolean word. Erring towards quoting costs nothing, so the test is by first
    /// character and case-insensitive word, without Yams' resolver (its regular
    /// expressions would keep ICU resident for the life of the process).
    static func plainReadsAsString(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !"0123456789+-.~<=".unicodeScalars.contains(first) else { return false }
        return !["y", "n", "yes", "no", "true", "false", "on", "off", "null"].contains(s.lowercased())
    }

    /// A JSON document, else YAML (read as the config file is, without `${VAR}` expansion).
    static func parseDocument(_ text: String) throws(GatewayError) -> JSONValue {
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.first == "{" {
            return try JSONCoding.decodeRequest(JSONValue.self, from: ByteBuffer(string: text))
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, .basic)
        } catch {
            throw .invalidRequest("The document is neither JSON nor valid YAML.")
        }
        guard let root else { throw .invalidRequest("The document is empty.") }
        guard !root.expands(beyond: Node.maxExpandedNodes) else {
            throw .invalidRequest("The document expands to more than \(Node.maxExpandedNodes) values (YAML aliases).")
        }
        let reader = NodeReader(environment: [:], expandsEnvironment: false)
        return reader.json(root, "")
    }
}
