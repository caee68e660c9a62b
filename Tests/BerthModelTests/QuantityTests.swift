import BerthModel
import Foundation
import XCTest

final class QuantityTests: XCTestCase {
    /// Kubernetes semantics for byte quantities: exact scaling, fractions of a byte rounded up.
    func testValidQuantities() throws {
        let table: [(String, Int64)] = [
            ("0", 0), ("0Ki", 0), ("0.0", 0), ("1", 1), ("+1", 1), ("128974848", 128_974_848),
            ("1Ki", 1024), ("1Mi", 1 << 20), ("1Gi", 1 << 30), ("1Ti", 1 << 40), ("1Pi", 1 << 50), ("1Ei", 1 << 60),
            ("512Mi", 536_870_912), ("64Mi", 67_108_864), ("10Gi", 10_737_418_240),
            ("1k", 1000), ("100k", 100_000), ("1M", 1_000_000), ("500M", 500_000_000), ("1G", 1_000_000_000),
            ("1.5G", 1_500_000_000), ("1T", 1_000_000_000_000), ("1P", 1_000_000_000_000_000),
            ("1E", 1_000_000_000_000_000_000), ("7E", 7_000_000_000_000_000_000),
            ("1.5Gi", 1_610_612_736), ("0.5Ki", 512), (".5Ki", 512), ("1.Ki", 1024), ("2.25Mi", 2_359_296),
            ("1e3", 1000), ("1E3", 1000), ("129e6", 129_000_000), ("1e+3", 1000), ("12e-1", 2), ("1.5e3", 1500),
            ("1e0", 1), ("1e00000003", 1000), ("1000e-3", 1), ("0.5", 1), ("1.5", 2), ("0.3Ki", 308),
            ("1.0001k", 1001), ("0.000000000000000000000000000000000000000000000000001", 1), ("1e-999", 1),
            ("0e999", 0), ("007", 7), ("0.1Ki", 103),
            ("9223372036854775807", Int64.max), ("7.999Ei", 9_222_219_115_350_168_962), ("8191.999999Pi", 9_223_372_035_728_875_902),
        ]
        for (text, expected) in table {
            do {
                let quantity = try Quantity(parsing: text)
                XCTAssertEqual(quantity.bytes, expected, text)
                XCTAssertEqual(quantity.text, text)
                XCTAssertEqual(quantity.description, text)
            } catch {
                XCTFail("\(text): \(error)")
            }
        }
    }

    func testInvalidQuantities() {
        let table: [(String, String)] = [
            ("", "empty"), (" 1Gi", "whitespace"), ("1Gi ", "whitespace"), ("1 Gi", "whitespace"), ("1\tGi", "whitespace"),
            ("-1", "negative"), ("-1Gi", "negative"), ("Gi", "does not start with a number"), (".", "does not start with a number"),
            ("+", "does not start with a number"), ("abc", "does not start with a number"), ("1.5.2", "more than one decimal point"),
            ("1gi", "unknown suffix \"gi\""), ("1KB", "unknown suffix \"KB\""), ("1K", "unknown suffix \"K\""),
            ("1Kib", "unknown suffix \"Kib\""), ("1GiB", "unknown suffix \"GiB\""), ("1e", "unknown suffix \"e\""),
            ("1e3.5", "unknown suffix \"e3.5\""), ("1e+", "unknown suffix \"e+\""), ("1Mi1", "unknown suffix \"Mi1\""),
            ("500m", "fractions of a byte"), ("1u", "fractions of a byte"), ("1n", "fractions of a byte"),
            ("9223372036854775808", "larger than"), ("8Ei", "larger than"), ("10E", "larger than"),
            ("1e19", "larger than"), ("1e999999999999", "larger than"), ("99999999999999999999999Ki", "larger than"),
            ("0x10", "unknown suffix \"x10\""), ("1_000", "unknown suffix \"_000\""), ("１", "does not start with a number"),
        ]
        for (text, reason) in table {
            do {
                let quantity = try Quantity(parsing: text)
                XCTFail("\(text) parsed as \(quantity.bytes)")
            } catch {
                XCTAssertTrue(error.reason.contains(reason), "\(text): \(error.reason)")
                XCTAssertEqual(error.input, text)
                XCTAssertFalse(error.description.contains("\n"), error.description)
                XCTAssertTrue(error.description.contains("Ki, Mi, Gi"), error.description)
            }
        }
    }

    func testErrorMessageNamesTheInput() {
        XCTAssertThrowsError(try Quantity(parsing: "12 parsecs")) { error in
            XCTAssertEqual("\(error)", "invalid quantity \"12 parsecs\": it contains whitespace; " + QuantityError.acceptedForms)
        }
        XCTAssertThrowsError(try Quantity(parsing: "1\n")) { error in
            XCTAssertTrue("\(error)".hasPrefix("invalid quantity \"1\\n\""), "\(error)")
        }
    }

    func testCanonicalTextFromBytes() {
        XCTAssertEqual(Quantity(bytes: 536_870_912).text, "512Mi")
        XCTAssertEqual(Quantity(bytes: 1 << 30).text, "1Gi")
        XCTAssertEqual(Quantity(bytes: 1536 << 20).text, "1536Mi")
        XCTAssertEqual(Quantity(bytes: 3 << 60).text, "3Ei")
        XCTAssertEqual(Quantity(bytes: 1024).text, "1Ki")
        XCTAssertEqual(Quantity(bytes: 1000).text, "1000")
        XCTAssertEqual(Quantity(bytes: 1).text, "1")
        XCTAssertEqual(Quantity(bytes: 0).text, "0")
        XCTAssertEqual(Quantity(bytes: Int64.max).text, "9223372036854775807")
    }

