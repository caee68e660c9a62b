import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain HTTP/1.0 GET over a socket with timeouts, so the tests need no HTTP client and are
/// not sent through a proxy from the environment.
enum HTTPProbe {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The response body.
    static func get(_ address: String, port: UInt16 = 80, path: String = "/", timeoutSeconds: Int = 2) throws -> String {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(sock) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &target.sin_addr) == 1 else { throw Failure(description: "bad address \(address)") }
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect \(address):\(port): \(String(cString: strerror(errno)))") }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(address)\r\n\r\n".utf8)
        guard send(sock, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else {
            throw Failure(description: "send: \(String(cString: strerror(errno)))")
        }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(sock, &buffer, buffer.count, 0)
            if count > 0 { response += buffer[0..<count] } else if count == 0 { break } else {
                throw Failure(description: "recv: \(String(cString: strerror(errno)))")
            }
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1."), text.split(separator: " ").dropFirst().first == "200" else {
            throw Failure(description: "unexpected response: \(text.prefix(200))")
        }
        guard let split = text.range(of: "\r\n\r\n") else { throw Failure(description: "no body") }
        return String(text[split.upperBound...])
    }

    /// Retries until the server answers or `seconds` passed.
    static func waitAndGet(_ address: String, seconds: Double = 10) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            do {
                return try get(address)
            } catch {
                if Date() > deadline { throw error }
                usleep(50_000)
            }
        }
    }
}
