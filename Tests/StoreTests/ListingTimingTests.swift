import Foundation
import Store
import XCTest

/// Prints how long listing 1,000 containers takes (the API's list benchmark wants p99 < 5 ms end
/// to end); it measures, it does not assert, since CI machines vary.
final class ListingTimingTests: XCTestCase {
    func testListingOneThousandContainers() throws {
        let db = try BerthDatabase(path: try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path)
        let spec = try sampleSpec(env: ["FOO": "bar", "GREETING": "héllo", "PATH": "/usr/local/bin:/usr/bin:/bin"])
        let start = sampleDate
        for i in 0..<1000 {
            let (container, _) = try db.createContainer(name: "c-\(i)", owner: "owner-\(i % 10)", spec: spec,
                                                        now: start.addingTimeInterval(Double(i)))
            try db.promote(containerID: container.id, revision: 1)
        }
        XCTAssertEqual(try db.containers(owner: nil).count, 1000)
        XCTAssertEqual(try db.containersWithServingRevision(owner: nil).count, 1000)
        XCTAssertEqual(try db.containersWithServingRevision(owner: "owner-3").count, 100)

        for (label, body) in [
            ("containers(owner: nil)", { _ = try db.containers(owner: nil) }),
            ("containersWithServingRevision(owner: nil)", { _ = try db.containersWithServingRevision(owner: nil) }),
            ("containersWithServingRevision(owner: 100 of 1,000)", { _ = try db.containersWithServingRevision(owner: "owner-3") }),
        ] as [(String, () throws -> Void)] {
            var samples: [Double] = []
            for _ in 0..<50 {
                let began = ContinuousClock.now
                try body()
                let elapsed = ContinuousClock.now - began
                samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
            }
            samples.sort()
            print(String(format: "StoreTiming %@, 1,000 rows: median %.2f ms, p99 %.2f ms, min %.2f ms",
                         label, samples[samples.count / 2], samples[samples.count * 99 / 100], samples[0]))
        }
    }
}
