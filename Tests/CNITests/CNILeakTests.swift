import CNI
import Foundation
import TestSupport
import XCTest

/// Many attach/detach cycles leave nothing behind: no reserved address, namespace, veth,
/// mount or NAT chain. BERTH_CNI_LEAK_CYCLES lowers the count for quick local runs; CI always
/// runs the full 1,000.
final class CNILeakTests: CNITestCase {
    func testAttachDetachCyclesLeaveNothingBehind() async throws {
        let cycles = Self.cycles
        // One cycle first: the bridge and the shared mount of /run/netns stay by design.
        try await network.detach(containerID: try await network.attach(containerID: makeContainerID("warmup")).containerID)

        // Sets, compared as "nothing new": other tests' containers may still be going away
        // while this one runs, so entries may vanish, but none may appear.
        let links = try Self.links()
        let mounts = try Self.mountLines()
        let chains = Set(try cniChains())
        var attachTimes: [Duration] = []
        var detachTimes: [Duration] = []
        attachTimes.reserveCapacity(cycles)
        detachTimes.reserveCapacity(cycles)
        let clock = ContinuousClock()
        let started = clock.now
        for cycle in 0..<cycles {
            let id = "\(Self.idPrefix)leak-\(cycle)"
            var attachment: NetworkAttachment?
            attachTimes.append(try await clock.measure { attachment = try await network.attach(containerID: id) })
            XCTAssertNotNil(attachment)
            do {
                detachTimes.append(try await clock.measure { try await network.detach(containerID: id) })
            } catch {
                try? await network.detach(containerID: id)
                throw error
            }
        }
        let total = clock.now - started

        print("CNI leak test: \(cycles) attach/detach cycles in \(total); median attach \(Self.median(attachTimes)), "
              + "median detach \(Self.median(detachTimes)); p90 attach \(Self.percentile(attachTimes, 0.9)), "
              + "p90 detach \(Self.percentile(detachTimes, 0.9))")
        XCTAssertEqual(reservedAddresses(), [], "host-local address files")
        let namespaces = try runCommand("ip", ["netns", "list"]).split(separator: "\n").filter { $0.contains("berth-\(Self.idPrefix)") }
        XCTAssertEqual(namespaces, [], "namespaces")
        XCTAssertEqual(try Self.links().subtracting(links), [], "new network interfaces")
        XCTAssertEqual(try Self.mountLines().subtracting(mounts), [], "new /proc/mounts lines")
        XCTAssertEqual(Set(try cniChains()).subtracting(chains), [], "new iptables CNI chains")
        let rules = try runCommand("iptables", ["-w", "-t", "nat", "-S"]).split(separator: "\n")
            .filter { $0.contains("name: \\\"\(Self.networkName)\\\"") }
        XCTAssertEqual(rules, [], "NAT rules of the test network")
        XCTAssertEqual(try network.attachedContainerIDs().filter { $0.hasPrefix(Self.idPrefix) }, [])
    }

    static var cycles: Int {
        let environment = ProcessInfo.processInfo.environment
        let ci = environment["CI"].map { !$0.isEmpty && $0 != "0" && $0.lowercased() != "false" } ?? false
        guard !ci, let value = environment["BERTH_CNI_LEAK_CYCLES"].flatMap(Int.init), value > 0 else { return 1000 }
        return value
    }

    /// Interface names ("veth1a2b3c4d" of "5: veth1a2b3c4d@if2: <…>").
    static func links() throws -> Set<String> {
        Set(try runCommand("ip", ["-o", "link"]).split(separator: "\n").compactMap { line in
            line.split(separator: ":", maxSplits: 2).dropFirst().first.map {
                String($0.trimmingCharacters(in: .whitespaces).split(separator: "@").first ?? "")
            }
        })
    }

    static func mountLines() throws -> Set<String> {
        Set(try readProcFile("/proc/mounts").split(separator: "\n").map(String.init))
    }

    static func median(_ values: [Duration]) -> Duration { percentile(values, 0.5) }

    static func percentile(_ values: [Duration], _ fraction: Double) -> Duration {
        guard !values.isEmpty else { return .zero }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }
}
