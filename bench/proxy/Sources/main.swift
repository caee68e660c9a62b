// berth-proxy-bench: Berth's invocation proxy (the `Proxy` target's ProxyServer, as berthd runs
// it: default configuration, the shared event loop group, Prometheus metrics) with a fixed route
// table, for bench/proxy/run.sh to drive with wrk.
//
//   berth-proxy-bench --upstream 127.0.0.1:PORT [--listen 127.0.0.1:0] [--host bench.localhost]
//                     [--port-file FILE]
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
    FileHandle.standardError.write(Data("berth-proxy-bench: \(message)\nusage: berth-proxy-bench --upstream HOST:PORT [--listen HOST:PORT] [--host NAME] [--port-file FILE]\n".utf8))
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
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    guard let value = arguments.next() else { usage("\(argument) needs a value") }
    switch argument {
    case "--listen": listen = hostPort(value, option: argument)
    case "--upstream": upstreamAddress = hostPort(value, option: argument)
    case "--host": routedHost = value.lowercased()
    case "--port-file": portFile = value
    default: usage("unknown option \(argument)")
    }
}
guard let upstreamAddress else { usage("--upstream is required") }

var logger = Logger(label: "berth-proxy-bench")
logger.logLevel = .warning
let listenHost = listen.0
let routes = FixedRoutes(
    host: routedHost,
    upstream: Upstream(containerID: "bench", revision: 1, host: upstreamAddress.0, port: upstreamAddress.1)
)
let server = ProxyServer(
    configuration: ProxyConfiguration(host: listen.0, port: listen.1),
    routes: routes,
    metrics: ProxyMetrics(registry: PrometheusCollectorRegistry()),
    logger: logger
)
let announce = Task {
    guard let port = await server.boundPort else { return }
    if let portFile {
        try? "\(port)\n".write(toFile: portFile + ".tmp", atomically: false, encoding: .utf8)
        _ = rename(portFile + ".tmp", portFile)
    }
    FileHandle.standardOutput.write(Data("listening on \(listenHost):\(port)\n".utf8))
}
let group = ServiceGroup(configuration: ServiceGroupConfiguration(
    services: [.init(service: server)],
    gracefulShutdownSignals: [.sigterm, .sigint],
    logger: logger
))
try await group.run()
announce.cancel()
