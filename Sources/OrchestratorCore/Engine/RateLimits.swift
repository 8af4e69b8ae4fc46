/// A client key's limits, from its configuration; zero means no limit.
public struct KeyLimits: Sendable, Hashable {
    /// Requests per minute.
    public var rpm: Int
    /// Tokens (prompt + completion) per minute.
    public var tpm: Int
    /// Requests in progress at once.
    public var maxConcurrency: Int
    /// Spending allowed per ``budgetPeriod``, in micro-dollars.
    public var budgetMicros: Int64
    /// Tokens allowed per ``budgetPeriod``.
    public var budgetTokens: Int64
    public var budgetPeriod: BudgetPeriod

    public init(
        rpm: Int = 0, tpm: Int = 0, maxConcurrency: Int = 0, budgetMicros: Int64 = 0, budgetTokens: Int64 = 0,
        budgetPeriod: BudgetPeriod = .monthly
    ) {
        self.rpm = rpm
        self.tpm = tpm
        self.maxConcurrency = maxConcurrency
        self.budgetMicros = budgetMicros
        self.budgetTokens = budgetTokens
        self.budgetPeriod = budgetPeriod
    }

    /// The limits a key's configuration sets (the budget in micro-dollars, rounded).
    public init(_ config: ClientKeyConfig) {
        self.init(
            rpm: config.rpm, tpm: config.tpm, maxConcurrency: config.maxConcurrency,
            budgetMicros: Int64((config.budgetUSD * 1_000_000).rounded()), budgetTokens: config.budgetTokens,
            budgetPeriod: config.budgetPeriod)
    }

    public static let none = KeyLimits()

    /// Whether nothing is limited (the limiter then keeps no state for the key).
    public var isUnlimited: Bool {
        rpm <= 0 && tpm <= 0 && maxConcurrency <= 0 && budgetMicros <= 0 && budgetTokens <= 0
    }
}

extension BudgetPeriod {
    /// The start (epoch milliseconds, UTC) of the period `millis` falls in; 0 for `total`.
    public func start(containing millis: Int64) -> Int64 {
        switch self {
        case .total:
            return 0
        case .daily:
            let day: Int64 = 86_400_000
            return millis - ((millis % day) + day) % day
        case .monthly:
            let (year, month) = Self.civilMonth(daysSinceEpoch: Self.days(millis))
            return Self.daysSinceEpoch(year: year, month: month, day: 1) * 86_400_000
        }
    }

    /// The start of the next period after the one `millis` falls in; nil for `total`.
    public func end(containing millis: Int64) -> Int64? {
        switch self {
        case .total:
            return nil
        case .daily:
            return start(containing: millis) + 86_400_000
        case .monthly:
            let (year, month) = Self.civilMonth(daysSinceEpoch: Self.days(millis))
            let next = month == 12 ? (year + 1, 1) : (year, month + 1)
            return Self.daysSinceEpoch(year: next.0, month: next.1, day: 1) * 86_400_000
        }
    }

    /// Whole days since 1970-01-01 (floored, also before it).
    static func days(_ millis: Int64) -> Int64 {
        let day: Int64 = 86_400_000
        return millis >= 0 ? millis / day : -((-millis + day - 1) / day)
    }

    /// The (year, month) of a day count since 1970-01-01 (the log lines' calendar).
    static func civilMonth(daysSinceEpoch days: Int64) -> (Int64, Int64) {
        let date = LogLine.civilDate(daysSinceEpoch: days)
        return (Int64(date.year), Int64(date.month))
    }

    /// Days from 1970-01-01 to a civil date (the inverse of `LogLine.civilDate`).
    public static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// Where a key stands against its per-minute limits, as OpenAI reports it in
/// `x-ratelimit-*` headers: sent with every answer to a limited key, 429s included.
public struct RateLimitStatus: Sendable, Hashable {
    public struct Window: Sendable, Hashable {
        public var limit: Int
        public var remaining: Int
        /// Until the window is full again.
        public var reset: Duration

        public init(limit: Int, remaining: Int, reset: Duration) {
            self.limit = limit
            self.remaining = remaining
            self.reset = reset
        }
    }

    public var requests: Window?
    public var tokens: Window?

    public init(requests: Window? = nil, tokens: Window? = nil) {
        self.requests = requests
        self.tokens = tokens
    }

    /// The header fields, `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
    public var headerFields: [(name: String, value: String)] {
        var fields: [(String, String)] = []
        for (suffix, window) in [("requests", requests), ("tokens", tokens)] {
            guard let window else { continue }
            fields.append(("x-ratelimit-limit-\(suffix)", String(window.limit)))
            fields.append(("x-ratelimit-remaining-\(suffix)", String(max(0, window.remaining))))
            fields.append(("x-ratelimit-reset-\(suffix)", Self.durationText(window.reset)))
        }
        return fields
    }

    /// A duration as OpenAI writes it: `20ms`, `1s`, `6.5s`, `1m30s`.
    public static func durationText(_ duration: Duration) -> String {
        let millis = max(0, duration.totalMilliseconds)
        if millis < 1000 { return "\(millis)ms" }
        let minutes = millis / 60_000
        let restMillis = millis % 60_000
        var seconds = String(restMillis / 1000)
        if restMillis % 1000 != 0 {
            var fraction = String(restMillis % 1000)
            while fraction.count < 3 { fraction = "0" + fraction }
            while fraction.hasSuffix("0") { fraction.removeLast() }
            seconds += "." + fraction
        }
        return minutes > 0 ? "\(minutes)m\(seconds)s" : "\(seconds)s"
    }
}
