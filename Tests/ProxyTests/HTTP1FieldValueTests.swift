import XCTest

@testable import Proxy

/// The word-at-a-time check of a field value's bytes against the byte-at-a-time rule.
final class HTTP1FieldValueTests: XCTestCase {
    /// Every byte value, at every place of values up to three words long, among bytes that pass
    /// (letters, obs-text, spaces, tabs): the same verdict as `isFieldValueByte` on each byte.
    func testEveryByteAtEveryPlaceGetsTheByteRulesVerdict() {
        let fillers: [UInt8] = [UInt8(ascii: "a"), 0x80, 0xFF, UInt8(ascii: " "), UInt8(ascii: "\t"), 0x7E, 0x20]
        for length in 1...24 {
            for filler in fillers {
                var bytes = [UInt8](repeating: filler, count: length)
                for place in 0..<length {
                    for byte in 0...255 {
                        bytes[place] = UInt8(byte)
                        let expected = bytes.allSatisfy(isFieldValueByte)
                        let actual = bytes.withUnsafeBytes { isFieldValue($0) }
                        if actual != expected {
                            return XCTFail("\(bytes) gave \(actual)")
                        }
                    }
                    bytes[place] = filler
                }
            }
        }
        XCTAssertTrue([UInt8]().withUnsafeBytes { isFieldValue($0) })
    }
}
