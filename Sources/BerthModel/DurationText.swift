/// A span of time written as text, the one grammar every duration Berth reads uses (the daemon's
/// timeouts and idle periods, `berthd token --ttl`): Go's `time.ParseDuration` forms plus days.
///
/// Accepted: numbers with units `d h m s ms us µs ns`, several in a row from the largest unit down,
/// each unit once (`1h30m`, `1m30s250ms`); a number may have a fraction (`1.5h`, `.5s`, `0.1h` is
/// exactly 6 minutes); bare ASCII digits alone are seconds (`90`). Zero is accepted (callers that
/// need a positive span check it). Rejected: signs, whitespace, exponents, other digits, upper-case
/// units, a unit out of order or repeated (`30m1h`, `1h1h`), a bare number after units (`1h30`),
/// and anything longer than about 100 years.
public enum DurationText {
    /// About 100 years: long enough for anything, far from overflowing.
    public static let maximumSeconds = 100 * 365 * 24 * 3600

    /// Units from the largest down; `us` and `µs` are the same unit.
    static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("d", 86_400_000_000_000), ("h", 3_600_000_000_000), ("ms", 1_000_000), ("m", 60_000_000_000),
        ("s", 1_000_000_000), ("us", 1_000), ("µs", 1_000), ("ns", 1),
    ]

    /// The duration `text` means, or nil when it is malformed or too long.
    public static func parse(_ text: String) -> Duration? {
        guard !text.isEmpty else { return nil }
        if text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let seconds = Int(text), seconds <= maximumSeconds else { return nil }
            return .seconds(seconds)
        }
        var rest = Substring(text)
        var total: Int64 = 0
        var previousUnit = Int64.max  // each unit smaller than the one before: in order, once each
        while !rest.isEmpty {
            let number = rest.prefix { ($0.isASCII && $0.isNumber) || $0 == "." }
            guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != "." else { return nil }
            rest = rest.dropFirst(number.count)
            // "ms" is listed before "m" so that "5ms" is not read as 5 minutes and an "s".
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }), unit.nanoseconds < previousUnit else { return nil }
            previousUnit = unit.nanoseconds
            rest = rest.dropFirst(unit.suffix.count)
            let parts = number.split(separator: ".", omittingEmptySubsequences: false)
            guard let whole = Int64(parts[0].isEmpty ? "0" : parts[0]) else { return nil }
            var nanoseconds = whole.multipliedReportingOverflow(by: unit.nanoseconds)
            guard !nanoseconds.overflow else { return nil }
            if parts.count == 2, !parts[1].isEmpty {
                // The fraction, digit by digit, so 0.1h is exactly 6 minutes.
                var scale = unit.nanoseconds
                for digit in parts[1] {
                    scale /= 10
                    nanoseconds = nanoseconds.partialValue.addingReportingOverflow(Int64(digit.wholeNumberValue!) * scale)
                    guard !nanoseconds.overflow else { return nil }
                }
            }
            let sum = total.addingReportingOverflow(nanoseconds.partialValue)
            guard !sum.overflow else { return nil }
            total = sum.partialValue
        }
        guard total <= Int64(maximumSeconds) * 1_000_000_000 else { return nil }
        return .nanoseconds(total)
    }
}
