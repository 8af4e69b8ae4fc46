public import Foundation

/// The gateway's whole configuration, as the config file (DESIGN.md §4) describes it.
///
/// Reading it from YAML and the environment lives in `orchestratord`; every field
/// here has the documented default, so `GatewaySettings()` is a valid empty gateway.
public struct GatewaySettings: Sendable, Hashable {
    public var server = ServerSettings()
    public var admin = AdminSettings()
    public var database = DatabaseSettings()
    public var redis: RedisSettings?
    public var routing = RoutingSettings()
    public var health = HealthSettings()
    public var keys: [ClientKeyConfig] = []
    public var providers: [ProviderConfig] = []
    public var models: [ModelConfig] = []

    public init() {}
}

public struct ServerSettings: Sendable, Hashable {
    public var host = "127.0.0.1"
    public var port = 8000
    public var maxBodyBytes = 20 * 1024 * 1024
    public var corsOrigins: [String] = ["*"]
    /// Seconds a connection may stay idle (no request in flight) before it is closed.
    public var idleTimeoutSeconds: Double = 75
    /// Seconds in-flight requests get to finish after a shutdown signal.
    public var shutdownGraceSeconds: Double = 30
    /// API requests served at once; beyond it a request is answered 503 at once.
    public var maxInFlight = 1024
    /// Client connections open at once; beyond it a new connection is closed at once.
    public var maxConnections = 8192
    /// From a request's first byte, seconds its head may take to arrive (slow clients).
    public var headerTimeoutSeconds: Double = 10
    /// From a request's first byte, seconds the whole request may take to arrive.
    public var requestReadTimeoutSeconds: Double = 60
    /// Seconds a stream to a client may stay silent before a `: ping` comment is sent.
    public var streamKeepAliveSeconds: Double = 15
    public init() {}
}

public struct AdminSettings: Sendable, Hashable {
    public var key: String?
    public init(key: String? = nil) { self.key = key }
}

public struct DatabaseSettings: Sendable, Hashable {
    public var url = "sqlite://./data/orchestrator.db"
    public var logRetentionDays = 30
    public init() {}
}

public struct RedisSettings: Sendable, Hashable {
    public var url: String
    public init(url: String) { self.url = url }
}

/// How the balancer orders targets inside one priority tier.
public enum RoutingStrategy: String, Sendable, Hashable, Codable, CaseIterable {
    case weightedRandom = "weighted_random"
    case roundRobin = "round_robin"
    case leastLatency = "least_latency"
}

public struct RoutingSettings: Sendable, Hashable {
    public var strategy: RoutingStrategy = .weightedRandom
    public var maxAttempts = 3
    public var backoffInitialMs = 200
    public var backoffMaxMs = 5000
    /// Whole-request deadline in seconds.
    public var timeoutSeconds: Double = 300
    public init() {}
}

public struct HealthSettings: Sendable, Hashable {
    public var checkIntervalSeconds: Double = 300
    public var failureThreshold = 3
    public var cooldownSeconds: Double = 30
    public init() {}
}

public enum BudgetPeriod: String, Sendable, Hashable, Codable, CaseIterable {
    case daily, monthly, total
}

/// A client key declared in the config file or created through the admin API.
public struct ClientKeyConfig: Sendable, Hashable {
    public var name: String
    /// The secret. Only present for keys read from the file; never returned by the admin API.
    public var key: String
    public var models: [String] = ["*"]
    public var rpm = 0
    public var tpm = 0
    public var maxConcurrency = 0
    public var budgetUSD: Double = 0
    public var budgetTokens: Int64 = 0
    public var budgetPeriod: BudgetPeriod = .monthly
    public var expiresAt: Date?
    public var enabled = true
    public var logBodies = false
    public var metadata: [String: String] = [:]

    public init(name: String, key: String) {
        self.name = name
        self.key = key
    }
}

/// The provider types the gateway knows.
public enum ProviderType: String, Sendable, Hashable, Codable, CaseIterable {
    case openai, azure, anthropic, gemini, bedrock, cohere, mock
}

public enum KeyStrategy: String, Sendable, Hashable, Codable, CaseIterable {
    case roundRobin = "round_robin"
    case random
    case leastUsed = "least_used"
}

