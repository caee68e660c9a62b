import BerthModel
import Foundation
import XCTest

/// The one RFC 3339 grammar: API dates, log lines and `since`, containerd's lease labels.
final class RFC3339Tests: XCTestCase {
    func testFormatIsUTCWithMilliseconds() {
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 1_796_643_127.335)), "2026-12-07T11:32:07.335Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 951_782_400.5)), "2000-02-29T00:00:00.500Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: -0.5)), "1969-12-31T23:59:59.500Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 161_588_390.4)), "1975-02-14T05:39:50.400Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 59.9999)), "1970-01-01T00:01:00.000Z")
    }

    /// What Foundation's ISO 8601 formatter (which this replaces) reads back, to the millisecond.
    func testFormatAgreesWithFoundation() {
        let foundation = ISO8601DateFormatter()
        foundation.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for milliseconds in stride(from: -946_080_000_123, through: 2_522_880_000_000, by: 8_391_427_201) {
            // As the store keeps dates: whole milliseconds.
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let text = RFC3339.format(date)
            XCTAssertTrue(text.hasSuffix(String(format: ".%03dZ", (milliseconds % 1000 + 1000) % 1000)), text)
            XCTAssertEqual(foundation.date(from: text)?.timeIntervalSince1970 ?? .nan, date.timeIntervalSince1970, accuracy: 0.0005, text)
            XCTAssertEqual(RFC3339.parse(text)?.timeIntervalSince1970 ?? .nan, date.timeIntervalSince1970, accuracy: 0.0005, text)
        }
    }

    func testAcceptedForms() {
        let table: [(String, Double)] = [
            ("2026-12-02T15:04:05Z", 1_796_223_845),
            ("2026-12-02t15:04:05z", 1_796_223_845),
            ("2026-12-02 15:04:05Z", 1_796_223_845),
            ("2026-12-02T15:04:05.250Z", 1_796_223_845.25),
            ("2026-12-02T15:04:05.123456789Z", 1_796_223_845.123456789),
            ("2026-12-02T16:04:05+01:00", 1_796_223_845),
            ("2026-12-02T10:34:05-04:30", 1_796_223_845),
            ("2024-02-29T00:00:00Z", 1_709_164_800),
            ("1969-12-31T23:59:59Z", -1),
        ]
        for (text, seconds) in table {
            XCTAssertEqual(RFC3339.parse(text)?.timeIntervalSince1970 ?? .nan, seconds, accuracy: 1e-6, text)
        }
        XCTAssertEqual(RFC3339.parse(Array("x 2026-12-02T15:04:05Z y".utf8)[2..<22])?.timeIntervalSince1970, 1_796_223_845)
    }

    func testRejectedForms() {
        for text in ["", "2026-12-02", "2026-12-02T15:04:05", "2026-12-02T15:04Z", "26-12-02T15:04:05Z",
                     "2026-13-02T15:04:05Z", "2026-00-02T15:04:05Z", "2026-02-30T15:04:05Z", "2025-02-29T00:00:00Z",
                     "2026-04-31T00:00:00Z", "2026-12-02T24:00:00Z", "2026-12-02T15:60:00Z", "2026-12-02T15:04:05.Z",
                     "2026-12-02T15:04:05+0100", "2026-12-02T15:04:05+24:00", "2026-12-02T15:04:05Zjunk",
                     " 2026-12-02T15:04:05Z", "2026-12-02X15:04:05Z", "２０２６-12-02T15:04:05Z", "yesterday"] {
            XCTAssertNil(RFC3339.parse(text), text)
        }
    }
}
