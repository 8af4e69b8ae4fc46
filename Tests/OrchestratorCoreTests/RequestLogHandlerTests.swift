import Logging
import OrchestratorCore
import OrchestratorTesting
import Testing

/// `RequestLogHandler` must log what a handler with the request's fields written into its
/// metadata logs, whatever is done to the logger afterwards.
struct RequestLogHandlerTests {
    /// Two loggers over two captures: one with the request's fields as plain metadata (what
    /// the gateway did before), one with them kept by `RequestLogHandler`.
    private func pair(level: Logger.Level = .trace) -> (plain: Logger, lazy: Logger, LogCapture, LogCapture) {
        let plainCapture = LogCapture()
        let lazyCapture = LogCapture()
        var plain = plainCapture.logger(level: level)
        var lazy = lazyCapture.logger(level: level)
        plain[metadataKey: "zone"] = "eu"
        lazy[metadataKey: "zone"] = "eu"
        plain[metadataKey: "request.id"] = "req-1"
        plain[metadataKey: "model"] = "gpt-4o-mini"
        plain[metadataKey: "key"] = "team-a"
        lazy.handler = RequestLogHandler(base: lazy.handler, requestID: "req-1", model: "gpt-4o-mini", key: "team-a")
        return (plain, lazy, plainCapture, lazyCapture)
    }

    @Test func aLineCarriesTheRequestsFieldsAndTheBaseMetadata() {
        let (_, lazy, _, capture) = pair()
        lazy.warning("upstream slow", metadata: ["attempt": "2"])
        #expect(capture.all == ["warning upstream slow attempt=2 key=team-a model=gpt-4o-mini request.id=req-1 zone=eu"])
    }

    @Test func aLinesOwnMetadataWinsOverTheRequestsFields() {
        let (plain, lazy, plainCapture, lazyCapture) = pair()
        for logger in [plain, lazy] { logger.info("rerouted", metadata: ["model": "gpt-4o"]) }
        #expect(lazyCapture.all == plainCapture.all)
        #expect(lazyCapture.all.first?.contains("model=gpt-4o ") == true)
    }

    @Test func readsGiveTheMergedMetadata() {
        let (plain, lazy, _, _) = pair()
        #expect(lazy.handler.metadata == plain.handler.metadata)
        #expect(lazy[metadataKey: "request.id"] == "req-1")
        #expect(lazy[metadataKey: "model"] == "gpt-4o-mini")
        #expect(lazy[metadataKey: "key"] == "team-a")
        #expect(lazy[metadataKey: "zone"] == "eu")
        #expect(lazy[metadataKey: "absent"] == nil)
    }

    @Test func changesAfterwardsBehaveAsOnAPlainHandler() {
        var (plain, lazy, plainCapture, lazyCapture) = pair()
        plain[metadataKey: "provider"] = "openai"
        lazy[metadataKey: "provider"] = "openai"
        plain.info("one")
        lazy.info("one")
        // Overwriting one of the request's own keys.
        plain[metadataKey: "model"] = "gpt-4o"
        lazy[metadataKey: "model"] = "gpt-4o"
        plain.info("two")
        lazy.info("two")
        // Removing one.
        plain[metadataKey: "key"] = nil
        lazy[metadataKey: "key"] = nil
        plain.info("three")
        lazy.info("three")
        #expect(lazyCapture.all == plainCapture.all)
        #expect(lazyCapture.all.count == 3)
        #expect(lazy.handler.metadata == plain.handler.metadata)
    }

    @Test func settingTheWholeMetadataReplacesTheRequestsFields() {
        var (plain, lazy, plainCapture, lazyCapture) = pair()
        plain.handler.metadata = ["only": "this"]
        lazy.handler.metadata = ["only": "this"]
        plain.info("replaced")
        lazy.info("replaced")
        #expect(lazyCapture.all == plainCapture.all)
        #expect(lazyCapture.all == ["info replaced only=this"])
    }

    @Test func theLevelIsTheBaseHandlersAndCanChange() {
        var (_, lazy, _, capture) = pair(level: .info)
        #expect(lazy.logLevel == .info)
        lazy.debug("dropped")
        lazy.logLevel = .debug
        lazy.debug("kept")
        #expect(capture.all.count == 1)
        #expect(capture.all.first?.hasPrefix("debug kept ") == true)
    }

    @Test func copiesAreIndependent() {
        let (_, lazy, _, capture) = pair()
        var copy = lazy
        copy[metadataKey: "attempt"] = "1"
        lazy.info("original")
        copy.info("copy")
        #expect(capture.all == [
            "info original key=team-a model=gpt-4o-mini request.id=req-1 zone=eu",
            "info copy attempt=1 key=team-a model=gpt-4o-mini request.id=req-1 zone=eu",
        ])
    }
}
