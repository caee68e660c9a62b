@testable import Daemon
import Foundation
import Store
import XCTest

/// `[node]` totals and headroom, `[quota]`, what berthd reads from the host, and its own OOM score.
final class CapacitySettingsTests: XCTestCase {
    let folder = try! TemporaryFolder()

    func resolve(_ toml: String, environment: [String: String] = [:], flags: DaemonFlags = DaemonFlags()) throws -> DaemonConfiguration {
        var flags = flags
        flags.configFile = try folder.write("berthd.toml", toml)
        return try DaemonConfiguration.resolve(flags: flags, environment: environment)
    }

    func resolveError(_ toml: String, environment: [String: String] = [:]) -> String {
        do {
            _ = try resolve(toml, environment: environment)
            return "resolved"
        } catch {
            return "\(error)".replacingOccurrences(of: folder.path + "/berthd.toml: ", with: "")
        }
    }

    let host = HostResources(milliCPU: 8000, ram: 16 << 30, storage: 100 << 30)

    func testDefaultsKeepTenPercentOfMemoryAndDiskAndNoCPU() throws {
        let policy = try resolve("").capacityPolicy(host: host)
        XCTAssertEqual(policy.node, ResourceLimits([.cpu: 8000, .ram: (16 << 30) - (16 << 30) / 10 - 1, .ephemeralStorage: 90 << 30]))
        XCTAssertTrue(policy.defaultQuota.isUnlimited)
        XCTAssertEqual(policy.ownerQuotas, [:])
    }

    func testTotalsAndHeadroomFromFileEnvironmentAndFlags() throws {
        let file = try resolve("""
            [node]
            cpu = 16
            ram = "32Gi"
            reserved_cpu = 0.5
            reserved_ram = "2Gi"
            reserved_storage = "25%"
            """)
        XCTAssertEqual(try file.capacityPolicy(host: host).node,
                       ResourceLimits([.cpu: 15_500, .ram: 30 << 30, .ephemeralStorage: 75 << 30]))

        var flags = DaemonFlags()
        flags.nodeStorage = "10Gi"
        flags.reservedStorage = "1Gi"
        let mixed = try resolve("[node]\nreserved_cpu = \"50%\"\n", environment: ["BERTH_RESERVED_RAM": "0", "BERTH_NODE_CPU": "auto"],
                                flags: flags)
        XCTAssertEqual(try mixed.capacityPolicy(host: host).node,
                       ResourceLimits([.cpu: 4000, .ram: 16 << 30, .ephemeralStorage: 9 << 30]))
        XCTAssertEqual(mixed.source(of: "node.reserved_storage"), .flag("--reserved-storage"))
    }

    func testQuotasFromATableAndFromText() throws {
        let file = try resolve("""
            [quota]
            default = { cpu = 4, ram = "8Gi", storage = "20Gi", gpu = 1 }
            owners = { alice = { cpu = 16 }, "https://idp.example/u:7" = { gpu = 0 } }
            """)
        XCTAssertEqual(file.defaultQuota, ResourceLimits(cpu: 4, ram: 8 << 30, ephemeralStorage: 20 << 30, gpu: 1))
        XCTAssertEqual(file.ownerQuotas, ["alice": ResourceLimits(cpu: 16), "https://idp.example/u:7": ResourceLimits(gpu: 0)])
        let policy = try file.capacityPolicy(host: host)
        XCTAssertEqual(policy.quota(of: "alice"), ResourceLimits(cpu: 16, ram: 8 << 30, ephemeralStorage: 20 << 30, gpu: 1))
        XCTAssertEqual(policy.quota(of: "bob"), file.defaultQuota)

        let environment = try resolve("", environment: [
            "BERTH_QUOTA_DEFAULT": "cpu=0.5, ram=512Mi",
            "BERTH_QUOTA_OWNERS": "alice:cpu=2,ram=1Gi;https://idp.example/u:7:gpu=2",
        ])
        XCTAssertEqual(environment.defaultQuota, ResourceLimits(cpu: 0.5, ram: 512 << 20))
        XCTAssertEqual(environment.ownerQuotas, ["alice": ResourceLimits(cpu: 2, ram: 1 << 30),
                                                 "https://idp.example/u:7": ResourceLimits(gpu: 2)])
        var flags = DaemonFlags()
        flags.quotaOwners = ["carol:storage=5Gi", "dave:gpu=1"]
        XCTAssertEqual(try resolve("", flags: flags).ownerQuotas,
                       ["carol": ResourceLimits(ephemeralStorage: 5 << 30), "dave": ResourceLimits(gpu: 1)])
    }

