import HTTPTypes
import OrchestratorCore
import Testing

/// `set(_:to:)` ends with the same fields as the subscript's setter, in the same order,
/// whether the field was absent, present once or present several times.
struct HTTPFieldsSetTests {
    @Test func setMatchesTheSubscriptSetter() {
        let id = HTTPField.Name("X-Request-ID")!
        let starts: [HTTPFields] = [
            [:],
            [.contentType: "application/json"],
            [.contentType: "application/json", id: "old", .accept: "*/*"],
            HTTPFields([
                HTTPField(name: id, value: "a"), HTTPField(name: .accept, value: "*/*"),
                HTTPField(name: id, value: "b"),
            ]),
        ]
        for start in starts {
            var viaSubscript = start
            viaSubscript[id] = "new"
            var viaSet = start
            viaSet.set(id, to: "new")
            #expect(Array(viaSet) == Array(viaSubscript), "\(start)")
            #expect(viaSet.firstValue(id) == "new" && viaSet.count(where: { $0.name == id }) == 1)
        }
    }
}
