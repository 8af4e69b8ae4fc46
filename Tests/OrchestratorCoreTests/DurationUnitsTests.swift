import OrchestratorCore
import Testing

struct DurationUnitsTests {
    /// The whole units a duration converts to, against `components` (the reference),
    /// truncated toward zero whatever the sign.
    @Test(arguments: [
        Duration.zero, .nanoseconds(1), .nanoseconds(999), .microseconds(1), .nanoseconds(1_234_567),
        .milliseconds(1) - .nanoseconds(1), .seconds(9) + .nanoseconds(223_372_036), .seconds(600) - .nanoseconds(987_654),
        .seconds(86_400 * 365), .nanoseconds(-1), .seconds(-3) - .nanoseconds(5), .milliseconds(-1_500),
    ])
    func wholeUnitsMatchTheComponents(_ d: Duration) {
        let (seconds, attoseconds) = d.components
        #expect(d.totalNanoseconds == seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        #expect(d.totalMicroseconds == seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        #expect(d.totalMilliseconds == seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        #expect(d.totalSeconds == Double(seconds) + Double(attoseconds) / 1e18)
    }

    @Test func examples() {
        #expect(Duration.milliseconds(1_500).totalMilliseconds == 1_500)
        #expect(Duration.microseconds(2_500).totalMilliseconds == 2)
        #expect(Duration.microseconds(-2_500).totalMilliseconds == -2)
        #expect(Duration.nanoseconds(1_999).totalMicroseconds == 1)
        #expect(Duration.seconds(2).totalNanoseconds == 2_000_000_000)
    }

    /// Beyond Int64 nanoseconds (about 292 years) the count is clamped, not wrapped.
    @Test func hugeDurationsClamp() {
        #expect(Duration.seconds(Int64.max).totalNanoseconds == Int64.max)
        #expect(Duration.seconds(Int64.min).totalNanoseconds == Int64.min)
        #expect(Duration.seconds(Int64.max).totalMilliseconds == Int64.max)
        #expect(Duration.seconds(Int64.max / 1_000).totalMilliseconds == Int64.max / 1_000 * 1_000)
    }
}
