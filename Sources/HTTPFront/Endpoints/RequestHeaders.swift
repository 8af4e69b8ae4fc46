import HTTPTypes
import OrchestratorCore

/// A request's header fields as its front door has them: Hummingbird's `HTTPFields`, or
/// the data plane's field lines, still the bytes they arrived as (read by name when
/// asked, so a request pays for the few fields the gateway reads, not for all of them).
struct RequestHeaders: Sendable {
    private enum Storage: Sendable {
        case fields(HTTPFields)
        case raw(HTTP1RawFields)
    }

    private let storage: Storage

    init(_ fields: HTTPFields) {
        storage = .fields(fields)
    }

    init(raw: HTTP1RawFields) {
        storage = .raw(raw)
    }

    /// The value of the first field named `name`.
    func firstValue(_ name: HTTPField.Name) -> String? {
        switch storage {
        case .fields(let fields): return fields.firstValue(name)
        case .raw(let raw): return raw.firstValue(name)
        }
    }

    /// The values of the fields named `name`, joined as `HTTPFields` joins them.
    subscript(name: HTTPField.Name) -> String? {
        switch storage {
        case .fields(let fields): return fields[name]
        case .raw(let raw): return raw[name]
        }
    }
}
