import NIOCore
import NIOPosix

/// Readiness as Cloud Run defines it by default: the container accepts a TCP connection on its
/// port.
struct ReadinessProbe: Sendable {
    var interval: Duration = .milliseconds(20)
    var connectTimeout: TimeAmount = .milliseconds(250)

    /// Whether one connection to `address:port` succeeds.
    func check(address: String, port: Int) async -> Bool {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(connectTimeout)
        do {
            let channel = try await bootstrap.connect(host: address, port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }

    /// Probes until a connection succeeds (true) or `timeout` passes (false). Cancellation ends it.
    func wait(address: String, port: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if await check(address: address, port: port) { return true }
            try? await Task.sleep(for: interval)
        }
        return false
    }
}
