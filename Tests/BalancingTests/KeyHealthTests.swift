import OrchestratorCore
import Testing

@testable import Balancing

/// Keys resting after a 429 or disabled after a 401/403: answered without the lock while
/// none is, and exactly as before once one is.
struct KeyHealthTests {
    private let a = UpstreamKeyRef(provider: "openai", keyID: "0")
    private let b = UpstreamKeyRef(provider: "openai", keyID: "1")

    private func monitor() -> HealthMonitor {
        HealthMonitor(configuration: .init(failureThreshold: 3, cooldown: .seconds(30)))
    }

    @Test func aRestingKeyIsUnusableUntilItsRestEnds() {
        let health = monitor()
        let now = ContinuousClock.now
        #expect(health.isKeyUsable(a, now: now))
        #expect(health.restrictedKeyCount == 0)
        health.coolDownKey(a, until: now + .seconds(10), reason: "429 slow down")
        health.coolDownKey(a, until: now + .seconds(5), reason: "429 again")  // the longer rest stands
        #expect(health.restrictedKeyCount == 1)
        #expect(!health.isKeyUsable(a, now: now))
        #expect(!health.isKeyUsable(a, now: now + .seconds(9)))
        #expect(health.isKeyUsable(b, now: now))
        #expect(health.keySnapshot(a, now: now).state == "cooling")
        // Over: usable, no longer counted, and it still reports its last error.
        #expect(health.isKeyUsable(a, now: now + .seconds(11)))
        #expect(health.restrictedKeyCount == 0)
        let after = health.keySnapshot(a, now: now + .seconds(11))
        #expect(after.state == "active")
        #expect(after.lastError == "429 again")
        // Resting again counts again.
        health.coolDownKey(a, until: now + .seconds(20), reason: "429")
        #expect(!health.isKeyUsable(a, now: now + .seconds(12)))
        #expect(health.restrictedKeyCount == 1)
    }

    @Test func aDisabledKeyStaysUnusableUntilEnabled() {
        let health = monitor()
        let now = ContinuousClock.now
        health.coolDownKey(a, until: now + .seconds(10), reason: "429")
        health.disableKey(a, reason: "401 invalid key", now: now)
        health.disableKey(b, reason: "403", now: now)
        #expect(health.restrictedKeyCount == 2)
        #expect(!health.isKeyUsable(a, now: now + .seconds(60)), "disabled outlasts the rest")
        #expect(!health.isKeyUsable(b, now: now))
        health.enableKey(a, now: now)
        #expect(health.isKeyUsable(a, now: now))
        #expect(health.restrictedKeyCount == 1)
        health.enableKey(b, now: now)
        health.enableKey(b, now: now)
        #expect(health.restrictedKeyCount == 0)
        #expect(health.isKeyUsable(b, now: now))
    }

    @Test func keysDisabledBeforeARestartStayDisabled() {
        let health = monitor()
        let now = ContinuousClock.now
        health.restore(
            targets: [],
            disabledKeys: [
                KeyHealthRecord(provider: "openai", keyID: "0", state: "disabled", lastError: "401", updatedAtMillis: 0),
                KeyHealthRecord(provider: "openai", keyID: "1", state: "active", lastError: nil, updatedAtMillis: 0),
            ], now: now)
        #expect(health.restrictedKeyCount == 1)
        #expect(!health.isKeyUsable(a, now: now))
        #expect(health.isKeyUsable(b, now: now))
    }
}
