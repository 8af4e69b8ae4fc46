public import Logging

/// A request's log handler: the server's handler, and the request's id, model and key,
/// which become metadata only when a line is logged.
///
/// Every request's logger carries those three, for the lines anything on its path may
/// log; but a request that succeeds logs nothing at the usual levels. Written into the
/// handler's metadata, they cost a dictionary built and three keys hashed for every
/// request (about 2,500 instructions of a chat request's 230,000); kept here as plain
/// strings, a line that is logged adds them to its own metadata, under which its own
/// keys win, as they would over the handler's.
///
/// Reading ``metadata`` (or one key) gives what the handler's metadata would hold with
/// the three written into it. Changing it writes them into the base handler's metadata
/// first, once, and from then on this handler is the base handler and nothing more.
public struct RequestLogHandler: LogHandler {
    /// The request's own metadata, until something changes the handler's metadata.
    private struct Request: Sendable {
        var id: String
        var model: String
        var key: String

        func value(of name: String) -> Logger.Metadata.Value? {
            switch name {
            case RequestLogHandler.requestIDKey: return .string(id)
            case RequestLogHandler.modelKey: return .string(model)
            case RequestLogHandler.keyKey: return .string(key)
            default: return nil
            }
        }

        /// The three keys added to `metadata`, which keeps its own values for them.
        func adding(to metadata: Logger.Metadata?, overwriting: Bool) -> Logger.Metadata {
            var merged = metadata ?? [:]
            merged.reserveCapacity(merged.count + 3)
            for (name, value) in [
                (RequestLogHandler.requestIDKey, id), (RequestLogHandler.modelKey, model), (RequestLogHandler.keyKey, key),
            ] where overwriting || merged[name] == nil {
                merged[name] = .string(value)
            }
            return merged
        }
    }

    /// The metadata keys the request's fields are logged under.
    public static let requestIDKey = "request.id"
    public static let modelKey = "model"
    public static let keyKey = "key"

    private var base: any LogHandler
    private var request: Request?

    /// `base` with the request's `requestID`, `model` and client `key` (its name).
    public init(base: any LogHandler, requestID: String, model: String, key: String) {
        self.base = base
        self.request = Request(id: requestID, model: model, key: key)
    }

    public var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    public var metadata: Logger.Metadata {
        get { request.map { $0.adding(to: base.metadata, overwriting: true) } ?? base.metadata }
        set {
            request = nil
            base.metadata = newValue
        }
    }

    public subscript(metadataKey name: String) -> Logger.Metadata.Value? {
        get { request?.value(of: name) ?? base[metadataKey: name] }
        set {
            materialize()
            base[metadataKey: name] = newValue
        }
    }

    public func log(event: LogEvent) {
        guard let request else { return base.log(event: event) }
        var event = event
        event.metadata = request.adding(to: event.metadata, overwriting: false)
        base.log(event: event)
    }

    /// Writes the request's fields into the base handler's metadata, as a plain handler
    /// would hold them, before that metadata is changed.
    private mutating func materialize() {
        guard let request else { return }
        self.request = nil
        base.metadata = request.adding(to: base.metadata, overwriting: true)
    }
}
