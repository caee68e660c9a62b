import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP forwarder on loopback that sends what the target answers at a bounded rate: a registry
/// behind it serves a pull slowly enough for its progress to be watched. Threads and sockets
/// only; each connection is two copying threads.
final class ThrottledForwarder: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let target: sockaddr_in
    private let bytesPerSecond: Int

    /// `target` is `127.0.0.1:PORT`.
    init(to target: String, bytesPerSecond: Int) throws {
        let parts = target.split(separator: ":")
        guard parts.count == 2, let targetPort = UInt16(parts[1]) else { throw ForwarderError("bad target \(target)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = targetPort.bigEndian
        address.sin_addr.s_addr = inet_addr(String(parts[0]))
        self.target = address
        self.bytesPerSecond = bytesPerSecond

        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        guard bound == 0, listen(listener, 64) == 0 else { throw ForwarderError("cannot listen: \(errno)") }
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: local.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    /// Stops accepting; connections under way end with their peers.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = target
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(client)
                close(upstream)
                continue
            }
            let rate = bytesPerSecond
            let pair = ConnectionPair(client, upstream)
            Thread { Self.copy(from: client, to: upstream, rate: nil); pair.finished() }.start()
            Thread { Self.copy(from: upstream, to: client, rate: rate); pair.finished() }.start()
        }
    }

    /// Closes both sockets once both directions are done.
    private final class ConnectionPair: @unchecked Sendable {
        private let lock = NSLock()
        private var open = 2
        private let fds: (Int32, Int32)

        init(_ a: Int32, _ b: Int32) { fds = (a, b) }

        func finished() {
            let last = lock.withLock { open -= 1; return open == 0 }
            if last {
                close(fds.0)
                close(fds.1)
            }
        }
    }

    /// Copies until EOF, then half-closes the other side.
    private static func copy(from source: Int32, to destination: Int32, rate: Int?) {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { break }
                sent += written
            }
            if let rate { usleep(useconds_t(Double(count) / Double(rate) * 1_000_000)) }
        }
        shutdown(destination, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }
}

struct ForwarderError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
