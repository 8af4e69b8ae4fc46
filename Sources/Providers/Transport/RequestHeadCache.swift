import OrchestratorCore
import Synchronization

/// The upstream requests an adapter built before, without their bodies, each with what
/// the transport prepared for its head (``HTTPTransport/prepare(_:)``).
///
/// A provider's calls with one key, of one operation, streaming or not, all go out with
/// the same method, URL and fields. Built for every call, that head cost about 13,000
/// instructions of a chat request's 230,000: the fields collection and its checks, the
/// `Authorization` value, the URL string, then its lookup, and the head serialized field
/// by field. From here a call copies the request and sets its body; the transport copies
/// the prepared bytes.
///
/// An entry is found by everything its head is made of: the operation, the stream flag,
/// the key, the provider's whole configuration (a changed base URL, header, API version
/// or proxy builds a new one) and, for Azure, the deployment. Each adapter has its own
/// cache, and the gateway makes new adapters whenever the providers change, so a cache
/// holds a handful of entries; it is emptied when it reaches ``limit`` (a provider with
/// very many keys), so it never grows without bound.
final class RequestHeadCache: Sendable {
    /// What a request's head is made of.
    struct Key: Sendable {
        var operation: APIOperation
        var stream: Bool
        var apiKey: String?
        /// The target's model where it is part of the URL (Azure's deployments).
        var deployment: String?
        var provider: ProviderConfig

        /// Compared with the call's own values in place, cheap fields first (most entries
        /// that differ do in the key or the flags): a `Key` made for every lookup copied
        /// the provider's configuration, a retain and a release for each of its strings.
        func matches(
            _ operation: APIOperation, _ stream: Bool, _ apiKey: String?, _ deployment: String?, _ provider: ProviderConfig
        ) -> Bool {
            self.operation == operation && self.stream == stream && self.apiKey == apiKey
                && self.deployment == deployment && self.provider == provider
        }
    }

    static let limit = 64

    /// A struct, not a tuple: a tuple's copies and destroys go through the runtime's
    /// generic tuple witnesses, and reading an entry's key copied the whole entry.
    private struct Entry {
        var key: Key
        var request: TransportRequest
    }

    private let entries = Mutex<[Entry]>([])

    /// The request for these values, built by `build` (and kept) the first time.
    func request(
        operation: APIOperation, stream: Bool, apiKey: String?, deployment: String?, provider: ProviderConfig,
        build: () throws(GatewayError) -> TransportRequest
    ) throws(GatewayError) -> TransportRequest {
        // By index: iterating the entries (`first(where:)`, `firstIndex(where:)`) copies
        // each one out, its key with the provider's configuration included.
        let known = entries.withLock { entries -> TransportRequest? in
            for index in entries.indices where entries[index].key.matches(operation, stream, apiKey, deployment, provider) {
                return entries[index].request
            }
            return nil
        }
        if let known { return known }
        let built = try build()
        entries.withLock { entries in
            if entries.count >= Self.limit { entries.removeAll(keepingCapacity: true) }
            if !entries.contains(where: { $0.key.matches(operation, stream, apiKey, deployment, provider) }) {
                let key = Key(operation: operation, stream: stream, apiKey: apiKey, deployment: deployment, provider: provider)
                entries.append(Entry(key: key, request: built))
            }
        }
        return built
    }

    /// How many requests are kept (for tests).
    var count: Int { entries.withLock { $0.count } }
}
