public import HTTPTypes
public import Logging
public import NIOCore

/// One upstream HTTP call: the seam between adapters and the network.
///
/// The production transport is the gateway's own SwiftNIO client (`NIOHTTPTransport`
/// in `Providers`); tests inject fakes or point it at loopback servers.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns once the response head arrived (or `deadline` passed).
    ///
    /// The body must be consumed or dropped; dropping it cancels the request.
    func execute(_ request: TransportRequest, deadline: ContinuousClock.Instant, logger: Logger) async throws
        -> TransportResponse

    /// What this transport would make of `request`'s method, URL, fields and CA file for
    /// every request that has the same, done once: a caller that sends one head again and again
    /// (an adapter, to one provider with one key) keeps it in ``TransportRequest/prepared``.
    /// nil (the default) when the transport has nothing to prepare or cannot send the
    /// request; ``execute(_:deadline:logger:)`` then reports why.
    func prepare(_ request: TransportRequest) -> (any PreparedRequestHead)?
}

extension HTTPTransport {
    public func prepare(_ request: TransportRequest) -> (any PreparedRequestHead)? { nil }
}

/// A request head as a transport prepared it (see ``HTTPTransport/prepare(_:)``); opaque
/// to everyone else.
public protocol PreparedRequestHead: AnyObject, Sendable {}

public struct TransportRequest: Sendable {
    public var method: HTTPRequest.Method { didSet { prepared = nil } }
    public var url: String { didSet { prepared = nil } }
    public var headers: HTTPFields { didSet { prepared = nil } }
    /// The transport's preparation of this request's method, URL, fields and CA file,
    /// when the sender kept one; any change to those four drops it.
    public var prepared: (any PreparedRequestHead)?
    public var body: ByteBuffer?
    /// Longest silence allowed between body chunks of the response.
    public var idleTimeout: Duration?
    /// A PEM file of CA certificates to trust besides the system's (a provider's `tls.ca_file`).
    public var caFile: String? { didSet { prepared = nil } }
    /// The proxy to reach the upstream through (`http://[user:pass@]host:port` or
    /// `socks5://host:port`; a provider's `http_proxy`).
    public var proxy: String?

    public init(
        method: HTTPRequest.Method = .post, url: String, headers: HTTPFields = [:], body: ByteBuffer? = nil,
        idleTimeout: Duration? = nil, caFile: String? = nil, proxy: String? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.idleTimeout = idleTimeout
        self.caFile = caFile
        self.proxy = proxy
    }
}

public struct TransportResponse: Sendable {
    public var status: Int
    public var body: ErasedAsyncSequence<ByteBuffer>
    private var storedHeaders: Headers

    /// The header fields as a transport gives them: built, or the bytes they came in.
    private enum Headers: Sendable {
        case fields(HTTPFields)
        case raw(HTTP1RawFields)
    }

    /// Every header field. When the transport kept the head's bytes, each read builds
    /// them; read single fields with ``firstValue(_:)``.
    public var headers: HTTPFields {
        get {
            switch storedHeaders {
            case .fields(let fields): fields
            case .raw(let raw): raw.fields
            }
        }
        set { storedHeaders = .fields(newValue) }
    }

    public init(status: Int, headers: HTTPFields, body: ErasedAsyncSequence<ByteBuffer>) {
        self.status = status
        self.storedHeaders = .fields(headers)
        self.body = body
    }

    /// A response whose header fields stay as the bytes they came in until read.
    public init(status: Int, rawHeaders: HTTP1RawFields, body: ErasedAsyncSequence<ByteBuffer>) {
        self.status = status
        self.storedHeaders = .raw(rawHeaders)
        self.body = body
    }

    /// The value of the first header field named `name`, or nil.
    public func firstValue(_ name: HTTPField.Name) -> String? {
        switch storedHeaders {
        case .fields(let fields): fields.firstValue(name)
        case .raw(let raw): raw.firstValue(name)
        }
    }

    /// Reads the whole body, failing when it exceeds `limit` bytes.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        // A body that arrives in one read (most do) is kept as it came, uncopied.
        var result: ByteBuffer?
        // The iterator's own `next()`, not `for try await`: the loop calls `next` through
        // the protocol and hops to the task's executor after every element (a
        // `swift_task_switch`, which takes the task's status lock, twice per response).
        var chunks = body.makeAsyncIterator()
        while var chunk = try await chunks.next() {
            if (result?.readableBytes ?? 0) + chunk.readableBytes > limit { throw BodyTooLarge(limit: limit) }
            if var collected = result.take() {  // taken out: no copy-on-write while appending
                collected.writeBuffer(&chunk)
                result = collected
            } else {
                result = chunk
            }
        }
        return result ?? ByteBuffer()
    }

    public struct BodyTooLarge: Error, Sendable {
        public var limit: Int
    }
}

/// Classified transport failures, so adapters map them without knowing the client library.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case connect, timeout, idleTimeout, tls, closed, other
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind): \(message)" }
}
