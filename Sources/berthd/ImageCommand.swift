import ArgumentParser
import ContainerdClient
import Foundation
import ImagePull
import Logging
import OCI
import RegistryClient

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Manage images in containerd.",
        subcommands: [Pull.self]
    )

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pull an image from a registry into containerd, unpacked and ready to run.",
            discussion: "The reference must carry a tag or a digest: the tag is never latest by default."
        )

        @Argument(help: "The image, e.g. nginxdemos/hello:0.4 or registry.example.com/team/app@sha256:…")
        var reference: String

        @OptionGroup var containerd: ContainerdOptions
        @OptionGroup var registry: RegistryOptions

        @Option(help: "Pull for this platform (os/arch[/variant]) instead of the host's.")
        var platform: String?

        @Flag(help: "Print plain progress lines even on a terminal.")
        var plain = false

        func run() async throws {
            do {
                let reference = try ImageReference(parsing: reference)
                let platform = try platform.map { try Platform(parsing: $0) } ?? .host
                let configuration = try registry.configuration()
                let printer = ProgressPrinter(terminal: !plain && isatty(STDOUT_FILENO) == 1)
                let pulled = try await withRegistryClient(configuration) { registry in
                    try await withContainerdClient(socketPath: containerd.socket, namespace: containerd.namespace) { containerd in
                        try await containerd.checkReachable()
                        try await containerd.ensureNamespace()
                        let puller = ImagePuller(containerd: containerd, registry: registry, platform: platform)
                        defer { printer.finish() }
                        return try await puller.pull(reference) { printer.show($0) }
                    }
                }
                print("pulled \(pulled.name) \(pulled.digest)")
            } catch {
                throw fail(error)
            }
        }
    }
}

extension RegistryOptions {
    func configuration() throws -> RegistryConfiguration {
        var mirrorMap: [String: [String]] = [:]
        for mirror in mirrors {
            let parts = mirror.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, URL(string: parts[1])?.scheme != nil else {
                throw UsageError(description: "--registry-mirror \"\(mirror)\" is not REGISTRY=URL (e.g. docker.io=http://10.0.0.5:5000)")
            }
            mirrorMap[parts[0], default: []].append(parts[1])
        }
        for host in insecureRegistries where host.contains("/") || host.isEmpty {
            throw UsageError(description: "--insecure-registry \"\(host)\" is not HOST[:PORT]")
        }
        for host in allowPrivateRegistries where host.contains("/") || host.isEmpty {
            throw UsageError(description: "--allow-private-registry \"\(host)\" is not HOST[:PORT]")
        }
        return RegistryConfiguration(
            insecureHosts: Set(insecureRegistries),
            mirrors: mirrorMap,
            dockerConfig: try DockerConfig.load(path: dockerConfig),
            allowPrivateHosts: Set(allowPrivateRegistries)
        )
    }
}

/// Runs `body` with a registry client that is shut down afterwards, whatever happens.
func withRegistryClient<T: Sendable>(_ configuration: RegistryConfiguration, _ body: (RegistryClient) async throws -> T) async throws -> T {
    let client = RegistryClient(configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

extension ContainerdClient {
    /// Fails fast, with the socket in the message, when containerd does not answer.
    func checkReachable() async throws {
        do {
            _ = try await version(timeout: .seconds(5))
        } catch {
            throw UsageError(description: "cannot reach containerd at \(connection.socketPath): \(error)")
        }
    }
}
