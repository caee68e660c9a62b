import Daemon
import XCTest

final class ListenAddressTests: XCTestCase {
    func testParsesTheAcceptedForms() throws {
        let cases: [(String, String, Int, String)] = [
            ("127.0.0.1:8080", "127.0.0.1", 8080, "127.0.0.1:8080"),
            ("0.0.0.0:80", "0.0.0.0", 80, "0.0.0.0:80"),
            (":8080", "", 8080, ":8080"),
            ("[::1]:8080", "::1", 8080, "[::1]:8080"),
            ("[::]:443", "::", 443, "[::]:443"),
            ("localhost:65535", "localhost", 65535, "localhost:65535"),
            ("node-1.example.com:1", "node-1.example.com", 1, "node-1.example.com:1"),
        ]
        for (text, host, port, description) in cases {
            let address = try ListenAddress(parsing: text)
            XCTAssertEqual(address.host, host, text)
            XCTAssertEqual(address.port, port, text)
            XCTAssertEqual(address.description, description, text)
            XCTAssertEqual(try ListenAddress(parsing: address.description), address, text)
        }
        XCTAssertEqual(try ListenAddress(parsing: ":8080").bindHost, "0.0.0.0")
        XCTAssertEqual(try ListenAddress(parsing: "[::1]:8080").bindHost, "::1")
    }

    func testRejectsMalformedAddressesWithAReason() {
        let cases: [(String, String)] = [
            ("", "empty listen address"),
            ("8080", "has no host; write :8080 for every interface or 127.0.0.1:8080 for loopback only"),
            ("localhost", "has no port"),
            ("127.0.0.1:", "has no port"),
            ("127.0.0.1:0", "has port 0, out of range 1–65535"),
            ("127.0.0.1:65536", "has port 65536, out of range 1–65535"),
            ("127.0.0.1:http", "has an invalid port \"http\""),
            ("127.0.0.1:-1", "has an invalid port \"-1\""),
            ("127.0.0.1:123456", "has an invalid port \"123456\""),
            ("::1:8080", "is an IPv6 address without brackets"),
            ("[::1:8080", "has no closing bracket"),
            ("[::1]8080", "has no port after the bracketed address"),
            ("[127.0.0.1]:80", "has no valid IPv6 address in brackets"),
            ("300.1.1.1:80", "has an invalid host \"300.1.1.1\""),
            ("bad_host:80", "has an invalid host \"bad_host\""),
            ("-x:80", "has an invalid host \"-x\""),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try ListenAddress(parsing: text), text) { error in
                let message = (error as! ConfigurationError).description
                XCTAssertTrue(message.contains(expected), "\(text): \(message)")
                XCTAssertTrue(message.contains("expected HOST:PORT, [IPV6]:PORT or :PORT"), "\(text): \(message)")
                XCTAssertFalse(message.contains("\n"))
            }
        }
    }
}
