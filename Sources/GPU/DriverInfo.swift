import Foundation

/// What the NVIDIA kernel driver says about itself under /proc.
enum DriverInfo {
    struct GPU: Sendable, Hashable {
        var model: String
        var uuid: String?
        var minor: Int?
        var busLocation: String?
    }

    /// /proc/driver/nvidia/gpus/<bus id>/information for each GPU, in minor order.
    static func gpus(root: HostRoot) -> [GPU] {
        let directory = "/proc/driver/nvidia/gpus"
        return root.contents(of: directory)
            .compactMap { root.read("\(directory)/\($0)/information").map(parseInformation) }
            .sorted { ($0.minor ?? .max, $0.busLocation ?? "") < ($1.minor ?? .max, $1.busLocation ?? "") }
    }

    /// Lines of "Key: value", e.g. "Model: \t\t NVIDIA H200", "GPU UUID: \t GPU-8c1…",
    /// "Device Minor: \t 0". The driver writes "??" for what it does not know.
    static func parseInformation(_ text: String) -> GPU {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if !value.isEmpty && value != "??" { fields[key] = value }
        }
        return GPU(model: fields["Model"] ?? GPUDevice.unknownModel, uuid: fields["GPU UUID"],
                   minor: fields["Device Minor"].flatMap { Int($0) }, busLocation: fields["Bus Location"])
    }

    /// Character device majors by driver name from /proc/devices ("195 nvidia-frontend",
    /// "511 nvidia-uvm").
    static func characterMajors(root: HostRoot) -> [String: Int64] {
        root.read("/proc/devices").map(parseDevices) ?? [:]
    }

    static func parseDevices(_ text: String) -> [String: Int64] {
        var majors: [String: Int64] = [:]
        var inCharacterSection = false
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasSuffix("devices:") {
                inCharacterSection = line.hasPrefix("Character")
                continue
            }
            let parts = line.split(whereSeparator: \.isWhitespace)
            guard inCharacterSection, parts.count == 2, let major = Int64(parts[0]) else { continue }
            majors[String(parts[1])] = majors[String(parts[1])] ?? major
        }
        return majors
    }

    /// The kernel module's version from /proc/driver/nvidia/version
    /// ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024").
    static func version(root: HostRoot) -> String? {
        guard let text = root.read("/proc/driver/nvidia/version") else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("NVRM version:") {
            let words = line.split(whereSeparator: \.isWhitespace)
            if let module = words.firstIndex(of: "Module"), module + 1 < words.endIndex {
                return String(words[module + 1])
            }
            return words.first { $0.first?.isNumber == true && $0.contains(".") }.map(String.init)
        }
        return nil
    }

    /// The frontend driver's major ("nvidia-frontend" in older drivers, "nvidia" in newer); 195
    /// is NVIDIA's fixed number (NV_MAJOR_DEVICE_NUMBER).
    static func frontendMajor(_ majors: [String: Int64]) -> Int64? {
        majors["nvidia-frontend"] ?? majors["nvidia"]
    }

    static let fixedFrontendMajor: Int64 = 195
}
