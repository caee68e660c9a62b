/// Parses a duration for `--ttl`: a number with a unit — `45s`, `30m`, `1h`, `2d` — or several
/// (`1h30m`, units in decreasing order, each once), or plain seconds (`90`). Surrounding whitespace is
/// ignored; the result must be positive.
/// - Throws: ``AuthConfigurationError/invalidDuration(_:)`` otherwise.
public func parseDuration(_ text: String) throws(AuthConfigurationError) -> Duration {
    let trimmed = text.trimmingWhitespace()
    let invalid = AuthConfigurationError.invalidDuration(text)
    guard !trimmed.isEmpty else { throw invalid }

    let units: [(Character, Int64)] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]
    var total: Int64 = 0
    var digits = ""
    var nextUnit = 0  // index into `units`: each unit at most once, in decreasing order
    var sawUnit = false

    func add(_ count: String, _ multiplier: Int64) throws(AuthConfigurationError) {
        guard !count.isEmpty, count.count <= 12, let value = Int64(count) else { throw invalid }
        let (product, overflow1) = value.multipliedReportingOverflow(by: multiplier)
        let (sum, overflow2) = total.addingReportingOverflow(product)
        guard !overflow1, !overflow2, sum <= 100 * 365 * 86_400 else { throw invalid }
        total = sum
    }

    for character in trimmed {
        if character.isASCII, character.isNumber {
            digits.append(character)
        } else if let index = units.firstIndex(where: { $0.0 == character }), index >= nextUnit {
            try add(digits, units[index].1)
            digits = ""
            nextUnit = index + 1
            sawUnit = true
        } else {
            throw invalid
        }
    }
    if !digits.isEmpty {
        // A trailing bare number is only allowed on its own ("90" = 90 seconds).
        guard !sawUnit else { throw invalid }
        try add(digits, 1)
    }
    guard total > 0 else { throw invalid }
    return .seconds(total)
}
