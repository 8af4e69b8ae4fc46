import Foundation
import OrchestratorCore
import Yams

/// Every problem found in a configuration, one `path: message` per line.
struct ConfigProblems: Error, CustomStringConvertible {
    var problems: [String]
    var description: String { problems.joined(separator: "\n") }
}

/// Reads the YAML config file (DESIGN.md §4) into ``GatewaySettings``.
///
/// `${VAR}` and `${VAR:-default}` inside scalar values are expanded from the
/// environment; an unset variable without a default, an unknown field, a wrong type or
/// an out-of-range value is reported by its path (`providers[2].type: unknown type
/// "opena1"`), and every problem is collected before failing.
struct ConfigLoader {
    let environment: [String: String]

    /// Parses YAML text. An empty document is an empty (valid) configuration.
    func load(yaml text: String) throws(ConfigProblems) -> GatewaySettings {
        let root: Node?
        do {
            // The basic resolver: the reader types every scalar itself, and Yams' default
            // one compiles ICU regular expressions, which alone keeps about 2.5 MiB of
            // ICU resident for the life of the process.
            root = try Yams.compose(yaml: text, .basic)
        } catch {
            throw ConfigProblems(problems: ["(file): invalid YAML: \(error)"])
        }
        if let root, root.expands(beyond: Node.maxExpandedNodes) {
            throw ConfigProblems(problems: ["(file): the document expands to more than \(Node.maxExpandedNodes) values (aliases)"])
        }
        let reader = NodeReader(environment: environment)
        let settings = reader.settings(root)
        if !reader.problems.isEmpty { throw ConfigProblems(problems: reader.problems) }
        return settings
    }

    /// Reads and parses a file.
    func load(file path: String) throws(ConfigProblems) -> GatewaySettings {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigProblems(problems: ["\(path): cannot read the config file"])
        }
        return try load(yaml: String(decoding: data, as: UTF8.self))
    }
}

/// Walks the YAML node tree, building settings and collecting problems.
final class NodeReader {
    let environment: [String: String]
    /// Whether `${VAR}` is expanded: in the config file, not in admin API documents
    /// (where it would let a caller read the gateway's environment).
    let expandsEnvironment: Bool
    private(set) var problems: [String] = []

    init(environment: [String: String], expandsEnvironment: Bool = true) {
        self.environment = environment
        self.expandsEnvironment = expandsEnvironment
    }

    /// Admin documents come from JSON, whose values carry their type (see
    /// `AdminDocuments.node`): there `"rpm": "60"` or `"name": 7` is a type error, where
    /// YAML would read the text.
    var jsonTyped: Bool { !expandsEnvironment }

    /// Whether a JSON-typed scalar has one of `tags` (always true for YAML).
    private func hasType(_ node: Node?, _ path: String, _ tags: [Tag.Name], _ what: String) -> Bool {
        guard jsonTyped, let node, !isNull(node), case .scalar(let s) = node else { return true }
        if tags.contains(where: { $0.rawValue == s.tag.rawValue }) { return true }
        problem(path, "expected \(what)")
        return false
    }

    func problem(_ path: String, _ message: String) {
        problems.append("\(path.isEmpty ? "(root)" : path): \(message)")
    }

    // MARK: Primitives

