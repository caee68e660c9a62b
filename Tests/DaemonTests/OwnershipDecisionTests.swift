import Daemon
import XCTest

/// What berthd does at start about other nodes' Berth objects in its namespace.
final class OwnershipDecisionTests: XCTestCase {
    func decide(inUse: Bool, count: Int, purge: Bool = false) -> OwnershipDecision {
        OwnershipDecision.decide(namespace: "berth", databaseInUse: inUse, foreignCount: count,
                                 foreignSummary: "2 containers, 1 snapshot; node 1234", purgeForeign: purge)
    }

    func testNothingForeignStartsWhateverTheDatabase() {
        XCTAssertEqual(decide(inUse: false, count: 0), .start)
        XCTAssertEqual(decide(inUse: true, count: 0), .start)
        XCTAssertEqual(decide(inUse: false, count: 0, purge: true), .start, "nothing to purge")
    }

    func testANewDatabaseFacingForeignObjectsRefusesInOneLineThatSaysTheWayOut() throws {
        guard case .refuse(let message) = decide(inUse: false, count: 3) else {
            return XCTFail("expected a refusal, got \(decide(inUse: false, count: 3))")
        }
        XCTAssertFalse(message.contains("\n"), "one line")
        XCTAssertTrue(message.contains("\"berth\""), "names the namespace: \(message)")
        XCTAssertTrue(message.contains("3 Berth objects"), "the count: \(message)")
        XCTAssertTrue(message.contains("2 containers, 1 snapshot"), message)
        XCTAssertTrue(message.contains("--namespace"), "another namespace: \(message)")
        XCTAssertTrue(message.contains("--purge-foreign"), "the explicit flag: \(message)")
        XCTAssertTrue(message.contains("refusing to start"), message)
        guard case .refuse(let one) = decide(inUse: false, count: 1) else { return XCTFail() }
        XCTAssertTrue(one.contains("1 Berth object "), one)
    }

    func testADatabaseInUseLeavesThemAloneWithAWarning() {
        guard case .warn(let message) = decide(inUse: true, count: 2) else {
            return XCTFail("expected a warning, got \(decide(inUse: true, count: 2))")
        }
        XCTAssertTrue(message.contains("leaving them alone"), message)
        XCTAssertTrue(message.contains("\"berth\""), message)
    }

    func testThePurgeFlagRemovesThemOnANewOrAnInUseDatabase() {
        XCTAssertEqual(decide(inUse: false, count: 3, purge: true), .purge)
        XCTAssertEqual(decide(inUse: true, count: 3, purge: true), .purge)
    }
}
