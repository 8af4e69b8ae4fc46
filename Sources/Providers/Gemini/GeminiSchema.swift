import OrchestratorCore

/// JSON Schema ⇄ Gemini's schema (the OpenAPI 3.0 subset its `parameters` and
/// `responseSchema` accept).
///
/// Cleaning keeps only the keywords Gemini's `Schema` knows (see ``allowed``), and
/// rewrites what can be expressed another way: `$ref`s into `$defs`/`definitions` are
/// inlined (recursion is cut off after a few levels), `type: [T, "null"]` and
/// `anyOf: [T, {type: null}]` become `nullable`, `const` a one-value `enum`, `oneOf`
/// an `anyOf`, and enum values strings. Everything else (`additionalProperties`,
/// `$schema`, `examples`, `exclusiveMinimum`, `patternProperties`, `if`/`then`, …) is
/// dropped. docs/gemini.md lists the rules.
enum GeminiSchema {
    static let allowed: Set<String> = [
        "type", "format", "title", "description", "nullable", "default", "items", "minItems", "maxItems", "enum",
        "properties", "propertyOrdering", "required", "minProperties", "maxProperties", "minimum", "maximum",
        "minLength", "maxLength", "pattern", "example", "anyOf",
    ]
    /// How deep `$ref`s are followed before a recursive schema is cut off.
    static let maxRefDepth = 4

    /// A JSON Schema as a Gemini schema.
    static func clean(_ schema: JSONValue) -> JSONValue {
        var definitions: [String: JSONValue] = [:]
        if case .object(let root) = schema {
            for key in ["$defs", "definitions"] {
                if case .object(let defs)? = root[key] { for (name, value) in defs { definitions["#/\(key)/\(name)"] = value } }
            }
        }
        return clean(schema, definitions: definitions, depth: 0)
    }

    private static func clean(_ schema: JSONValue, definitions: [String: JSONValue], depth: Int) -> JSONValue {
        guard case .object(var object) = schema else { return schema }
        if object["$ref"] != nil {
            return clean(resolve(schema, definitions: definitions, depth: depth), definitions: definitions, depth: depth + 1)
        }
        if let constant = object.removeValue(forKey: "const") { object["enum"] = .array([constant]) }
        if object["anyOf"] == nil, let oneOf = object.removeValue(forKey: "oneOf") { object["anyOf"] = oneOf }
        if case .array(let all)? = object.removeValue(forKey: "allOf") {
            // Merge the parts' properties (the common use: composing objects).
            for case .object(let part) in all.map({ resolve($0, definitions: definitions, depth: depth) }) {
                for (key, value) in part where object[key] == nil { object[key] = value }
                if case .object(let props)? = part["properties"], case .object(var merged)? = object["properties"] {
                    for (k, v) in props where merged[k] == nil { merged[k] = v }
                    object["properties"] = .object(merged)
                }
            }
        }
        // `type: ["string", "null"]` → `type: string, nullable: true`.
        if case .array(let types)? = object["type"] {
            let names = types.compactMap(\.stringValue)
            let nonNull = names.filter { $0 != "null" }
            if nonNull.count < names.count { object["nullable"] = .bool(true) }
            if nonNull.count == 1 {
                object["type"] = .string(nonNull[0])
            } else if nonNull.isEmpty {
                object.removeValue(forKey: "type")
            } else {
                object.removeValue(forKey: "type")
                object["anyOf"] = .array(nonNull.map { .object(["type": .string($0)]) })
            }
        }
        // `anyOf: [X, {type: null}]` → X, nullable.
        if case .array(let options)? = object["anyOf"] {
            let nonNull = options.filter { $0["type"]?.stringValue != "null" }
            if nonNull.count < options.count { object["nullable"] = .bool(true) }
            if nonNull.count == 1, case .object(let only) = resolve(nonNull[0], definitions: definitions, depth: depth) {
                object.removeValue(forKey: "anyOf")
                for (key, value) in only where object[key] == nil { object[key] = value }
                // What the option brought in (its own anyOf, a nested $ref) is cleaned like the rest.
                if only["anyOf"] != nil || only["$ref"] != nil || only["allOf"] != nil || only["oneOf"] != nil {
                    return clean(.object(object), definitions: definitions, depth: depth + 1)
                }
            } else {
                object["anyOf"] = .array(nonNull)
            }
        }
        if case .array(let values)? = object["enum"] {
            object["enum"] = .array(values.compactMap { value -> JSONValue? in
                switch value {
                case .string: return value
                case .null: return nil
                default: return .string(JSONValueDecoding.compactJSON(value))
                }
            })
            if object["type"] == nil { object["type"] = .string("string") }
        }
        if object["properties"] != nil, object["type"] == nil { object["type"] = .string("object") }
        var out: [String: JSONValue] = [:]
        for (key, value) in object where allowed.contains(key) {
            switch key {
            case "properties":
                guard case .object(let properties) = value else { continue }
                out[key] = .object(properties.mapValues { clean($0, definitions: definitions, depth: depth) })
            case "items":
                out[key] = clean(value, definitions: definitions, depth: depth)
            case "anyOf":
                guard case .array(let options) = value else { continue }
                out[key] = .array(options.map { clean($0, definitions: definitions, depth: depth) })
            case "required":
                // Only properties that exist (Gemini rejects the others).
                guard case .array(let names) = value else { continue }
                if case .object(let properties)? = object["properties"] {
                    out[key] = .array(names.filter { $0.stringValue.map { properties[$0] != nil } ?? false })
                } else {
                    continue
                }
            case "format":
                // Gemini knows `enum` and `date-time` for strings, int32/int64, float/double.
                let known: Set<String> = ["enum", "date-time", "int32", "int64", "float", "double"]
                if let format = value.stringValue, known.contains(format) { out[key] = value }
            default:
                out[key] = value
            }
        }
        return .object(out)
    }

