/// The collections of the admin API.
public enum AdminResource: String, Sendable, Hashable, CaseIterable {
    case providers, models, keys

    /// The singular, for messages.
    public var singular: String {
        switch self {
        case .providers: return "provider"
        case .models: return "model"
        case .keys: return "key"
        }
    }
}

/// One admin document and its version (sent as the `ETag`).
public struct AdminEntity: Sendable {
    public var body: JSONValue
    public var version: Int64

    public init(body: JSONValue, version: Int64) {
        self.body = body
        self.version = version
    }
}

/// One page of a collection.
public struct AdminPage: Sendable {
    public var items: [JSONValue]
    public var nextCursor: String?

    public init(items: [JSONValue], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// What the `/admin` routes do, independent of HTTP: HTTPFront parses requests and
/// renders answers; the daemon implements this over the config store and swaps the live
/// routing snapshot after every write. Documents use the config file's field names
/// (DESIGN.md §4) and never carry a secret, except a client key's, once, on creation.
public protocol AdminService: Sendable {
    func list(_ resource: AdminResource, limit: Int, cursor: String?) async throws(GatewayError) -> AdminPage
    func get(_ resource: AdminResource, _ name: String) async throws(GatewayError) -> AdminEntity
    func create(_ resource: AdminResource, _ body: JSONValue) async throws(GatewayError) -> AdminEntity
    /// Replaces the entity; `ifMatch` is the version the client read (nil: unconditional).
    func replace(_ resource: AdminResource, _ name: String, _ body: JSONValue, ifMatch: Int64?) async throws(GatewayError)
        -> AdminEntity
    /// Applies a JSON merge patch (RFC 7396) to the entity's document.
    func patch(_ resource: AdminResource, _ name: String, _ patch: JSONValue, ifMatch: Int64?) async throws(GatewayError)
        -> AdminEntity
    func delete(_ resource: AdminResource, _ name: String, ifMatch: Int64?) async throws(GatewayError)
    /// Adds one upstream key (`{"key": "…"}`) to a provider's pool; returns the provider.
    func addProviderKey(_ provider: String, _ body: JSONValue) async throws(GatewayError) -> AdminEntity
    /// Enables or disables one upstream key (`{"enabled": bool}`); returns the provider.
    func updateProviderKey(_ provider: String, keyID: String, _ body: JSONValue) async throws(GatewayError) -> AdminEntity
    func removeProviderKey(_ provider: String, keyID: String) async throws(GatewayError)
    /// `GET /admin/config/export`: providers, models and keys as one document (YAML or
    /// JSON), secrets excluded. Returns the content type and the text.
    func exportConfiguration(yaml: Bool) async throws(GatewayError) -> (contentType: String, body: String)
    /// `POST /admin/config/import`: merges a document of that shape by name (YAML or JSON);
    /// with `dryRun` only reports what would change. Applied all or nothing.
    func importConfiguration(_ text: String, dryRun: Bool) async throws(GatewayError) -> JSONValue
    /// `GET /admin/audit`: the admin writes, newest first.
    func audit(limit: Int, cursor: String?, resource: String?, entity: String?) async throws(GatewayError) -> AdminPage
    /// `POST /admin/providers/{name}/check`: probes the provider now, with each key.
    func checkProvider(_ name: String) async throws(GatewayError) -> JSONValue
    /// `POST /admin/providers/batch`: `{"operations": [{"op": "upsert"|"enable"|"disable"|"delete", …}]}`, all or nothing.
    func batchProviders(_ body: JSONValue) async throws(GatewayError) -> JSONValue
}

extension JSONValue {
    /// RFC 7396 JSON merge patch: objects merge recursively, `null` removes a member,
    /// anything else replaces the target.
    public func mergePatched(with patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var result: [String: JSONValue]
        if case .object(let object) = self { result = object } else { result = [:] }
        for (key, value) in changes {
            if value == .null {
                result.removeValue(forKey: key)
            } else {
                result[key] = (result[key] ?? .null).mergePatched(with: value)
            }
        }
        return .object(result)
    }
}
