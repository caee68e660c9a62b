import Foundation
import Runtime
import XCTest

final class CgroupReaderTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-cgroup-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    func write(_ files: [String: String]) throws {
        for (path, content) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
        }
    }

    func v1Tree(_ path: String = "berth/c-r1", overrides: [String: String] = [:]) -> [String: String] {
        var files = [
            "memory/\(path)/memory.usage_in_bytes": "1048576\n",
            "memory/\(path)/memory.limit_in_bytes": "67108864\n",
            "memory/\(path)/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
            "memory/\(path)/memory.failcnt": "17\n",
            "cpuacct/\(path)/cpuacct.usage": "123456789\n",
            "cpu/\(path)/cpu.cfs_quota_us": "50000\n",
            "cpu/\(path)/cpu.cfs_period_us": "100000\n",
            "pids/\(path)/pids.current": "3\n",
            "pids/\(path)/pids.max": "100\n",
            "freezer/\(path)/freezer.state": "THAWED\n",
            "memory/memory.memsw.limit_in_bytes": "9223372036854771712\n",
        ]
        for (key, value) in overrides { files["\(key.split(separator: "/")[0])/\(path)/\(key.split(separator: "/")[1])"] = value }
        return files
    }

    func v2Tree(_ path: String = "berth/c-r1") -> [String: String] {
        [
            "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
            "\(path)/memory.current": "2097152\n",
            "\(path)/memory.max": "67108864\n",
            "\(path)/memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
            "\(path)/cpu.stat": "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
            "\(path)/cpu.max": "50000 100000\n",
            "\(path)/pids.current": "4\n",
            "\(path)/pids.max": "max\n",
            "\(path)/cgroup.events": "populated 1\nfrozen 0\n",
            "\(path)/cgroup.freeze": "0\n",
        ]
    }

    func testDetect() throws {
        XCTAssertEqual(CgroupVersion.detect(root: root), .v1)
        XCTAssertFalse(CgroupVersion.swapLimitSupported(root: root))
        try write(v1Tree())
        XCTAssertTrue(CgroupVersion.swapLimitSupported(root: root))
        try write(["cgroup.controllers": "cpu memory pids\n"])
        XCTAssertEqual(CgroupVersion.detect(root: root), .v2)
        XCTAssertTrue(CgroupVersion.swapLimitSupported(root: root))
        XCTAssertEqual(CgroupReader(root: root).version, .v2)
        XCTAssertEqual(CgroupReader(root: root, version: .v1).version, .v1)
    }

    func testV1() throws {
        try write(v1Tree())
        let stats = try CgroupReader(root: root, version: .v1).stats(cgroupsPath: "/berth/c-r1")
        XCTAssertEqual(stats, CgroupStats(memoryUsageBytes: 1_048_576, memoryLimitBytes: 67_108_864, oomKillCount: 2,
                                          cpuUsageNanoseconds: 123_456_789, cpuQuota: 50000, cpuPeriod: 100_000,
                                          pidsCurrent: 3, pidsLimit: 100, frozen: false))
        XCTAssertEqual(CgroupReader(root: root).version, .v1)
    }

    func testV1UnlimitedAndFrozen() throws {
        try write(v1Tree(overrides: [
            "memory/memory.limit_in_bytes": "9223372036854771712\n",
            "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n",
            "cpu/cpu.cfs_quota_us": "-1\n",
            "pids/pids.max": "max\n",
            "freezer/freezer.state": "FROZEN\n",
        ]))
        let stats = try CgroupReader(root: root, version: .v1).stats(cgroupsPath: "berth/c-r1/")
        XCTAssertNil(stats.memoryLimitBytes)
        XCTAssertEqual(stats.oomKillCount, 0, "no oom_kill line (kernel < 4.13): failcnt is not a kill count")
        XCTAssertNil(stats.cpuQuota)
        XCTAssertEqual(stats.cpuPeriod, 100_000)
        XCTAssertNil(stats.pidsLimit)
        XCTAssertTrue(stats.frozen)
    }

    func testV1MissingAndBadFiles() throws {
        var files = v1Tree()
        files["pids/berth/c-r1/pids.current"] = nil
        try write(files)
        let reader = CgroupReader(root: root, version: .v1)
        XCTAssertThrowsError(try reader.stats(cgroupsPath: "/berth/c-r1")) { error in
            XCTAssertEqual(error as? CgroupError, CgroupError(path: root + "/pids/berth/c-r1/pids.current", reason: "does not exist"))
            XCTAssertEqual("\(error)", "cgroup file \(root)/pids/berth/c-r1/pids.current: does not exist")
        }
        try write(["pids/berth/c-r1/pids.current": "3\n", "memory/berth/c-r1/memory.usage_in_bytes": "lots\n"])
        XCTAssertThrowsError(try reader.stats(cgroupsPath: "/berth/c-r1")) { error in
            XCTAssertEqual(error as? CgroupError, CgroupError(path: root + "/memory/berth/c-r1/memory.usage_in_bytes",
                                                              reason: "\"lots\" is not a number"))
        }
        XCTAssertThrowsError(try reader.stats(cgroupsPath: "/berth/other")) { error in
            XCTAssertTrue("\(error)".contains("/berth/other/"), "\(error)")
        }
    }

    func testV2() throws {
        try write(v2Tree())
        let reader = CgroupReader(root: root)
        XCTAssertEqual(reader.version, .v2)
        let stats = try reader.stats(cgroupsPath: "/berth/c-r1")
        XCTAssertEqual(stats, CgroupStats(memoryUsageBytes: 2_097_152, memoryLimitBytes: 67_108_864, oomKillCount: 1,
                                          cpuUsageNanoseconds: 2_500_000, cpuQuota: 50000, cpuPeriod: 100_000,
                                          pidsCurrent: 4, pidsLimit: nil, frozen: false))
    }

    func testV2MaxValuesAndFreezeFallback() throws {
        var files = v2Tree()
        files["berth/c-r1/memory.max"] = "max\n"
        files["berth/c-r1/cpu.max"] = "max 100000\n"
        files["berth/c-r1/pids.max"] = "50\n"
        files["berth/c-r1/cgroup.events"] = "populated 1\nfrozen 1\n"
        try write(files)
        var stats = try CgroupReader(root: root).stats(cgroupsPath: "/berth/c-r1")
        XCTAssertNil(stats.memoryLimitBytes)
        XCTAssertNil(stats.cpuQuota)
        XCTAssertEqual(stats.cpuPeriod, 100_000)
        XCTAssertEqual(stats.pidsLimit, 50)
        XCTAssertTrue(stats.frozen)

        try FileManager.default.removeItem(atPath: root + "/berth/c-r1/cgroup.events")
        try write(["berth/c-r1/cgroup.freeze": "1\n"])
        stats = try CgroupReader(root: root).stats(cgroupsPath: "/berth/c-r1")
        XCTAssertTrue(stats.frozen)
    }

    func testV2MissingAndBadFiles() throws {
        var files = v2Tree()
        files["berth/c-r1/memory.events"] = nil
        try write(files)
        let reader = CgroupReader(root: root)
        XCTAssertThrowsError(try reader.stats(cgroupsPath: "/berth/c-r1")) { error in
            XCTAssertEqual(error as? CgroupError, CgroupError(path: root + "/berth/c-r1/memory.events", reason: "does not exist"))
        }
        try write(["berth/c-r1/memory.events": "oom_kill 0\n", "berth/c-r1/cpu.max": "50000\n"])
        XCTAssertThrowsError(try reader.stats(cgroupsPath: "/berth/c-r1")) { error in
            XCTAssertEqual(error as? CgroupError, CgroupError(path: root + "/berth/c-r1/cpu.max", reason: "\"50000\" is not \"QUOTA PERIOD\""))
        }
        try write(["berth/c-r1/cpu.max": "max 100000\n", "berth/c-r1/cpu.stat": "user_usec 1\n"])
        XCTAssertThrowsError(try reader.stats(cgroupsPath: "/berth/c-r1")) { error in
            XCTAssertEqual(error as? CgroupError, CgroupError(path: root + "/berth/c-r1/cpu.stat", reason: "no usage_usec line"))
        }
        try write(["berth/c-r1/cpu.stat": "usage_usec 1\n", "berth/c-r1/pids.max": "unlimited\n"])
        XCTAssertThrowsError(try reader.stats(cgroupsPath: "/berth/c-r1")) { error in
            XCTAssertEqual(error as? CgroupError, CgroupError(path: root + "/berth/c-r1/pids.max", reason: "\"unlimited\" is neither a number nor max"))
        }
    }

    func testDirectories() {
        let reader = CgroupReader(root: "/sys/fs/cgroup/", version: .v1)
        XCTAssertEqual(reader.directory(cgroupsPath: "/berth/x", controller: "memory"), "/sys/fs/cgroup/memory/berth/x")
        XCTAssertEqual(reader.directory(cgroupsPath: "berth/x/"), "/sys/fs/cgroup/berth/x")
        XCTAssertEqual(reader.directory(cgroupsPath: "/", controller: "pids"), "/sys/fs/cgroup/pids")
    }
}
