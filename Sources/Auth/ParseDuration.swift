import BerthModel

/// Parses a duration for `--ttl` with Berth's one duration grammar (``DurationText``): a number
/// with a unit — `45s`, `30m`, `1h`, `2d` — or several (`1h30m`, units in decreasing order, each
/// once), or plain seconds (`90`). Surrounding whitespace is ignored; a token must live at least a
/// second (`exp` is in whole seconds).
/// - Throws: ``AuthConfigurationError/invalidDuration(_:)`` otherwise.
public func parseDuration(_ text: String) throws(AuthConfigurationError) -> Duration {
    guard let duration = DurationText.parse(text.trimmingWhitespace()), duration >= .seconds(1) else {
        throw .invalidDuration(text)
    }
    return duration
}
