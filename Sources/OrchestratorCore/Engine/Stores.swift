/// Where the configured providers, models and client keys live durably.
///
/// Entries from the config file are upserted by name at every start (`source: file`);
/// entries created through the admin API (`source: api`) are never touched by that.
public protocol ConfigStore: Sendable {
    /// Upserts the file's entries and returns the merged configuration (file + api).
    func syncFromFile(_ settings: GatewaySettings) async throws -> StoredConfiguration
    /// Loads the current configuration.
    func loadConfiguration() async throws -> StoredConfiguration
    /// Applies admin changes all or nothing (one transaction) and returns the new
    /// configuration, with the ids of what the changes created.
    /// - Throws: ``ConfigChangeError`` for a missing entity, a name conflict, an entity
    ///   still in use, or a stale version; other errors for the database.
    func apply(_ changes: [ConfigChange]) async throws -> ConfigChangeResult
    /// The configuration with the change counter it was read at (one consistent read).
    func loadVersionedConfiguration() async throws -> (version: Int64, configuration: StoredConfiguration)
    /// The change counter alone: cheap enough to poll every second.
    func configurationVersion() async throws -> Int64
}

/// One admin API write, as the audit log keeps it.
public struct AuditEntry: Sendable, Hashable {
    public var id: String
    public var timestampMillis: Int64
    /// Who: the admin key's name (`admin:` and the first characters of its hash).
    public var actor: String
    /// What: `create`, `replace`, `patch`, `delete`, `add_key`, `enable_key`, `disable_key`, `remove_key`, `batch`.
    public var action: String
    public var resource: String
    public var entity: String
    /// The entity's admin document before and after (secret-free); nil when it did not exist.
    public var before: JSONValue?
    public var after: JSONValue?

    public init(
        id: String = RequestID.generate(), timestampMillis: Int64, actor: String, action: String, resource: String, entity: String,
        before: JSONValue?, after: JSONValue?
    ) {
        self.id = id
        self.timestampMillis = timestampMillis
        self.actor = actor
        self.action = action
        self.resource = resource
        self.entity = entity
        self.before = before
        self.after = after
    }
}

/// Where admin writes are recorded.
public protocol AuditStore: Sendable {
    func appendAudit(_ entries: [AuditEntry]) async throws
    /// Newest first; `cursor` continues after an entry (its time and id).
    func audit(limit: Int, after cursor: (timestampMillis: Int64, id: String)?, resource: String?, entity: String?) async throws
        -> [AuditEntry]
}

/// One change to the stored configuration, made through the admin API (`source: api`).
/// `ifVersion` is the `updated_at` the client saw (its `If-Match`): a newer one is a conflict.
public enum ConfigChange: Sendable, Hashable {
    case createProvider(ProviderConfig)
    /// Replaces a provider; without `replaceKeys` its stored upstream keys stay.
    case replaceProvider(ProviderConfig, replaceKeys: Bool, ifVersion: Int64?)
    case deleteProvider(name: String, ifVersion: Int64?)
    /// Switches a provider on or off, leaving the rest of it as it is when applied.
    case setProviderEnabled(name: String, enabled: Bool)
    case addProviderKey(provider: String, secret: String)
    case setProviderKeyEnabled(provider: String, keyID: String, enabled: Bool)
    case removeProviderKey(provider: String, keyID: String)
    case createModel(ModelConfig)
    case replaceModel(ModelConfig, ifVersion: Int64?)
    case deleteModel(name: String, ifVersion: Int64?)
    /// Creates a client key; `config.key` is its secret (stored hashed).
    case createKey(ClientKeyConfig)
    /// Replaces a client key's settings; its secret stays.
    case replaceKey(ClientKeyConfig, ifVersion: Int64?)
    case deleteKey(name: String, ifVersion: Int64?)
}

/// What ``ConfigStore/apply(_:)`` returns.
public struct ConfigChangeResult: Sendable {
    public var configuration: StoredConfiguration
    /// Ids of the upstream keys added, in change order.
    public var addedKeyIDs: [String]
    /// Upstream keys an operator enabled (any refusal of theirs is cleared): (provider, key id).
    public var enabledKeys: [(provider: String, keyID: String)]
    /// The change counter ``configuration`` was read at.
    public var version: Int64

    public init(
        configuration: StoredConfiguration, addedKeyIDs: [String] = [], enabledKeys: [(provider: String, keyID: String)] = [],
        version: Int64 = 0
    ) {
        self.configuration = configuration
        self.addedKeyIDs = addedKeyIDs
        self.enabledKeys = enabledKeys
        self.version = version
    }
}

