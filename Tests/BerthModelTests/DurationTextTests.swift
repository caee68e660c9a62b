import BerthModel
import XCTest

/// The one duration grammar: the daemon's settings and `berthd token --ttl` both read it.
final class DurationTextTests: XCTestCase {
    func testAcceptedForms() {
        let table: [(String, Duration)] = [
            ("0", .zero), ("90", .seconds(90)), ("007s", .seconds(7)), ("90s", .seconds(90)), ("500ms", .milliseconds(500)),
            ("2m", .seconds(120)), ("1h30m", .seconds(5400)), ("1.5h", .seconds(5400)), ("0.1h", .seconds(360)),
            ("1m30s250ms", .milliseconds(90_250)), ("2d", .seconds(172_800)), ("1d2h3m4s", .seconds(93_784)),
            ("250us", .microseconds(250)), ("250µs", .microseconds(250)), ("7ns", .nanoseconds(7)), (".5s", .milliseconds(500)),
            ("120m", .seconds(7200)),
        ]
        for (text, expected) in table {
            XCTAssertEqual(DurationText.parse(text), expected, text)
        }
    }

    func testRejectedForms() {
        for text in ["", " ", " 15m", "s", "h", "ms", "1x", "-1h", "+1h", "1H", "1 h", "1h 30m", "1..5s", "1.s5", ".s",
                     "30m1h", "1h1h", "1s1ms1s", "1us1µs", "1h30", "1e3", "١٢s", "abc", "99999999999999999999",
                     "99999999999h", "1000000d", "3153600001"] {
            XCTAssertNil(DurationText.parse(text), text)
        }
    }

    func testTheLongestDurationIsAboutACentury() {
        XCTAssertEqual(DurationText.parse(String(DurationText.maximumSeconds)), .seconds(DurationText.maximumSeconds))
        XCTAssertEqual(DurationText.parse("36500d"), .seconds(DurationText.maximumSeconds))
        XCTAssertNil(DurationText.parse("36500d1ns"))
    }
}
