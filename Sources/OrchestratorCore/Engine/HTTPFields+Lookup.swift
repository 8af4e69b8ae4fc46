public import HTTPTypes

extension HTTPFields {
    /// The value of the first field named `name`, or nil: for fields that occur once
    /// (`Authorization`, `Content-Length`, `Content-Type`, `X-Request-ID`, …).
    ///
    /// `self[name]` answers the same for those, but it joins every field of that name
    /// with the standard library's `joined(separator:)`, which runs unspecialised: a
    /// generic metadata lookup and a new string per call. The data plane reads half a
    /// dozen such fields per request, which came to 1.5 % of its CPU.
    @inlinable
    public func firstValue(_ name: HTTPField.Name) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }

    /// Sets the field named `name` to `value`: `self[name] = value`, which replaces every
    /// field of that name with one (and `Cookie` alone is split).
    ///
    /// The subscript's setter is inlined and specialised here, and appends an absent field
    /// to the array directly. `append(_:)` instead goes through `RangeReplaceableCollection`'s
    /// `insert(_:at:)` and `HTTPFields`' range replacement, with a copied one-element
    /// collection: about 600 instructions a field. (The getter, which the old way asked
    /// first, joins every value of the name into a new string.)
    @inlinable
    public mutating func set(_ name: HTTPField.Name, to value: String) {
        self[name] = value
    }
}

extension HTTPField {
    // Fields with a fixed value that requests and responses carry, made once: making a
    // field checks every byte of its value.
    public static let jsonContentType = HTTPField(name: .contentType, value: "application/json")
    public static let eventStreamContentType = HTTPField(name: .contentType, value: "text/event-stream")
    public static let acceptJSON = HTTPField(name: .accept, value: "application/json")
    public static let acceptEventStream = HTTPField(name: .accept, value: "text/event-stream")
}
