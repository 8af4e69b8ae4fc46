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
    struct Key: Equatable, Sendable {
        var operation: APIOperation
        var stream: Bool
        var apiKey: String?
        /// The target's model where it is part of the URL (Azure's deployments).
        var deployment: String?
        var provider: ProviderConfig

        /// Cheap fields first: most entries that differ do in the key or the flags.
        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.operation == rhs.operation && lhs.stream == rhs.stream && lhs.apiKey == rhs.apiKey
                && lhs.deployment == rhs.deployment && lhs.provider == rhs.provider
        }
    }

    static let limit = 64

    private let entries = Mutex<[(key: Key, request: TransportRequest)]>([])

    /// The request for `key`, built by `build` (and kept) the first time.
    func request(for key: Key, build: () throws(GatewayError) -> TransportRequest) throws(GatewayError)
        -> TransportRequest
    {
        if let known = entries.withLock({ entries in entries.first { $0.key == key }?.request }) { return known }
        let built = try build()
        entries.withLock { entries in
            if entries.count >= Self.limit { entries.removeAll(keepingCapacity: true) }
            if !entries.contains(where: { $0.key == key }) { entries.append((key, built)) }
        }
        return built
    }

    /// How many requests are kept (for tests).
    var count: Int { entries.withLock { $0.count } }
}
