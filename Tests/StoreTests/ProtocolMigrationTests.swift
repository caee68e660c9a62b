import BerthModel
import Foundation
import GRDB
@testable import Store
import XCTest

/// Migration "v7 revision protocol": revisions from before it serve HTTP/1.1, a recorded
/// protocol reads back through every read path, and a value this version does not know fails.
final class ProtocolMigrationTests: XCTestCase {
    func testARevisionFromBeforeTheColumnReadsAsHTTP1() throws {
        let path = try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path
        do {
            let old = try DatabaseQueue(path: path)
            try Migrations.migrator.migrate(old, upTo: "v6 volumes and secrets")
            try old.write { db in
                try db.execute(sql: """
                    INSERT INTO container (id, name, owner, revision, latestRevision, phase, keepWarm, createdAt, updatedAt)
                    VALUES ('old', 'old', 'alice', 1, 1, 'running', 0, 0, 0);
                    INSERT INTO revision (containerID, number, image, cpu, memory, ephemeralStorage, gpu, port, env, phase, createdAt)
                    VALUES ('old', 1, 'registry.test/app:1', 1, '64Mi', '1Gi', 0, 8080, '{}', 'active', 0);
                    """)
            }
            try old.close()
        }
        let db = try BerthDatabase(path: path)
        XCTAssertEqual(try db.revision(containerID: "old", number: 1)?.spec.servingProtocol, .http1)
        // A new revision of it may then serve h2c.
        var spec = try XCTUnwrap(try db.revision(containerID: "old", number: 1)).spec
        spec.servingProtocol = .h2c
        _ = try db.addRevision(containerID: "old", spec: spec)
        XCTAssertEqual(try db.revisions(containerID: "old").map(\.spec.servingProtocol).sorted { $0.rawValue < $1.rawValue },
                       [.h2c, .http1])
    }

    func testH2CRoundTripsThroughAFileAndEveryReadPath() throws {
        let path = try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path
        var spec = try sampleSpec()
        spec.servingProtocol = .h2c
        let id: String
        do {
            let db = try BerthDatabase(path: path)
            let (container, recorded) = try db.createContainer(name: "grpc", owner: "alice", spec: spec)
            XCTAssertEqual(recorded.spec.servingProtocol, .h2c)
            id = container.id
            try db.promote(containerID: id, revision: 1)
            try db.close()
        }
        let db = try BerthDatabase(path: path)
        XCTAssertEqual(try db.revision(containerID: id, number: 1)?.spec, spec)
        // The joined reads place the revision's columns after the container's.
        XCTAssertEqual(try db.containerPage(owner: nil, after: nil, limit: nil).rows.map(\.1.spec.servingProtocol), [.h2c])
        XCTAssertEqual(try db.containersWithServingRevision(owner: "alice").map(\.1.spec.servingProtocol), [.h2c])
        XCTAssertEqual(try db.desiredState().flatMap(\.revisions).map(\.spec.servingProtocol), [.h2c])
        XCTAssertEqual(try sampleSpec().servingProtocol, .http1, "the default")
    }

    func testAnUnknownStoredProtocolFailsLoudly() throws {
        let path = try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path
        let id: String
        do {
            let db = try BerthDatabase(path: path)
            id = try db.createContainer(name: "web", owner: "alice", spec: try sampleSpec()).0.id
            try db.close()
        }
        do {
            let edited = try DatabaseQueue(path: path)
            try edited.write { try $0.execute(sql: "UPDATE revision SET protocol = 'HTTP2' WHERE containerID = ?", arguments: [id]) }
            try edited.close()
        }
        let db = try BerthDatabase(path: path)
        XCTAssertThrowsError(try db.revision(containerID: id, number: 1)) { error in
            guard case .invalidStoredValue(let message) = error as? StoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("HTTP2"), message)
        }
    }
}
