import TestSupport
import XCTest

/// The inventory's comparisons, on listings made up here (the listings themselves are checked
/// by FaultTests against a real node).
final class HostInventoryTests: XCTestCase {
    let a = "93cfc912-0660-44a7-ae26-e7e23f919659"
    let b = "0b0f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b"

    func testContainerIDsFindsRuntimeAndContainerIDs() {
        XCTAssertEqual(ContainerIDs.all(in: "berth-\(a)-r12"), ["\(a)-r12"])
        XCTAssertEqual(ContainerIDs.all(in: "logs/\(a)"), [a])
        XCTAssertEqual(ContainerIDs.all(in: "nat: -A CNI-1 -m comment --comment \"name: \\\"x\\\" id: \\\"\(b)-r1\\\"\" -j X /\(a)-rx"),
                       ["\(b)-r1", a])
        XCTAssertEqual(ContainerIDs.all(in: "sha256:93cfc9120660aae26e7e23f919659"), [])
        XCTAssertEqual(ContainerIDs.all(in: a.uppercased()), [], "ids are lowercase")
    }

    func testDiffListsEveryAddedAndRemovedLineEvenDuplicates() {
        let before = HostInventory(listings: ["mount": ["/d/x ext4 /dev/loop1"], "netns": ["berth-\(a)-r1"]])
        let after = HostInventory(listings: ["mount": ["/d/x ext4 /dev/loop1", "/d/x ext4 /dev/loop1"], "veth": ["veth1 peer=?"]])
        let diff = after.diff(from: before)
        XCTAssertEqual(diff.added, ["mount": ["/d/x ext4 /dev/loop1"], "veth": ["veth1 peer=?"]])
        XCTAssertEqual(diff.removed, ["netns": ["berth-\(a)-r1"]])
        XCTAssertEqual(diff.count, 3)
        XCTAssertEqual(diff.description, """
            + mount: /d/x ext4 /dev/loop1
            - netns: berth-\(a)-r1
            + veth: veth1 peer=?
            """)
        XCTAssertTrue(after.diff(from: after).isEmpty)
    }

    func testLeaksAreLinesOfRevisionsOrContainersThatShouldNotExist() {
        let inventory = HostInventory(listings: [
            "netns": ["berth-\(a)-r1", "berth-\(a)-r2", "berth-\(b)-r1"],
            "data.logs": ["logs/\(a)", "logs/\(b)"],
            "bridge": ["inet 10.1.0.1/24"],
        ])
        let leaks = inventory.leaks(containers: [a], revisions: ["\(a)-r2"])
        XCTAssertEqual(leaks.added, ["netns": ["berth-\(b)-r1", "berth-\(a)-r1"], "data.logs": ["logs/\(b)"]], "sorted listings")
        XCTAssertEqual(inventory.unowned.listings["bridge"], ["inet 10.1.0.1/24"])
        XCTAssertEqual(inventory.unowned.listings["netns"], [])
    }

    func testLeasesAreNeverAttributedToAContainer() {
        // A lease is named "berth-<random UUID>": compared in full, never a container's.
        let lease = "berth-\(a) 2026-12-02T05:17:00Z containerd.io/gc.expire=2026-12-02T05:27:00Z"
        let inventory = HostInventory(listings: ["ctr.leases": [lease]])
        XCTAssertTrue(inventory.leaks(containers: [], revisions: []).isEmpty)
        XCTAssertEqual(inventory.unowned.listings["ctr.leases"], [lease])
        XCTAssertEqual(inventory.unowned.diff(from: HostInventory(listings: [:])).added, ["ctr.leases": [lease]])
    }
}
