import Foundation
import HostProcess
import JSONValue
import Logging

/// Runs CNI plugins by the spec's execution protocol: parameters in CNI_* environment
/// variables, the plugin's configuration on stdin, a result or an error as JSON on stdout.
struct PluginExecutor: Sendable {
    let pluginDirectories: [String]
    let logger: Logger
    /// The agent's environment without CNI_* variables, with the sbin folders on PATH (the
    /// bridge plugin runs iptables by name).
    private let baseEnvironment: [String]
    let timeout: Duration

    init(pluginDirectories: [String], logger: Logger, timeout: Duration = .seconds(60)) {
        self.pluginDirectories = pluginDirectories
        self.logger = logger
        self.timeout = timeout
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CNI_") }
        var path = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        for folder in ["/usr/local/sbin", "/usr/sbin", "/sbin"] where !path.contains(folder) { path.append(folder) }
        environment["PATH"] = path.joined(separator: ":")
        baseEnvironment = environment.map { "\($0.key)=\($0.value)" }
    }

    /// The first executable named `type` in the plugin directories.
    func locate(_ type: String) -> String? {
        for directory in pluginDirectories {
            let candidate = directory + "/" + type
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// ADD for each plugin of the list in order, each given the previous one's result as
    /// prevResult; returns the last result.
    func add(list: JSONValue, containerID: String, netns: String, ifName: String) async throws -> JSONValue {
        var result: JSONValue?
        for plugin in plugins(of: list) {
            let output = try await invoke(plugin: plugin, list: list, prevResult: result, command: "ADD",
                                          containerID: containerID, netns: netns, ifName: ifName)
            guard let parsed = try? JSONValue.parse(output), parsed.objectValue != nil else {
                throw CNIError(code: nil, message: "the plugin's result is not a JSON object: \(String(decoding: output.prefix(200), as: UTF8.self))",
                               plugin: plugin["type"]?.stringValue ?? "?", command: "ADD", containerID: containerID)
            }
            result = parsed
        }
        return result ?? .object([:])
    }

    /// DEL for each plugin in reverse order, each given the ADD result (when known) as
    /// prevResult. Every plugin runs even when an earlier one failed, so each releases what it
    /// can; the first failure is thrown afterwards.
    func delete(list: JSONValue, prevResult: JSONValue?, containerID: String, netns: String, ifName: String) async throws {
        var firstError: (any Error)?
        for plugin in plugins(of: list).reversed() {
            do {
                _ = try await invoke(plugin: plugin, list: list, prevResult: prevResult, command: "DEL",
                                     containerID: containerID, netns: netns, ifName: ifName)
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }

    /// CHECK for each plugin in order, each given the ADD result as prevResult.
    func check(list: JSONValue, prevResult: JSONValue, containerID: String, netns: String, ifName: String) async throws {
        for plugin in plugins(of: list) {
            _ = try await invoke(plugin: plugin, list: list, prevResult: prevResult, command: "CHECK",
                                 containerID: containerID, netns: netns, ifName: ifName)
        }
    }

    /// The spec versions a plugin supports (VERSION).
    func supportedVersions(of type: String, cniVersion: String) async throws -> [String] {
        let plugin: JSONValue = .object(["type": .string(type)])
        let list: JSONValue = .object(["cniVersion": .string(cniVersion), "name": .string("version-probe")])
        let output = try await invoke(plugin: plugin, list: list, prevResult: nil, command: "VERSION",
                                      containerID: nil, netns: "", ifName: "")
        return (try? JSONValue.parse(output))?["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    private func plugins(of list: JSONValue) -> [JSONValue] {
        list["plugins"]?.arrayValue ?? []
    }

    /// The plugin's own object with the list's cniVersion and name, and prevResult when chained.
    private func executionConfiguration(plugin: JSONValue, list: JSONValue, prevResult: JSONValue?) -> JSONValue {
        var configuration = plugin
            .setting("cniVersion", to: list["cniVersion"] ?? .null)
            .setting("name", to: list["name"] ?? .null)
        if let prevResult { configuration = configuration.setting("prevResult", to: prevResult) }
        return configuration
    }

    private func invoke(plugin: JSONValue, list: JSONValue, prevResult: JSONValue?, command: String,
                        containerID: String?, netns: String, ifName: String) async throws -> Data {
        let type = plugin["type"]?.stringValue ?? ""
        func failure(_ code: Int?, _ message: String, _ details: String? = nil) -> CNIError {
            CNIError(code: code, message: message, details: details, plugin: type, command: command, containerID: containerID)
        }
        guard let executable = locate(type) else {
            throw failure(nil, "plugin not found in \(pluginDirectories.joined(separator: ", "))")
        }
        let stdin = try executionConfiguration(plugin: plugin, list: list, prevResult: prevResult).serialized()
        var environment = baseEnvironment + [
            "CNI_COMMAND=\(command)",
            "CNI_PATH=\(pluginDirectories.joined(separator: ":"))",
        ]
        if let containerID {
            environment += ["CNI_CONTAINERID=\(containerID)", "CNI_NETNS=\(netns)", "CNI_IFNAME=\(ifName)"]
        }

        let started = ContinuousClock.now
        let output: HostProcessOutput
        do {
            output = try await HostProcess.run(executable, environment: environment, stdin: stdin, timeout: timeout)
        } catch {
            throw failure(nil, "\(error)")
        }
        let stderr = String(decoding: output.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        logger.trace("CNI plugin ran", metadata: [
            "plugin": "\(type)", "command": "\(command)", "container": "\(containerID ?? "")",
            "ifname": "\(ifName)", "duration": "\(ContinuousClock.now - started)", "status": "\(output.exitStatus.map(String.init) ?? "signal")",
        ])
        if output.timedOut {
            throw failure(nil, "timed out after \(timeout)", stderr.isEmpty ? nil : stderr)
        }
        guard output.succeeded else {
            if let error = try? JSONValue.parse(output.stdout), let message = error["msg"]?.stringValue {
                var code: Int?
                if case .integer(let value)? = error["code"] { code = Int(value) }
                throw failure(code, message, error["details"]?.stringValue ?? (stderr.isEmpty ? nil : stderr))
            }
            let how = output.exitStatus.map { "exited with status \($0)" } ?? "was killed by signal \(output.signal ?? 0)"
            throw failure(nil, stderr.isEmpty ? "the plugin \(how) without an error result" : "the plugin \(how): \(stderr)")
        }
        return output.stdout
    }
}
