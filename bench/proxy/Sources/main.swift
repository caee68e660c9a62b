// berth-proxy-bench: Berth's invocation proxy (the `Proxy` target's ProxyServer, as berthd runs
// it: default configuration, the shared event loop group, Prometheus metrics) with a fixed route
// table, for bench/proxy/run.sh to drive with wrk.
//
//   berth-proxy-bench --upstream 127.0.0.1:PORT [--listen 127.0.0.1:0] [--host bench.localhost]
//                     [--port-file FILE] [--upstream-protocol http1|h2c] [--relay]
//
// --relay: instead of the proxy, a plain TCP relay on NIO (TCPRelay.swift), for comparison.
//
// Requests whose Host is --host go to the upstream; others get 404. The route table does the
// per-request bookkeeping berthd's TrafficController does (a lock and a dictionary update when a
// request starts and ends), so the number is the proxy's, not a lighter stand-in's. The bound
// port is written to --port-file (and stdout). SIGTERM or SIGINT: graceful shutdown.
import Foundation
import Logging
import Prometheus
import Proxy
import ServiceLifecycle
import Synchronization

/// One host to one upstream, with berthd's in-flight and last-active accounting.
final class FixedRoutes: RouteTable {
    private let host: String
    private let upstream: Upstream
    private let activity = Mutex<[String: Activity]>([:])

    private struct Activity {
        var inFlight = 0
        var lastActive: ContinuousClock.Instant
    }

    init(host: String, upstream: Upstream) {
        self.host = host
        self.upstream = upstream
    }

    func route(host: String) async -> Route {
        routeNow(host: host)!
    }

    /// As berthd's TrafficController answers while the container runs: at once.
    func routeNow(host: String) -> Route? {
        guard host == self.host else { return .notFound }
        let id = upstream.containerID
        activity.withLock { $0[id, default: Activity(lastActive: .now)].lastActive = .now }
        return .upstream(upstream)
    }

    func requestStarted(_ upstream: Upstream) {
        activity.withLock { activity in
            activity[upstream.containerID, default: Activity(lastActive: .now)].inFlight += 1
            activity[upstream.containerID]!.lastActive = .now
        }
    }

    func requestFinished(_ upstream: Upstream) {
        activity.withLock { activity in
            activity[upstream.containerID, default: Activity(lastActive: .now)].inFlight -= 1
            activity[upstream.containerID]!.lastActive = .now
        }
    }
}

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("berth-proxy-bench: \(message)\nusage: berth-proxy-bench --upstream HOST:PORT [--listen HOST:PORT] [--host NAME] [--port-file FILE] [--upstream-protocol http1|h2c] [--relay]\n".utf8))
    exit(2)
}

func hostPort(_ text: String, option: String) -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
        usage("\(option) must be HOST:PORT, not '\(text)'")
    }
    return (String(text[..<colon]), port)
}

var listen = ("127.0.0.1", 0)
var upstreamAddress: (String, Int)?
var routedHost = "bench.localhost"
var portFile: String?
var speaks = UpstreamProtocol.http1
var relay = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    if argument == "--relay" {
        relay = true
        continue
    }
    guard let value = arguments.next() else { usage("\(argument) needs a value") }
    switch argument {
    case "--listen": listen = hostPort(value, option: argument)
    case "--upstream": upstreamAddress = hostPort(value, option: argument)
    case "--host": routedHost = value.lowercased()
    case "--port-file": portFile = value
    case "--upstream-protocol":
        switch value {
        case "http1": speaks = .http1
        case "h2c": speaks = .h2c
        default: usage("--upstream-protocol must be http1 or h2c, not '\(value)'")
        }
    default: usage("unknown option \(argument)")
    }
}
guard let upstreamAddress else { usage("--upstream is required") }

let settings = (listen: listen, upstream: upstreamAddress, host: routedHost, portFile: portFile, speaks: speaks, relay: relay)

/// The bound port, to --port-file (written whole, then renamed) and stdout.
func announce(port: Int, listen: (String, Int), portFile: String?) {
    if let portFile {
        try? "\(port)\n".write(toFile: portFile + ".tmp", atomically: false, encoding: .utf8)
        _ = rename(portFile + ".tmp", portFile)
    }
    FileHandle.standardOutput.write(Data("listening on \(listen.0):\(port)\n".utf8))
}

/// Serves until SIGTERM or SIGINT.
func serve(listen: (String, Int), upstream: (String, Int), host: String, portFile: String?, speaks: UpstreamProtocol) async throws {
    var logger = Logger(label: "berth-proxy-bench")
    logger.logLevel = .warning
    let routes = FixedRoutes(host: host, upstream: Upstream(containerID: "bench", revision: 1, host: upstream.0, port: upstream.1, speaks: speaks))
    let server = ProxyServer(
        configuration: ProxyConfiguration(host: listen.0, port: listen.1),
        routes: routes,
        metrics: ProxyMetrics(registry: PrometheusCollectorRegistry()),
        logger: logger
    )
    let announcing = Task {
        guard let port = await server.boundPort else { return }
        announce(port: port, listen: listen, portFile: portFile)
    }
    let group = ServiceGroup(configuration: ServiceGroupConfiguration(
        services: [.init(service: server)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    ))
    try await group.run()
    announcing.cancel()
}

// Not an async main: that parks the main thread in dispatch_main, which valgrind 3.19 cannot
// run (bench/proxy/callgrind.sh counts this binary's instructions). The main thread waits on a
// semaphore instead; the work runs on the concurrency pool, detached from the main actor (whose
// thread that is).
let finished = DispatchSemaphore(value: 0)
let failure = Mutex<(any Error)?>(nil)
let serving = Task.detached { [settings] in
    defer { finished.signal() }
    do {
        if settings.relay {
            // Serves until the process is signalled (SIGTERM's default action ends it).
            announce(port: try await startRelay(listen: settings.listen, upstream: settings.upstream), listen: settings.listen,
                     portFile: settings.portFile)
            return await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
        }
        try await serve(listen: settings.listen, upstream: settings.upstream, host: settings.host, portFile: settings.portFile,
                        speaks: settings.speaks)
    } catch {
        failure.withLock { $0 = error }
    }
}
finished.wait()
if let error = failure.withLock({ $0 }) {
    FileHandle.standardError.write(Data("berth-proxy-bench: \(error)\n".utf8))
    exit(1)
}