/// Why a configuration change was refused.
public struct ConfigChangeError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The entity does not exist (404).
        case notFound
        /// A name is taken, or the entity is still in use (409).
        case conflict
        /// The entity changed since the version the client saw (412).
        case versionMismatch
        /// The change is invalid (400), `param` naming the field.
        case invalid
    }

    public var kind: Kind
    public var message: String
    public var param: String?

    public init(_ kind: Kind, _ message: String, param: String? = nil) {
        self.kind = kind
        self.message = message
        self.param = param
    }

    public var description: String { message }
}

/// The durable configuration: what the routing snapshot is built from.
public struct StoredConfiguration: Sendable, Hashable {
    public var providers: [StoredProvider]
    public var models: [StoredModel]
    public var keys: [StoredClientKey]

    public init(providers: [StoredProvider] = [], models: [StoredModel] = [], keys: [StoredClientKey] = []) {
        self.providers = providers
        self.models = models
        self.keys = keys
    }
}

/// Where an entity came from.
public enum EntitySource: String, Sendable, Hashable, Codable {
    case file, api
}

public struct StoredProvider: Sendable, Hashable {
    public var id: String
    public var config: ProviderConfig
    public var source: EntitySource
    public var createdAtMillis: Int64
    public var updatedAtMillis: Int64
    /// Upstream keys (decrypted in memory), with their ids and state.
    public var keys: [StoredUpstreamKey]

    public init(
        id: String, config: ProviderConfig, source: EntitySource, createdAtMillis: Int64, updatedAtMillis: Int64,
        keys: [StoredUpstreamKey]
    ) {
        self.id = id
        self.config = config
        self.source = source
        self.createdAtMillis = createdAtMillis
        self.updatedAtMillis = updatedAtMillis
        self.keys = keys
    }
}

public struct StoredUpstreamKey: Sendable, Hashable {
    public var id: String
    public var secret: String
    /// Whether an operator enabled the key (an admin switch).
    public var enabled: Bool
    /// Health state: `active`, or `disabled` after the upstream refused it.
    public var state: String
    public var lastError: String?

    public init(id: String, secret: String, enabled: Bool, state: String = "active", lastError: String? = nil) {
        self.id = id
        self.secret = secret
        self.enabled = enabled
        self.state = state
        self.lastError = lastError
    }

    /// The last four characters, the only part of a secret ever shown.
    public var last4: String { String(secret.suffix(4)) }
}

public struct StoredModel: Sendable, Hashable {
    public var id: String
    public var config: ModelConfig
    public var source: EntitySource
    public var createdAtMillis: Int64
    public var updatedAtMillis: Int64

    public init(id: String, config: ModelConfig, source: EntitySource, createdAtMillis: Int64 = 0, updatedAtMillis: Int64 = 0) {
        self.id = id
        self.config = config
        self.source = source
        self.createdAtMillis = createdAtMillis
        self.updatedAtMillis = updatedAtMillis
    }
}

/// A client key as stored: its hash, never its secret.
public struct StoredClientKey: Sendable, Hashable {
    public var id: String
    public var name: String
    /// Hex SHA-256 of the secret.
    public var keyHash: String
    /// The first characters of the secret, for recognising it in lists.
    public var prefix: String
    public var config: ClientKeyConfig
    public var source: EntitySource
    public var createdAtMillis: Int64 = 0
    public var updatedAtMillis: Int64 = 0
    /// Usage counted against the key's budgets, and when it was last used.
    public var usedTokens: Int64 = 0
    public var usedMicros: Int64 = 0
    public var lastUsedAtMillis: Int64?

    public init(id: String, name: String, keyHash: String, prefix: String, config: ClientKeyConfig, source: EntitySource) {
        self.id = id
        self.name = name
        self.keyHash = keyHash
        self.prefix = prefix
        self.config = config
        self.source = source
    }
}

/// Health state persisted per provider target, so circuit state survives restarts.
public protocol HealthStore: Sendable {
    func saveHealth(_ record: HealthRecord) async throws
    func loadHealth() async throws -> [HealthRecord]
    /// Persists a key's health state (loaded back with the configuration).
    func saveKeyHealth(_ record: KeyHealthRecord) async throws
}

public struct HealthRecord: Sendable, Hashable {
    public var provider: String
    public var upstreamModel: String
    public var state: String
    public var consecutiveFailures: Int
    public var lastError: String?
    public var updatedAtMillis: Int64

    public init(
        provider: String, upstreamModel: String, state: String, consecutiveFailures: Int, lastError: String?,
        updatedAtMillis: Int64
    ) {
        self.provider = provider
        self.upstreamModel = upstreamModel
        self.state = state
        self.consecutiveFailures = consecutiveFailures
        self.lastError = lastError
        self.updatedAtMillis = updatedAtMillis
    }
}

/// Reachability of the store, for `/readyz`.
public protocol ReadinessProbe: Sendable {
    func isReady() async -> Bool
}
