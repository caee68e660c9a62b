import BerthModel
import Foundation
import Store
import XCTest

/// A temporary folder removed when the test ends.
func makeTemporaryFolder(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("berth-store-tests-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

func sampleSpec(image: String = "docker.io/nginxdemos/hello:0.4", memory: String = "512Mi",
                env: [String: String] = ["FOO": "bar"]) throws -> RevisionSpec {
    RevisionSpec(image: image, cpu: 1, memory: try Quantity(parsing: memory),
                 ephemeralStorage: try Quantity(parsing: "10Gi"), gpu: 0, port: 80, env: env)
}

/// A date with whole milliseconds, as the store keeps them.
let sampleDate = Date(timeIntervalSince1970: 1_750_000_000.123)

func XCTAssertThrowsStoreError<T>(_ expression: @autoclosure () throws -> T, _ expected: StoreError,
                                  file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try expression(), file: file, line: line) { error in
        XCTAssertEqual(error as? StoreError, expected, "\(error)", file: file, line: line)
    }
}
