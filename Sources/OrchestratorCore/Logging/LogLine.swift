public import Logging

/// One log event rendered as one line of bytes, for the daemon's stderr log handler.
///
/// Every request writes an access-log line, so rendering is on the hot path: it appends
/// bytes to one array (no `Date` formatting, no dictionary merge, no `JSONEncoder`).
///
/// - text: `2026-11-29T01:04:52.501Z INFO request http.status=200 request.id=ab12`:
///   metadata sorted by key; a value that is empty or holds a space, `"`, `=` or a
///   control character is written as a JSON string literal, so a line always splits
///   back into its fields.
/// - json: `{"ts":"…","level":"info","msg":"request","logger":"orchestrator","http.status":"200"}`:
///   the four fixed fields first, then metadata sorted by key; every value a string.
public enum LogLine {
    public enum Format: String, Sendable {
        case json, text
    }

    /// Renders an event. `handlerMetadata` is the handler's own metadata; `eventMetadata`
    /// (the call's) wins on equal keys. The line ends with a newline.
    public static func render(
        format: Format, timestampMillis: Int64, level: Logger.Level, label: String, message: String,
        handlerMetadata: Logger.Metadata, eventMetadata: Logger.Metadata?
    ) -> [UInt8] {
        var fields: [(key: String, value: Logger.MetadataValue)] = []
        fields.reserveCapacity(handlerMetadata.count + (eventMetadata?.count ?? 0))
        if let eventMetadata {
            for (key, value) in handlerMetadata where eventMetadata[key] == nil { fields.append((key, value)) }
            for (key, value) in eventMetadata { fields.append((key, value)) }
        } else {
            for (key, value) in handlerMetadata { fields.append((key, value)) }
        }
        fields.sort { $0.key < $1.key }

        var out: [UInt8] = []
        out.reserveCapacity(160 + message.utf8.count)
        switch format {
        case .text:
            appendTimestamp(timestampMillis, to: &out)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: upperName(level).utf8)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: message.utf8)
            for (key, value) in fields {
                out.append(UInt8(ascii: " "))
                out.append(contentsOf: key.utf8)
                out.append(UInt8(ascii: "="))
                let text = string(value)
                if needsQuoting(text) {
                    JSONCoding.appendQuoted(text, to: &out)
                } else {
                    out.append(contentsOf: text.utf8)
                }
            }
        case .json:
            out.append(contentsOf: #"{"ts":""#.utf8)
            appendTimestamp(timestampMillis, to: &out)
            out.append(contentsOf: #"","level":""#.utf8)
            out.append(contentsOf: level.rawValue.utf8)
            out.append(contentsOf: #"","msg":"#.utf8)
            JSONCoding.appendQuoted(message, to: &out)
            out.append(contentsOf: #","logger":"#.utf8)
            JSONCoding.appendQuoted(label, to: &out)
            for (key, value) in fields {
                out.append(UInt8(ascii: ","))
                JSONCoding.appendQuoted(key, to: &out)
                out.append(UInt8(ascii: ":"))
                JSONCoding.appendQuoted(string(value), to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// RFC 3339 in UTC with milliseconds (`2026-11-29T01:04:52.501Z`) for a Unix time in
    /// milliseconds; times before 1970 are clamped to the epoch.
    public static func appendTimestamp(_ millis: Int64, to out: inout [UInt8]) {
        let millis = max(0, millis)
        let seconds = millis / 1000
        let (year, month, day) = civilDate(daysSinceEpoch: seconds / 86_400)
        let secondOfDay = Int(seconds % 86_400)
        appendDigits(year, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(month, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(day, width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        appendDigits(Int(millis % 1000), width: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// Year, month (1–12) and day (1–31) of a day counted from 1970-01-01, in the
    /// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
    static func civilDate(daysSinceEpoch days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    private static func appendDigits(_ value: Int, width: Int, to out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        if rest >= divisor * 10 {
            // Wider than expected (a year past 9999): all digits.
            out.append(contentsOf: String(value).utf8)
            return
        }
        while divisor > 0 {
            out.append(UInt8(ascii: "0") &+ UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    private static func upperName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO"
        case .notice: "NOTICE"
        case .warning: "WARNING"
        case .error: "ERROR"
        case .critical: "CRITICAL"
        }
    }

    private static func string(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        default: value.description
        }
    }

    private static func needsQuoting(_ text: String) -> Bool {
        if text.isEmpty { return true }
        for byte in text.utf8 where byte <= 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "=") || byte == 0x7F {
            return true
        }
        return false
    }
}
