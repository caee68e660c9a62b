import ArgumentParser
import BerthClient
import BerthModel
import Foundation
import JSONValue

/// The flags of `berth deploy` that say what a revision runs, and the API body they make.
/// Only the flags given are sent, so an update keeps every other field (a new revision).
struct SpecOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The image, with a tag or a digest (nginxdemos/hello:0.4). Required to create.", valueName: "image"))
    var image: String?
    @Option(help: ArgumentHelp("CPU cores: 0.25, 1, 1.5.", valueName: "cores"))
    var cpu: Double?
    @Option(help: ArgumentHelp("Memory limit, a Kubernetes quantity: 512Mi, 2Gi.", valueName: "quantity"))
    var ram: String?
    @Option(help: ArgumentHelp("Whole GPUs.", valueName: "count"))
    var gpu: Int?
    @Option(name: .customLong("gpu-model"), help: ArgumentHelp("The GPU model, as `berth gpus` lists it.", valueName: "model"))
    var gpuModel: String?
    @Option(help: ArgumentHelp("Ephemeral storage (the writable layer's size), a quantity: 1Gi.", valueName: "quantity"))
    var storage: String?
    @Option(help: ArgumentHelp("The port the container listens on.", valueName: "port"))
    var port: Int?
    @Option(name: .customLong("protocol"),
            help: ArgumentHelp("The HTTP the container serves: http1 (HTTP/1.1, the default) or h2c (HTTP/2 without TLS, as gRPC servers speak).",
                               valueName: "http1|h2c"))
    var servingProtocol: String?
    @Option(name: .customLong("env"), help: ArgumentHelp("An environment variable; repeatable. On an update, added to the latest revision's.",
                                                         valueName: "KEY=VALUE"))
    var env: [String] = []
    @Option(name: .customLong("env-file"), help: ArgumentHelp("A file of KEY=VALUE lines (blank lines and # comments skipped); repeatable.", valueName: "file"))
    var envFiles: [String] = []
    @Option(name: .customLong("env-secret"), help: ArgumentHelp("A variable whose value is one of your secrets (berth secret); repeatable.",
                                                               valueName: "KEY=SECRET"))
    var envSecret: [String] = []
    @Option(name: .customLong("unset-env"), help: ArgumentHelp("On an update, a variable to remove; repeatable.", valueName: "KEY"))
    var unsetEnv: [String] = []
    @Option(help: ArgumentHelp("Requests one instance serves at once (0: no limit).", valueName: "requests"))
    var concurrency: Int?
    @Option(name: .customLong("min-instances"), help: ArgumentHelp("Instances kept running when idle (0 scales to zero).", valueName: "count"))
    var minInstances: Int?
    @Option(name: .customLong("max-instances"), help: ArgumentHelp("The most instances the autoscaler may run.", valueName: "count"))
    var maxInstances: Int?
    @Option(help: ArgumentHelp("How long a request may take before the proxy answers 504: 30s, 5m, or seconds.", valueName: "duration"))
    var timeout: String?
    @Flag(inversion: .prefixedNo, help: "Keep one instance warm instead of scaling to zero (--no-keep-warm: scale to zero).")
    var keepWarm: Bool?

    /// Checked as the flags are parsed, so a typo is a usage error before the node is asked anything.
    func validate() throws {
        if let servingProtocol, ServingProtocol(rawValue: servingProtocol) == nil {
            let allowed = ServingProtocol.allCases.map(\.rawValue).joined(separator: " or ")
            throw ValidationError("--protocol \(servingProtocol): give \(allowed) (h2c: HTTP/2 without TLS, as gRPC servers speak)")
        }
    }

    var changesEnvironment: Bool { !env.isEmpty || !envFiles.isEmpty || !envSecret.isEmpty || !unsetEnv.isEmpty }

    /// The body for a create (`name` set) or an update; `currentEnv` is the environment the env
    /// flags change: the latest revision's for an update, none for a create.
    func body(name: String?, currentEnv: [String: EnvironmentValue]) throws -> JSONValue {
        var fields: [String: JSONValue] = [:]
        if let name { fields["name"] = .string(name) }
        if let image { fields["image"] = .string(image) }
        if let cpu { fields["cpu"] = .number(cpu) }
        if let ram { fields["ram"] = .string(ram) }
        if let gpu { fields["gpu"] = .integer(Int64(gpu)) }
        if let gpuModel { fields["gpuModel"] = .string(gpuModel) }
        if let storage { fields["ephemeralStorage"] = .string(storage) }
        if let port { fields["port"] = .integer(Int64(port)) }
        if let servingProtocol { fields["protocol"] = .string(servingProtocol) }
        if let concurrency { fields["concurrency"] = .integer(Int64(concurrency)) }
        if let minInstances { fields["minInstances"] = .integer(Int64(minInstances)) }
        if let maxInstances { fields["maxInstances"] = .integer(Int64(maxInstances)) }
        if let keepWarm { fields["keepWarm"] = .bool(keepWarm) }
        if let timeout { fields["timeoutSeconds"] = .integer(Int64(try Self.seconds(timeout))) }
        if changesEnvironment {
            var environment = currentEnv
            for file in envFiles {
                environment.merge(try Self.readEnvFile(file).mapValues(EnvironmentValue.plain)) { $1 }
            }
            for pair in env {
                let (key, value) = try Self.pair(pair, source: "--env")
                environment[key] = .plain(value)
            }
            for pair in envSecret {
                let (key, secret) = try Self.pair(pair, source: "--env-secret")
                environment[key] = .secret(secret)
            }
            for key in unsetEnv { environment[key] = nil }
            fields["env"] = .object(environment.mapValues(\.json))
        }
        return .object(fields)
    }

    static func seconds(_ text: String) throws -> Int {
        guard let duration = DurationText.parse(text), duration.components.attoseconds == 0, duration.components.seconds >= 1 else {
            throw CLIFailure(.usage, "--timeout \(text): give whole seconds, 1 or more: 30s, 5m, 300")
        }
        return Int(duration.components.seconds)
    }

    static func pair(_ text: String, source: String) throws -> (String, String) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw CLIFailure(.usage, "\(source) \(text): expected KEY=VALUE")
        }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// Docker's env-file format: KEY=VALUE per line, the value taken as written (no quotes
    /// removed), blank lines and lines starting with # skipped.
    static func readEnvFile(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIFailure(.usage, "--env-file \(path): cannot be read")
        }
        var environment: [String: String] = [:]
        // "\r\n" is one Character in Swift: split on both, so CRLF files read as LF ones.
        let lines = String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, line) in lines.enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let (key, value) = try pair(String(trimmed), source: "--env-file \(path) line \(index + 1):")
            environment[key] = value
        }
        return environment
    }
}
