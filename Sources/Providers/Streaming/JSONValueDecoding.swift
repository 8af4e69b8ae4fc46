import OrchestratorCore

/// Converting between Codable values and ``JSONValue`` trees.
enum JSONValueDecoding {
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try JSONCoding.decode(T.self, from: try JSONCoding.encode(value))
    }

    static func encode(_ value: some Encodable) throws -> JSONValue {
        try JSONCoding.decode(JSONValue.self, from: try JSONCoding.encode(value))
    }

    /// A JSON value as compact text with sorted keys (tool-call arguments); `{}` for none.
    static func compactJSON(_ value: JSONValue?) -> String {
        guard let value else { return "{}" }
        return (try? JSONCoding.encodeString(value)) ?? "{}"
    }
}