/// How an `azure` provider authenticates.
public enum AzureAuth: String, Sendable, Hashable, Codable, CaseIterable {
    /// The key in the `api-key` header.
    case apiKey = "api_key"
    /// The key is a Microsoft Entra ID access token, sent as `Authorization: Bearer`.
    case entra
}

/// Canned behaviour of a `mock` provider (for demos and tests).
public struct MockSettings: Sendable, Hashable {
    /// The assistant text every completion answers with.
    public var reply = "This is a mock reply from Orchestrator."
    /// Delay before the response (or before a stream starts).
    public var latencyMs = 0
    /// Probability in 0…1 that a call fails with a retryable 503.
    public var failureRate: Double = 0
    public init() {}
}

/// An upstream provider account: where it is, how to authenticate, and its limits.
///
/// A value, with its fields behind one reference (copied on write): every request's
/// attempt carries its provider's configuration (in `ProviderCall`), and a copy of
/// twenty fields was a retain and a release for each of its strings and collections,
/// on objects every event loop shares. Two configurations that share their fields
/// are equal at once.
public struct ProviderConfig: Sendable, Hashable {
    private struct Fields: Sendable, Hashable {
        var name: String
        var type: ProviderType
        var baseURL: String
        var apiKeys: [String] = []
        var keyStrategy: KeyStrategy = .roundRobin
        var headers: [String: String] = [:]
        var httpProxy: String = ""
        var timeoutSeconds: Double = 120
        var streamIdleTimeoutSeconds: Double = 120
        var rpm: Int = 0
        var tpm: Int = 0
        var tlsCAFile: String = ""
        var enabled: Bool = true
        var apiVersion: String?
        var azureAuth: AzureAuth = .apiKey
        var fetchImageURLs: Bool = false
        var region: String?
        var accessKeyID: String?
        var secretAccessKey: String?
        var sessionToken: String?
        var mock: MockSettings?
    }

    /// Mutated only while uniquely referenced (see ``fields``).
    private final class Storage: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var storage: Storage

    private var fields: Fields {
        _read { yield storage.fields }
        _modify {
            if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
            yield &storage.fields
        }
    }

    public var name: String {
        _read { yield storage.fields.name }
        _modify { yield &fields.name }
    }
    public var type: ProviderType {
        _read { yield storage.fields.type }
        _modify { yield &fields.type }
    }
    public var baseURL: String {
        _read { yield storage.fields.baseURL }
        _modify { yield &fields.baseURL }
    }
    public var apiKeys: [String] {
        _read { yield storage.fields.apiKeys }
        _modify { yield &fields.apiKeys }
    }
    public var keyStrategy: KeyStrategy {
        _read { yield storage.fields.keyStrategy }
        _modify { yield &fields.keyStrategy }
    }
    public var headers: [String: String] {
        _read { yield storage.fields.headers }
        _modify { yield &fields.headers }
    }
    public var httpProxy: String {
        _read { yield storage.fields.httpProxy }
        _modify { yield &fields.httpProxy }
    }
    /// Per-attempt timeout until the response head, seconds.
    public var timeoutSeconds: Double {
        _read { yield storage.fields.timeoutSeconds }
        _modify { yield &fields.timeoutSeconds }
    }
    /// Longest silence between upstream stream chunks, seconds.
    public var streamIdleTimeoutSeconds: Double {
        _read { yield storage.fields.streamIdleTimeoutSeconds }
        _modify { yield &fields.streamIdleTimeoutSeconds }
    }
    public var rpm: Int {
        _read { yield storage.fields.rpm }
        _modify { yield &fields.rpm }
    }
    public var tpm: Int {
        _read { yield storage.fields.tpm }
        _modify { yield &fields.tpm }
    }
    public var tlsCAFile: String {
        _read { yield storage.fields.tlsCAFile }
        _modify { yield &fields.tlsCAFile }
    }
    public var enabled: Bool {
        _read { yield storage.fields.enabled }
        _modify { yield &fields.enabled }
    }
    /// Azure: `api-version` query parameter.
    public var apiVersion: String? {
        _read { yield storage.fields.apiVersion }
        _modify { yield &fields.apiVersion }
    }
    /// Azure: how the pool's keys are sent (`api-key` header, or an Entra ID bearer token).
    public var azureAuth: AzureAuth {
        _read { yield storage.fields.azureAuth }
        _modify { yield &fields.azureAuth }
    }
    /// Gemini: whether http(s) image URLs are fetched by the gateway and sent inline
    /// (Gemini takes no image URLs); without it such a request is a 400.
    public var fetchImageURLs: Bool {
        _read { yield storage.fields.fetchImageURLs }
        _modify { yield &fields.fetchImageURLs }
    }
    /// Bedrock: AWS region and credentials.
    public var region: String? {
        _read { yield storage.fields.region }
        _modify { yield &fields.region }
    }
    public var accessKeyID: String? {
        _read { yield storage.fields.accessKeyID }
        _modify { yield &fields.accessKeyID }
    }
    public var secretAccessKey: String? {
        _read { yield storage.fields.secretAccessKey }
        _modify { yield &fields.secretAccessKey }
    }
    public var sessionToken: String? {
        _read { yield storage.fields.sessionToken }
        _modify { yield &fields.sessionToken }
    }
    /// Mock: canned behaviour.
    public var mock: MockSettings? {
        _read { yield storage.fields.mock }
        _modify { yield &fields.mock }
    }

