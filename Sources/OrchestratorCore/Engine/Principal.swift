/// The caller of a request, as authenticated by its client key.
public struct Principal: Sendable, Hashable {
    /// Stable id of the key (for config keys, `file:<name>`).
    public var keyID: String
    /// The key's display name.
    public var name: String
    /// Model globs the key may use (`*` matches all).
    public var allowedModels: [String]
    /// Whether request and response bodies are logged for this key.
    public var logBodies: Bool
    /// Rate limits, concurrency and budget (enforced by the engine's ``KeyLimits`` checks).
    public var limits: KeyLimits

    public init(
        keyID: String, name: String, allowedModels: [String] = ["*"], logBodies: Bool = false, limits: KeyLimits = .none
    ) {
        self.keyID = keyID
        self.name = name
        self.allowedModels = allowedModels
        self.logBodies = logBodies
        self.limits = limits
    }

    /// The caller when no client key is configured and the gateway listens on loopback only.
    public static let anonymous = Principal(keyID: "anonymous", name: "anonymous")

    /// Whether the key may use `model` (glob match: `*` and `?`).
    public func mayUse(model: String) -> Bool {
        allowedModels.contains { Glob.matches(pattern: $0, value: model) }
    }
}

/// Minimal glob matching over characters: `*` any run, `?` one character.
public enum Glob {
    public static func matches(pattern: String, value: String) -> Bool {
        if pattern == "*" { return true }
        let p = Array(pattern)
        let v = Array(value)
        var pi = 0
        var vi = 0
        var starP = -1
        var starV = 0
        while vi < v.count {
            if pi < p.count, p[pi] == "?" || p[pi] == v[vi] {
                pi += 1
                vi += 1
            } else if pi < p.count, p[pi] == "*" {
                starP = pi
                starV = vi
                pi += 1
            } else if starP >= 0 {
                pi = starP + 1
                starV += 1
                vi = starV
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