    /// The members of a mapping, reporting keys not in `allowed`.
    func mapping(_ node: Node?, _ path: String, allowed: Set<String>) -> [String: Node]? {
        guard let node else { return nil }
        if isNull(node) { return nil }
        guard case .mapping(let mapping) = node else {
            problem(path, "expected a mapping")
            return nil
        }
        var out: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                problem(path, "keys must be strings")
                continue
            }
            let childPath = path.isEmpty ? key.string : "\(path).\(key.string)"
            if !allowed.contains(key.string) {
                problem(childPath, "unknown field")
                continue
            }
            if out[key.string] != nil { problem(childPath, "duplicate field") }
            out[key.string] = value
        }
        return out
    }

    func sequence(_ node: Node?, _ path: String) -> [Node]? {
        guard let node, !isNull(node) else { return nil }
        guard case .sequence(let seq) = node else {
            problem(path, "expected a list")
            return nil
        }
        return Array(seq)
    }

    func isNull(_ node: Node) -> Bool {
        if case .scalar(let s) = node, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) {
            return true
        }
        return false
    }

    /// A scalar's text with environment variables expanded.
    func scalar(_ node: Node?, _ path: String) -> String? {
        guard let node, !isNull(node) else { return nil }
        guard case .scalar(let s) = node else {
            problem(path, "expected a single value")
            return nil
        }
        return expand(s.string, path)
    }

    func string(_ node: Node?, _ path: String) -> String? {
        guard hasType(node, path, [.str], "a string") else { return nil }
        return scalar(node, path)
    }

    /// An integer; by default at most 2,147,483,647 (what an INT column holds on MySQL).
    func int(_ node: Node?, _ path: String, min: Int = 0, max: Int = Int(Int32.max)) -> Int? {
        guard hasType(node, path, [.int], "an integer"), let text = scalar(node, path) else { return nil }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            problem(path, "expected an integer, got \"\(text)\"")
            return nil
        }
        guard value >= min && value <= max else {
            problem(path, max == Int.max ? "must be at least \(min)" : "must be between \(min) and \(max)")
            return nil
        }
        return value
    }

    /// A number; by default at most 1e9, so every conversion to an integer count of
    /// milliseconds or micro-dollars fits.
    func double(_ node: Node?, _ path: String, min: Double = 0, max: Double = 1e9) -> Double? {
        guard hasType(node, path, [.int, .float], "a number"), let text = scalar(node, path) else { return nil }
        guard let value = Double(text), value.isFinite else {
            problem(path, "expected a number, got \"\(text)\"")
            return nil
        }
        guard value >= min && value <= max else {
            problem(path, max == .greatestFiniteMagnitude ? "must be at least \(min)" : "must be between \(min) and \(max)")
            return nil
        }
        return value
    }

    func bool(_ node: Node?, _ path: String) -> Bool? {
        guard hasType(node, path, [.bool], "true or false"), let text = scalar(node, path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            problem(path, "expected true or false, got \"\(text)\"")
            return nil
        }
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ node: Node?, _ path: String, _ type: E.Type, what: String) -> E?
    where E.RawValue == String {
        guard let text = string(node, path) else { return nil }
        guard let value = E(rawValue: text) else {
            let options = E.allCases.map(\.rawValue).joined(separator: ", ")
            problem(path, "unknown \(what) \"\(text)\" (expected one of: \(options))")
            return nil
        }
        return value
    }

    func strings(_ node: Node?, _ path: String) -> [String]? {
        guard let items = sequence(node, path) else { return nil }
        return items.enumerated().compactMap { i, item in
            let value = string(item, "\(path)[\(i)]")
            if value == nil, isNull(item) { problem("\(path)[\(i)]", "must not be empty") }
            return value
        }
    }

    func stringMap(_ node: Node?, _ path: String) -> [String: String]? {
        guard let node, !isNull(node) else { return nil }
        guard case .mapping(let mapping) = node else {
            problem(path, "expected a mapping")
            return nil
        }
        var out: [String: String] = [:]
        for (k, v) in mapping {
            guard case .scalar(let key) = k else { continue }
            out[key.string] = string(v, "\(path).\(key.string)") ?? ""
        }
        return out
    }

    /// Any YAML value as JSON (for `extra_body`); scalars keep YAML's typing.
    func json(_ node: Node, _ path: String) -> JSONValue {
        switch node {
        case .scalar(let s):
            if isNull(node) { return .null }
            let text = expand(s.string, path) ?? ""
            if s.style != .plain { return .string(text) }
            if let i = Int64(text) { return .int(i) }
            if let d = Double(text) { return .double(d) }
            switch text {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return .string(text)
            }
        case .sequence(let seq):
            return .array(seq.enumerated().map { json($1, "\(path)[\($0)]") })
        case .mapping(let mapping):
            var out: [String: JSONValue] = [:]
            for (k, v) in mapping {
                guard case .scalar(let key) = k else { continue }
                out[key.string] = json(v, "\(path).\(key.string)")
            }
            return .object(out)
        case .alias:
            problem(path, "YAML aliases are not supported here")
            return .null
        }
    }

    /// Expands `${VAR}` and `${VAR:-default}`.
    func expand(_ text: String, _ path: String) -> String? {
        guard expandsEnvironment, text.contains("${") else { return text }
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                problem(path, "unterminated ${ in \"\(text)\"")
                return nil
            }
            let expression = rest[start.upperBound..<end]
            let name: Substring
            var fallback: Substring?
            if let sep = expression.range(of: ":-") {
                name = expression[..<sep.lowerBound]
                fallback = expression[sep.upperBound...]
            } else {
                name = expression
            }
            if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                problem(path, "environment variable \(name) is not set")
                return nil
            }
            rest = rest[rest.index(after: end)...]
        }
        out += rest
        return out
    }
}

extension Node {
    /// The most values a document may hold once its aliases are expanded: an alias
    /// shares its anchor's node, so a few hundred bytes of nested aliases ("billion
    /// laughs") would otherwise make the reader walk billions of values.
    static let maxExpandedNodes = 200_000

    /// Whether the document holds more than `limit` values, aliases expanded (the count
    /// stops at the limit, so this is cheap on any input).
    func expands(beyond limit: Int) -> Bool {
        var remaining = limit
        func exceeds(_ node: Node) -> Bool {
            remaining -= 1
            if remaining < 0 { return true }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping where exceeds(key) || exceeds(value) { return true }
            case .sequence(let sequence):
                for item in sequence where exceeds(item) { return true }
            default:
                break
            }
            return false
        }
        return exceeds(self)
    }
}
