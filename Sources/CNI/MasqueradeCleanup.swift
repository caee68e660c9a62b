import Foundation
import HostProcess
import Logging

/// Removes the NAT rules the bridge plugin's ipMasq made for a container when the plugin's DEL
/// cannot: it finds the container's addresses on its interface inside the namespace, so with
/// the namespace or the interface or the address gone it leaves the chain and the POSTROUTING
/// jump behind. Rules are found by the comment the plugin puts on each
/// (`name: "NETWORK" id: "CONTAINER"`).
struct MasqueradeCleanup: Sendable {
    let logger: Logger

    private static let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

    /// Deletes the container's POSTROUTING jumps and then its chains; true when any were found.
    @discardableResult
    func removeRules(networkName: String, containerID: String) async throws -> Bool {
        guard let iptables = Self.iptables else {
            throw CNIError(code: nil, message: "iptables not found", plugin: "iptables", command: "DEL", containerID: containerID)
        }
        let comment = "name: \"\(networkName)\" id: \"\(containerID)\""
        let listing = try await run(iptables, ["-w", "-t", "nat", "-S"], containerID: containerID)
        var jumps: [[String]] = []
        var chains: [String] = []
        for line in listing.split(separator: "\n") {
            let words = Self.words(String(line))
            guard words.count > 2, words[0] == "-A", words.contains(comment) else { continue }
            if words[1].hasPrefix("CNI-") {
                if !chains.contains(words[1]) { chains.append(words[1]) }
            } else {
                jumps.append(Array(words.dropFirst()))
            }
        }
        if jumps.isEmpty && chains.isEmpty { return false }
        logger.info("removing NAT rules the bridge plugin left", metadata: ["container": "\(containerID)", "chains": "\(chains)"])
        for jump in jumps {
            _ = try await run(iptables, ["-w", "-t", "nat", "-D"] + jump, containerID: containerID)
        }
        for chain in chains {
            _ = try await run(iptables, ["-w", "-t", "nat", "-F", chain], containerID: containerID)
            _ = try await run(iptables, ["-w", "-t", "nat", "-X", chain], containerID: containerID)
        }
        return true
    }

    private func run(_ iptables: String, _ arguments: [String], containerID: String) async throws -> String {
        let output = try await HostProcess.run(iptables, arguments: arguments, environment: Self.environment, timeout: .seconds(60))
        guard output.succeeded else {
            let stderr = String(decoding: output.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw CNIError(code: nil, message: "iptables \(arguments.joined(separator: " ")) failed: \(stderr)",
                           plugin: "iptables", command: "DEL", containerID: containerID)
        }
        return String(decoding: output.stdout, as: UTF8.self)
    }

    private static let iptables: String? = ["/usr/sbin/iptables", "/sbin/iptables", "/usr/local/sbin/iptables", "/usr/bin/iptables"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Splits a line of `iptables -S` into its arguments: words separated by spaces, double
    /// quotes around words with spaces, backslash escapes inside quotes.
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false, quoted = false, escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if quoted && character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
                inWord = true
            } else if character == " " && !quoted {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
