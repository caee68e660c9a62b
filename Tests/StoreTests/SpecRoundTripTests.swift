import BerthModel
import Foundation
import Store
import XCTest

final class SpecRoundTripTests: XCTestCase {
    func testSpecRoundTripsExactlyThroughAFile() throws {
        let folder = try makeTemporaryFolder(self)
        let env = [
            "GREETING": "héllo wörld 👋 こんにちは",
            "EMPTY": "",
            "JSON": #"{"a": [1, "two"], "slash": "/x\/y"}"#,
            "MULTI_LINE": "line 1\nline 2\ttabbed \"quoted\" \\ backslash",
            "ÜNICODE_NAME_IS_THE_API'S_PROBLEM": "stored anyway",
            "CONTROL": "\u{1}\u{7f}",
        ]
        let spec = RevisionSpec(
            image: "registry.example.com:5000/team/app@sha256:" + String(repeating: "0f", count: 32),
            cpu: 0.25, memory: try Quantity(parsing: "512Mi"), ephemeralStorage: try Quantity(parsing: "1.5G"),
            gpu: 2, port: 8080, env: env)
        let path = folder.appendingPathComponent("berth.sqlite").path
        var id: String
        do {
            let db = try BerthDatabase(path: path)
            id = try db.createContainer(name: "spec", owner: "o", spec: spec).0.id
            _ = try db.addRevision(containerID: id, spec: RevisionSpec(
                image: "docker.io/library/busybox:1", cpu: 1.5, memory: try Quantity(parsing: "128974848"),
                ephemeralStorage: try Quantity(parsing: "129e6"), port: 1))
            try db.close()
        }
        let db = try BerthDatabase(path: path)
        let read = try XCTUnwrap(try db.revision(containerID: id, number: 1)).spec
        XCTAssertEqual(read, spec)
        XCTAssertEqual(read.env, env)
        XCTAssertEqual(read.cpu, 0.25)
        // Quantity equality compares bytes; the text must survive too.
        XCTAssertEqual(read.memory.text, "512Mi")
        XCTAssertEqual(read.ephemeralStorage.text, "1.5G")
        XCTAssertEqual(read.memory.bytes, 512 * 1024 * 1024)

        let second = try XCTUnwrap(try db.revision(containerID: id, number: 2)).spec
        XCTAssertEqual(second.memory.text, "128974848")
        XCTAssertEqual(second.ephemeralStorage.text, "129e6")
        XCTAssertEqual(second.cpu, 1.5)
        XCTAssertEqual(second.env, [:])
        XCTAssertEqual(try db.containersWithServingRevision(owner: nil).first?.1.spec.env, env)

        // The stored env is real JSON to SQLite too, for an operator's queries.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") {
            XCTAssertEqual(try sqlite3(path, "SELECT min(json_valid(env)) FROM revision"), "1")
            XCTAssertEqual(try sqlite3(path, "SELECT json_extract(env, '$.GREETING') FROM revision WHERE number = 1"),
                           env["GREETING"])
            XCTAssertEqual(try sqlite3(path, "SELECT memory FROM revision WHERE number = 1"), "512Mi")
        }
    }

    func testEnvEditedByHandStillReads() throws {
        let path = try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path
        let db = try BerthDatabase(path: path)
        let id = try db.createContainer(name: "hand", owner: "o", spec: try sampleSpec()).0.id
        // Any JSON object of strings: whitespace, escaped slashes, \u escapes, a surrogate pair.
        let edited = #" { "A" : "caf\u00e9 \ud83d\udc4b" ,"B":"x\/y\n", "C" : "" } "#
        try sqlite3(path, "UPDATE revision SET env = '\(edited)' WHERE containerID = '\(id)'")
        XCTAssertEqual(try db.revision(containerID: id, number: 1)?.spec.env, ["A": "café 👋", "B": "x/y\n", "C": ""])

        try sqlite3(path, "UPDATE revision SET env = '{\"A\": 1}' WHERE containerID = '\(id)'")
        XCTAssertThrowsError(try db.revision(containerID: id, number: 1)) { error in
            guard case .invalidStoredValue = error as? StoreError else { return XCTFail("\(error)") }
        }
    }

    func testStoredRecordsEncodeAsJSON() throws {
        // Callers may log or cache records as JSON; the Codable form round-trips too.
        let db = try BerthDatabase.inMemory()
        let (container, revision) = try db.createContainer(name: "j", owner: "o", spec: try sampleSpec(env: ["K": "vé"]))
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        XCTAssertEqual(try decoder.decode(StoredContainer.self, from: encoder.encode(container)), container)
        let decoded = try decoder.decode(StoredRevision.self, from: encoder.encode(revision))
        XCTAssertEqual(decoded, revision)
        XCTAssertEqual(decoded.spec.memory.text, "512Mi")
    }
}

/// Runs one statement with the sqlite3 command, as an operator would, and returns what it
/// printed; skips the test without it.
@discardableResult
func sqlite3(_ path: String, _ sql: String) throws -> String {
    let command = "/usr/bin/sqlite3"
    guard FileManager.default.isExecutableFile(atPath: command) else { throw XCTSkip("no sqlite3 command") }
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: command)
    process.arguments = [path, sql]
    process.standardOutput = output
    try process.run()
    let printed = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0, sql)
    return String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .newlines)
}