    func testBadValuesAreOneLineErrors() {
        XCTAssertEqual(resolveError("[node]\nreserved_ram = \"lots\"\n"),
                       #"node.reserved_ram: "lots" is not a size; expected a quantity such as "512Mi" or "8Gi""#)
        XCTAssertEqual(resolveError("[node]\nreserved_cpu = \"100%\"\n"),
                       #"node.reserved_cpu: "100%" is not a percentage from 0% to 99%"#)
        XCTAssertEqual(resolveError("[node]\ncpu = 0\n"),
                       "node.cpu: must be more than 0 cores (leave it unset to use the host's)")
        XCTAssertEqual(resolveError("[node]\ncpu = true\n"), "node.cpu: expected a number of cores, found a boolean")
        XCTAssertEqual(resolveError("[quota]\ndefault = { disk = \"1Gi\" }\n"),
                       #"quota.default: unknown resource "disk"; a quota names cpu (cores), ram, storage (ephemeral storage; sizes such as "8Gi") and gpu (devices)"#)
        XCTAssertEqual(resolveError("[quota]\ndefault = { gpu = -1 }\n"), "quota.default.gpu: -1 is not a whole number of GPUs")
        XCTAssertEqual(resolveError("", environment: ["BERTH_QUOTA_OWNERS": "cpu=1"]),
                       #"environment variable BERTH_QUOTA_OWNERS: "cpu=1" is not OWNER:RESOURCE=AMOUNT,… (e.g. alice:cpu=4,ram=8Gi)"#)
        XCTAssertEqual(resolveError("[quota]\nowners = { alice = { ram = \"x\" } }\n"),
                       #"quota.owners."alice".ram: "x" is not a size; expected a quantity such as "512Mi" or "8Gi""#)
    }

    func testHeadroomThatLeavesNothingIsRefusedAtStart() throws {
        let configuration = try resolve("[node]\nreserved_ram = \"16Gi\"\n")
        XCTAssertThrowsError(try configuration.capacityPolicy(host: host)) { error in
            XCTAssertEqual("\(error)".replacingOccurrences(of: folder.path + "/berthd.toml: ", with: ""),
                           "node.reserved_ram: keeps back 16Gi of the node's 16Gi; nothing would be left for containers")
        }
    }

    func testHostTotalsFromProcAndCgroupFiles() throws {
        let meminfo = try folder.write("meminfo", "MemTotal:       24684264 kB\nMemFree:        22843204 kB\n")
        XCTAssertEqual(HostResources.memoryTotal(meminfo: meminfo), 24_684_264 * 1024)

        let root = folder.path + "/cgroup"
        try folder.write("cgroup/cpu.max", "max 100000\n")
        try folder.write("cgroup/memory.max", "max\n")
        try folder.write("cgroup/berth/cpu.max", "150000 100000\n")
        try folder.write("cgroup/berth/memory.max", "1073741824\n")
        let limited = HostResources.detect(dataDirectory: folder.path, cgroupRoot: root)
        XCTAssertEqual(limited.milliCPU, min(1500, Int64(ProcessInfo.processInfo.activeProcessorCount) * 1000))
        XCTAssertEqual(limited.ram, 1 << 30)
        XCTAssertGreaterThan(limited.storage, 0)

        try folder.write("v1/cpu/cpu.cfs_quota_us", "-1\n")
        try folder.write("v1/cpu/cpu.cfs_period_us", "100000\n")
        try folder.write("v1/memory/memory.limit_in_bytes", "9223372036854771712\n")
        let unlimited = HostResources.detect(dataDirectory: folder.path, cgroupRoot: folder.path + "/v1")
        XCTAssertEqual(unlimited.milliCPU, Int64(sysconf(Int32(_SC_NPROCESSORS_ONLN))) * 1000)
        XCTAssertEqual(unlimited.ram, HostResources.memoryTotal())
    }

    func testBerthdLowersItsOwnOOMScoreButNeverRaisesIt() throws {
        let file = try folder.write("oom_score_adj", "0\n")
        XCTAssertEqual(OwnOOMScore.lower(path: file), -500)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "-500\n")
        try "-999\n".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(OwnOOMScore.lower(path: file), -999)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "-999\n")
        XCTAssertNil(OwnOOMScore.lower(path: folder.path + "/missing"))
    }
}
