import Foundation
import Testing

@testable import OrchestratorCore

/// A log row keeps its values in a shared copy-on-write box: it must still behave as a
/// plain value (copies independent, the same JSON, equality by content).
struct RequestLogEntryTests {
    static func row(model: String = "gpt-4o") -> RequestLogEntry {
        RequestLogEntry(
            id: "row-1", requestID: "req-1", timestampMillis: 1_764_500_000_000, keyID: "key-1", keyName: "team-a",
            apiStyle: "openai", model: model, provider: "openai", upstreamModel: "gpt-4o-2024-08-06", stream: true,
            status: 200, attempts: 2, latencyMillis: 840, timeToFirstTokenMillis: 120, promptTokens: 12,
            completionTokens: 30, cachedTokens: 4, tokensEstimated: false, costMicros: 1_250, errorMessage: nil,
            upstreamRequestID: "up-9", requestBody: nil, responseBody: nil,
            attemptDetails: [
                AttemptRecord(provider: "azure", model: "gpt-4o", keyID: "k-a", status: 429, error: "rate limited", latencyMs: 40),
                AttemptRecord(provider: "openai", model: "gpt-4o", keyID: nil, status: 200, error: nil, latencyMs: 800),
            ])
    }

    @Test func aCopyChangesAloneAndTheOriginalKeepsItsValues() {
        let original = Self.row()
        var copy = original
        copy.model = "claude"
        copy.promptTokens += 1
        copy.attemptDetails.removeAll()
        #expect(original.model == "gpt-4o")
        #expect(original.promptTokens == 12)
        #expect(original.attemptDetails.count == 2)
        #expect(copy.model == "claude" && copy.promptTokens == 13 && copy.attemptDetails.isEmpty)
        #expect(copy != original)

        // A row changed back has the original's content, so it is equal again.
        copy.model = "gpt-4o"
        copy.promptTokens = 12
        copy.attemptDetails = original.attemptDetails
        #expect(copy == original)
        #expect(Set([copy, original]).count == 1)
    }

    @Test func copiesChangedOnManyTasksAtOnceStayApart() async {
        let shared = Self.row()
        let results = await withTaskGroup(of: RequestLogEntry.self) { group in
            for index in 0..<64 {
                group.addTask {
                    var mine = shared
                    for step in 0..<200 { mine.latencyMillis = Int64(index * 1_000 + step) }
                    mine.model = "model-\(index)"
                    return mine
                }
            }
            var rows: [RequestLogEntry] = []
            for await row in group { rows.append(row) }
            return rows
        }
        #expect(shared.model == "gpt-4o" && shared.latencyMillis == 840)
        #expect(Set(results.map(\.model)).count == 64)
        for row in results {
            let index = Int(row.model.dropFirst("model-".count))!
            #expect(row.latencyMillis == Int64(index * 1_000 + 199))
        }
    }

    @Test func itsJSONHasTheSameMembersAndComesBackEqual() throws {
        let row = Self.row()
        let data = try JSONEncoder().encode(row)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        // The members a plain struct with these properties encodes (nil optionals left out).
        #expect(
            Set(object.keys) == [
                "id", "requestID", "timestampMillis", "keyID", "keyName", "apiStyle", "model", "provider",
                "upstreamModel", "stream", "status", "attempts", "latencyMillis", "timeToFirstTokenMillis",
                "promptTokens", "completionTokens", "cachedTokens", "tokensEstimated", "costMicros",
                "upstreamRequestID", "attemptDetails",
            ])
        #expect(object["model"] as? String == "gpt-4o")
        #expect(try JSONDecoder().decode(RequestLogEntry.self, from: data) == row)
    }

    @Test func decodingRefusesARowWithoutItsRequiredMembers() {
        let missingModel = Data(#"{"id":"a","requestID":"b","timestampMillis":1,"keyID":"k","keyName":"n","apiStyle":"openai","stream":false,"status":200,"attempts":1,"latencyMillis":3,"promptTokens":0,"completionTokens":0,"cachedTokens":0,"tokensEstimated":false,"costMicros":0,"attemptDetails":[]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(RequestLogEntry.self, from: missingModel) }
    }
}
