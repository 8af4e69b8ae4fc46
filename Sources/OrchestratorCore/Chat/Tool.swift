/// A tool the model may call (`{"type":"function","function":{…}}`).
public struct Tool: Sendable, Hashable, Codable {
    public var type: String
    public var function: FunctionDefinition?
    public var extra: [String: JSONValue]

    public init(type: String = "function", function: FunctionDefinition?, extra: [String: JSONValue] = [:]) {
        self.type = type
        self.function = function
        self.extra = extra
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.type = try c.required(String.self, "type")
        if type == "function" {
            self.function = try c.required(FunctionDefinition.self, "function")
        } else {
            self.function = try c.optional(FunctionDefinition.self, "function")
        }
        self.extra = try c.unknownFields(excluding: ["type", "function"])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(type, "type")
        try c.put(function, "function")
        try c.putUnknown(extra)
    }
}

/// A function's name, description and JSON Schema parameters.
public struct FunctionDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var description: String?
    public var parameters: JSONValue?
    public var strict: Bool?
    public var extra: [String: JSONValue]

    public init(
        name: String, description: String? = nil, parameters: JSONValue? = nil, strict: Bool? = nil,
        extra: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.strict = strict
        self.extra = extra
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.name = try c.required(String.self, "name")
        self.description = try c.optional(String.self, "description")
        self.parameters = try c.optional(JSONValue.self, "parameters")
        self.strict = try c.optional(Bool.self, "strict")
        self.extra = try c.unknownFields(excluding: ["name", "description", "parameters", "strict"])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(name, "name")
        try c.put(description, "description")
        try c.put(parameters, "parameters")
        try c.put(strict, "strict")
        try c.putUnknown(extra)
    }
}

/// `tool_choice`: `"none"`, `"auto"`, `"required"`, a named function, or another object form.
public enum ToolChoice: Sendable, Hashable, Codable {
    case none
    case auto
    case required
    case function(name: String)
    case other(JSONValue)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            switch s {
            case "none": self = .none
            case "auto": self = .auto
            case "required": self = .required
            default:
                throw DecodingError.dataCorruptedError(
                    in: c, debugDescription: "unknown tool_choice \"\(s)\"; expected none, auto, required or an object")
            }
            return
        }
        let value = try c.decode(JSONValue.self)
        guard let choice = ToolChoice(object: value) else {
            throw DecodingError.typeMismatch(
                ToolChoice.self, .init(codingPath: c.codingPath, debugDescription: "expected a string or an object"))
        }
        self = choice
    }

    /// The object form: exactly `{"type":"function","function":{"name":…}}` names a
    /// function, any other object is kept as it is; nil for a value that is no object.
    init?(object value: JSONValue) {
        guard case .object(let object) = value else { return nil }
        if object["type"]?.stringValue == "function", let name = object["function"]?["name"]?.stringValue,
            object.count == 2, object["function"]?.objectValue?.count == 1
        {
            self = .function(name: name)
        } else {
            self = .other(value)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .none: try c.encode("none")
        case .auto: try c.encode("auto")
        case .required: try c.encode("required")
        case .function(let name): try c.encode(JSONValue.object(["type": "function", "function": ["name": .string(name)]]))
        case .other(let v): try c.encode(v)
        }
    }
}

/// `response_format`: text, json_object, or json_schema with its schema.
public struct ResponseFormat: Sendable, Hashable, Codable {
    public var type: String
    public var jsonSchema: JSONSchemaFormat?
    public var extra: [String: JSONValue]

    public init(type: String, jsonSchema: JSONSchemaFormat? = nil, extra: [String: JSONValue] = [:]) {
        self.type = type
        self.jsonSchema = jsonSchema
        self.extra = extra
    }

    public struct JSONSchemaFormat: Sendable, Hashable, Codable {
        public var name: String
        public var description: String?
        public var schema: JSONValue?
        public var strict: Bool?
        public init(name: String, description: String? = nil, schema: JSONValue? = nil, strict: Bool? = nil) {
            self.name = name
            self.description = description
            self.schema = schema
            self.strict = strict
        }
    }

    /// Whether the format asks for JSON output.
    public var wantsJSON: Bool { type == "json_object" || type == "json_schema" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.type = try c.required(String.self, "type")
        switch type {
        case "text", "json_object":
            self.jsonSchema = nil
        case "json_schema":
            self.jsonSchema = try c.required(JSONSchemaFormat.self, "json_schema")
        default:
            throw DecodingError.dataCorruptedError(
                forKey: AnyCodingKey("type"), in: c,
                debugDescription: "unknown response_format type \"\(type)\"; expected text, json_object or json_schema")
        }
        self.extra = try c.unknownFields(excluding: ["type", "json_schema"])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(type, "type")
        try c.put(jsonSchema, "json_schema")
        try c.putUnknown(extra)
    }
}

/// `stop`: one string or up to four.
public enum StopSequences: Sendable, Hashable, Codable {
    case single(String)
    case multiple([String])

    public var values: [String] {
        switch self {
        case .single(let s): return [s]
        case .multiple(let a): return a
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = .single(s)
        } else if let a = try? c.decode([String].self) {
            self = .multiple(a)
        } else {
            throw DecodingError.typeMismatch(
                StopSequences.self, .init(codingPath: c.codingPath, debugDescription: "expected a string or an array of strings"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .single(let s): try c.encode(s)
        case .multiple(let a): try c.encode(a)
        }
    }
}

/// `stream_options`.
public struct StreamOptions: Sendable, Hashable, Codable {
    public var includeUsage: Bool?
    public var extra: [String: JSONValue]

    public init(includeUsage: Bool? = nil, extra: [String: JSONValue] = [:]) {
        self.includeUsage = includeUsage
        self.extra = extra
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        self.includeUsage = try c.optional(Bool.self, "include_usage")
        self.extra = try c.unknownFields(excluding: ["include_usage"])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.put(includeUsage, "include_usage")
        try c.putUnknown(extra)
    }
}