    /// A `$ref` replaced by its definition (the referring schema's `description` kept);
    /// past ``maxRefDepth`` (a recursive schema) an untyped object stands in.
    private static func resolve(_ schema: JSONValue, definitions: [String: JSONValue], depth: Int) -> JSONValue {
        guard case .object(let object) = schema, let ref = object["$ref"]?.stringValue else { return schema }
        guard depth < maxRefDepth, let target = definitions[ref] else {
            return .object(["type": .string("object"), "description": object["description"] ?? .string("(recursive)")])
        }
        guard case .object(var inlined) = target else { return target }
        if let description = object["description"] { inlined["description"] = description }
        return .object(inlined)
    }

    /// Whether a cleaned schema says nothing (an object without properties): Gemini
    /// then gets no `parameters` at all, as some models reject empty objects.
    static func isEmptyObject(_ schema: JSONValue) -> Bool {
        guard case .object(let object) = schema else { return false }
        let type = object["type"]?.stringValue?.lowercased()
        guard type == nil || type == "object" else { return false }
        if case .object(let properties)? = object["properties"], !properties.isEmpty { return false }
        return object["anyOf"] == nil && object["items"] == nil
    }

    /// A Gemini schema (upper-case types, `nullable`) as JSON Schema for other providers.
    static func toJSONSchema(_ schema: JSONValue) -> JSONValue {
        switch schema {
        case .object(var object):
            let nullable = object.removeValue(forKey: "nullable")?.boolValue == true
            if let type = object["type"]?.stringValue {
                let lower = type.lowercased()
                object["type"] = nullable ? .array([.string(lower), .string("null")]) : .string(lower)
            }
            object.removeValue(forKey: "propertyOrdering")
            if case .object(let properties)? = object["properties"] {
                object["properties"] = .object(properties.mapValues(toJSONSchema))
            }
            if let items = object["items"] { object["items"] = toJSONSchema(items) }
            if case .array(let options)? = object["anyOf"] { object["anyOf"] = .array(options.map(toJSONSchema)) }
            return .object(object)
        default:
            return schema
        }
    }
}