    func testRoundTrips() throws {
        for bytes: Int64 in [0, 1, 1000, 1024, 1536, 536_870_912, 10_737_418_240, 123_456_789, Int64.max, 7 << 60] {
            let quantity = Quantity(bytes: bytes)
            XCTAssertEqual(try Quantity(parsing: quantity.text).bytes, bytes, quantity.text)
        }
        for text in ["512Mi", "1.5Gi", "500M", "129e6", "100k", "128974848"] {
            let parsed = try Quantity(parsing: text)
            XCTAssertEqual(try Quantity(parsing: parsed.text), parsed)
            XCTAssertEqual(Quantity(bytes: parsed.bytes), parsed)
        }
    }

    func testEqualityIsByBytes() throws {
        XCTAssertEqual(try Quantity(parsing: "1Ki"), try Quantity(parsing: "1024"))
        XCTAssertEqual(try Quantity(parsing: "1k"), try Quantity(parsing: "1e3"))
        XCTAssertNotEqual(try Quantity(parsing: "1k"), try Quantity(parsing: "1Ki"))
        XCTAssertEqual(Set([try Quantity(parsing: "1Gi"), try Quantity(parsing: "1073741824")]).count, 1)
        XCTAssertLessThan(try Quantity(parsing: "1G"), try Quantity(parsing: "1Gi"))
    }

    func testCodableAsText() throws {
        let quantity = try Quantity(parsing: "1.5Gi")
        let data = try JSONEncoder().encode([quantity])
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"["1.5Gi"]"#)
        let decoded = try JSONDecoder().decode([Quantity].self, from: data)
        XCTAssertEqual(decoded[0].text, "1.5Gi")
        XCTAssertEqual(decoded[0].bytes, 1_610_612_736)
        // A JSON number is plain bytes.
        let number = try JSONDecoder().decode([Quantity].self, from: Data("[536870912]".utf8))
        XCTAssertEqual(number[0].bytes, 536_870_912)
        XCTAssertEqual(number[0].text, "536870912")
        XCTAssertThrowsError(try JSONDecoder().decode([Quantity].self, from: Data(#"["1 Gi"]"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("invalid quantity \\\"1 Gi\\\"") || "\(error)".contains("invalid quantity \"1 Gi\""), "\(error)")
        }
        XCTAssertThrowsError(try JSONDecoder().decode([Quantity].self, from: Data("[1.5]".utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode([Quantity].self, from: Data("[true]".utf8)))
    }
}

final class RevisionSpecTests: XCTestCase {
    func testCodableRoundTrip() throws {
        let spec = RevisionSpec(image: "docker.io/nginxdemos/hello:0.4", cpu: 0.25, memory: try Quantity(parsing: "512Mi"),
                                ephemeralStorage: try Quantity(parsing: "10Gi"), gpu: 1, port: 8080, env: ["FOO": "bar"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(spec)
        XCTAssertEqual(String(decoding: data, as: UTF8.self),
                       #"{"cpu":0.25,"env":{"FOO":"bar"},"ephemeralStorage":"10Gi","gpu":1,"image":"docker.io\/nginxdemos\/hello:0.4","memory":"512Mi","port":8080,"scaling":{"concurrency":0,"maxInstances":1,"minInstances":0,"timeoutSeconds":300},"secretEnv":{},"secretMounts":[],"servingProtocol":"http1","volumes":[]}"#)
        let decoded = try JSONDecoder().decode(RevisionSpec.self, from: data)
        XCTAssertEqual(decoded, spec)
        XCTAssertEqual(decoded.memory.text, "512Mi")
    }

    func testASpecEncodedBeforeServingProtocolDecodesAsHTTP1() throws {
        let old = #"{"cpu":1,"env":{},"ephemeralStorage":"1Gi","gpu":0,"image":"r/a:1","memory":"64Mi","port":80,"scaling":{"concurrency":0,"maxInstances":1,"minInstances":0,"timeoutSeconds":300},"secretEnv":{},"secretMounts":[],"volumes":[]}"#
        XCTAssertEqual(try JSONDecoder().decode(RevisionSpec.self, from: Data(old.utf8)).servingProtocol, .http1)
        let h2c = old.replacingOccurrences(of: #""port":80,"#, with: #""port":80,"servingProtocol":"h2c","#)
        XCTAssertEqual(try JSONDecoder().decode(RevisionSpec.self, from: Data(h2c.utf8)).servingProtocol, .h2c)
        // A value this version does not know is an error, not HTTP/1.1.
        let unknown = old.replacingOccurrences(of: #""port":80,"#, with: #""port":80,"servingProtocol":"h3","#)
        XCTAssertThrowsError(try JSONDecoder().decode(RevisionSpec.self, from: Data(unknown.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(RevisionSpec.self, from: Data(old.replacingOccurrences(of: #""port":80,"#, with: "").utf8)),
                             "other fields stay required")
    }

    func testDefaults() throws {
        let spec = RevisionSpec(image: "docker.io/library/busybox:1", cpu: 1, memory: Quantity(bytes: 1 << 30),
                                ephemeralStorage: Quantity(bytes: 1 << 30), port: 80)
        XCTAssertEqual(spec.gpu, 0)
        XCTAssertEqual(spec.servingProtocol, .http1)
        XCTAssertEqual(spec.env, [:])
    }
}
