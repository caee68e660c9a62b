import Foundation
import Store
import XCTest

final class ConcurrencyTests: XCTestCase {
    func testConcurrentTasksCreatingContainers() async throws {
        let db = try BerthDatabase(path: try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path)
        let spec = try sampleSpec()
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<40 {
                group.addTask { try db.createContainer(name: "c-\(i)", owner: "owner-\(i % 3)", spec: spec).0.id }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        XCTAssertEqual(Set(ids).count, 40)
        XCTAssertEqual(try db.containerCount(), 40)
        XCTAssertEqual(Set(try db.containers(owner: nil).map(\.name)), Set((0..<40).map { "c-\($0)" }))
        XCTAssertEqual(try db.containersWithServingRevision(owner: nil).count, 40)
    }

    func testConcurrentCreatesOfOneNameAdmitOne() throws {
        let db = try BerthDatabase(path: try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path)
        let spec = try sampleSpec()
        let outcomes = Outcomes()
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            do {
                _ = try db.createContainer(name: "same", owner: "owner-\(i)", spec: spec)
                outcomes.record(nil)
            } catch {
                outcomes.record(error as? StoreError)
            }
        }
        XCTAssertEqual(outcomes.all.filter { $0 == nil }.count, 1)
        XCTAssertEqual(outcomes.all.filter { $0 == .nameTaken("same") }.count, 15)
        XCTAssertEqual(try db.containerCount(), 1)
    }

    func testReadersDuringWrites() throws {
        let db = try BerthDatabase(path: try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path)
        let spec = try sampleSpec()
        let (container, _) = try db.createContainer(name: "busy", owner: "o", spec: spec)
        let outcomes = Outcomes()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            do {
                if i % 2 == 0 {
                    for _ in 0..<5 { _ = try db.addRevision(containerID: container.id, spec: spec) }
                } else {
                    for _ in 0..<20 {
                        // Each read sees one consistent snapshot: the container's latest revision exists.
                        let listed = try db.containersWithServingRevision(owner: nil)
                        let latest = try XCTUnwrap(try db.container(id: container.id)).latestRevision
                        let revision = try db.revision(containerID: container.id, number: latest)
                        if listed.count != 1 || revision == nil {
                            throw StoreError.notFound("inconsistent read")
                        }
                    }
                }
                outcomes.record(nil)
            } catch {
                outcomes.record(error as? StoreError ?? .notFound("\(error)"))
            }
        }
        XCTAssertEqual(outcomes.all.compactMap { $0 }, [])
        XCTAssertEqual(try db.revisions(containerID: container.id).map(\.number), Array((1...21).reversed()))
    }
}

/// Results gathered from several threads.
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [StoreError?] = []

    func record(_ result: StoreError?) { lock.withLock { results.append(result) } }
    var all: [StoreError?] { lock.withLock { results } }
}
