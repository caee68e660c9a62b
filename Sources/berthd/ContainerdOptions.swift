import ArgumentParser

/// How to reach containerd; shared by every subcommand that talks to it.
struct ContainerdOptions: ParsableArguments {
    @Option(name: .customLong("containerd-socket"), help: "containerd's gRPC socket.")
    var socket: String = "/run/containerd/containerd.sock"

    @Option(help: "The containerd namespace Berth keeps its images and containers in.")
    var namespace: String = "berth"
}

/// How to reach registries.
struct RegistryOptions: ParsableArguments {
    @Option(name: .customLong("insecure-registry"), help: ArgumentHelp(
        "A registry (HOST:PORT) reached over plain HTTP. Repeatable.", valueName: "host:port"))
    var insecureRegistries: [String] = []

    @Option(name: .customLong("allow-private-registry"), help: ArgumentHelp(
        "A registry (HOST or HOST:PORT) that may have a loopback, link-local or private address (insecure registries and mirrors may too). Repeatable.",
        valueName: "host:port"))
    var allowPrivateRegistries: [String] = []

    @Option(name: .customLong("registry-mirror"), help: ArgumentHelp(
        "A mirror for a registry, tried before it: REGISTRY=URL, e.g. docker.io=http://10.0.0.5:5000. Repeatable.",
        valueName: "registry=url"))
    var mirrors: [String] = []

    @Option(name: .customLong("docker-config"), help: ArgumentHelp(
        "A Docker config.json to read registry credentials from (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).",
        valueName: "path"))
    var dockerConfig: String?
}