    public static func == (lhs: ProviderConfig, rhs: ProviderConfig) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    public func hash(into hasher: inout Hasher) { storage.fields.hash(into: &hasher) }

    public init(name: String, type: ProviderType, baseURL: String = "") {
        storage = Storage(Fields(name: name, type: type, baseURL: baseURL))
    }

    /// The Azure `api-version` used when a provider sets none (the newest GA version).
    public static let defaultAzureAPIVersion = "2024-10-21"

    /// The base URL a type uses when the config gives none.
    public static func defaultBaseURL(for type: ProviderType) -> String {
        switch type {
        case .openai: return "https://api.openai.com/v1"
        case .anthropic: return "https://api.anthropic.com"
        case .gemini: return "https://generativelanguage.googleapis.com/v1beta"
        case .cohere: return "https://api.cohere.com"
        case .azure, .bedrock, .mock: return ""
        }
    }
}

/// Prices in USD per million tokens.
public struct Price: Sendable, Hashable, Codable {
    public var inputPerMTok: Double
    public var outputPerMTok: Double
    public var cachedInputPerMTok: Double?

    public init(inputPerMTok: Double, outputPerMTok: Double, cachedInputPerMTok: Double? = nil) {
        self.inputPerMTok = inputPerMTok
        self.outputPerMTok = outputPerMTok
        self.cachedInputPerMTok = cachedInputPerMTok
    }

    /// The cost of `usage` in integer micro-dollars. Cached prompt tokens are billed at
    /// the cached price (or the input price when none is set).
    public func costMicros(for usage: Usage) -> Int64 {
        let cached = max(0, min(usage.cachedTokens ?? 0, usage.promptTokens))
        let uncached = usage.promptTokens - cached
        let micros =
            Double(uncached) * inputPerMTok + Double(cached) * (cachedInputPerMTok ?? inputPerMTok)
            + Double(usage.completionTokens) * outputPerMTok
        // USD per 1M tokens × tokens = micro-dollars (clamped: counts come from upstreams).
        guard micros.isFinite else { return 0 }
        return Int64(exactly: micros.rounded()) ?? (micros > 0 ? .max : 0)
    }
}

/// One way to serve a model alias: a provider and its upstream model name.
public struct TargetConfig: Sendable, Hashable {
    public var provider: String
    public var model: String
    public var weight = 1
    public var priority = 0
    /// nil = every capability.
    public var capabilities: Set<Capability>?
    public var extraBody: [String: JSONValue] = [:]
    public var maxTokensDefault: Int?
    public var price: Price?

    public init(provider: String, model: String, weight: Int = 1, priority: Int = 0) {
        self.provider = provider
        self.model = model
        self.weight = weight
        self.priority = priority
    }
}

/// A model alias clients request, and the targets that serve it.
public struct ModelConfig: Sendable, Hashable {
    public var name: String
    public var strategy: RoutingStrategy?
    public var targets: [TargetConfig]
    public var price: Price?

    public init(name: String, targets: [TargetConfig], strategy: RoutingStrategy? = nil, price: Price? = nil) {
        self.name = name
        self.targets = targets
        self.strategy = strategy
        self.price = price
    }
}
