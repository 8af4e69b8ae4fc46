/// Where the configured providers, models and client keys live durably.
///
/// Entries from the config file are upserted by name at every start (`source: file`);
/// entries created through the admin API (`source: api`) are never touched by that.
public protocol ConfigStore: Sendable {
    /// Upserts the file's entries and returns the merged configuration (file + api).
    func syncFromFile(_ settings: GatewaySettings) async throws -> StoredConfiguration
    /// Loads the current configuration.
    func loadConfiguration() async throws -> StoredConfiguration
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

    public init(id: String, config: ModelConfig, source: EntitySource) {
        self.id = id
        self.config = config
        self.source = source
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
