import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// Large bodies and a WebSocket through the proxy to real containers: busybox httpd CGI scripts
/// hash an upload and stream a download; a busybox nc server answers an Upgrade with 101 and
/// then echoes. The node runs in this process, so its resident memory is the proxy's.
final class StreamingInvocationTests: XCTestCase {
    static let size = 256 << 20

    static let upload = """
        #!/bin/sh
        printf 'Content-Type: text/plain\\r\\n\\r\\n'
        head -c "$CONTENT_LENGTH" | sha256sum | cut -d' ' -f1
        """
    static let download = """
        #!/bin/sh
        printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'
        head -c \(size) /dev/zero
        """
    /// Reads the request head, answers 101, then echoes whatever comes.
    static let websocket = """
        #!/bin/sh
        while read -r line; do [ "${#line}" -le 1 ] && break; done
        printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n'
        exec cat
        """

    func testLargeUploadAndDownloadThroughAContainer() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("streamer")
        let image = TestImage(
            layers: [.busybox().adding("/www/cgi-bin/upload", contents: Self.upload, mode: 0o755)
                .adding("/www/cgi-bin/download", contents: Self.download, mode: 0o755)],
            cmd: ["sh", "-c", "exec httpd -f -p $PORT -h /www"])
        let pushed = try await TestRegistry.push(image, to: f.env.registry, repository: "berth/tr-stream", tag: "1").reference
        _ = try await f.deploy(["name": "streamer", "image": pushed, "ram": "64Mi"], token: token)
        let proxy = "127.0.0.1:\(f.configuration.proxyListen.port)"

        let scratch = try f.env.makeTemporaryDirectory("stream")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        _ = try await offPool("/bin/sh", ["-c", "head -c \(Self.size) /dev/urandom > \(scratch)/body"])
        let expected = try await offPool("/bin/sh", ["-c", "sha256sum \(scratch)/body | cut -d' ' -f1"])
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let sampler = RSSSampler()
        let uploaded = try await offPool("/usr/bin/curl", [
            "-sS", "--fail", "-X", "POST", "-T", "\(scratch)/body", "-H", "Host: streamer.localhost",
            "http://\(proxy)/cgi-bin/upload",
        ]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(uploaded, expected, "the container hashed exactly the bytes sent")

        let downloaded = try await offPool("/bin/sh", ["-c",
            "curl -sS --fail -H 'Host: streamer.localhost' http://\(proxy)/cgi-bin/download | sha256sum | cut -d' ' -f1"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let zeros = try await offPool("/bin/sh", ["-c", "head -c \(Self.size) /dev/zero | sha256sum | cut -d' ' -f1"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(downloaded, zeros)
        let growth = sampler.stop()
        print("streaming through a container: \(Self.size >> 20) MiB each way, node RSS growth \(growth >> 20) MiB")
        XCTAssertLessThan(growth, 128 << 20, "bodies stream through the proxy; they are not buffered whole")
    }

    func testWebSocketEchoThroughAContainer() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("echoer")
        let image = TestImage(
            layers: [.busybox().adding("/bin/ws", contents: Self.websocket, mode: 0o755)],
            cmd: ["sh", "-c", "exec nc -ll -p $PORT -e /bin/ws"])
        let pushed = try await TestRegistry.push(image, to: f.env.registry, repository: "berth/tr-ws", tag: "1").reference
        _ = try await f.deploy(["name": "echoer", "image": pushed, "ram": "64Mi"], token: token)

        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
            s.sendall(b"GET /chat HTTP/1.1\\r\\nHost: echoer.localhost\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\n"
                      b"Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n")
            head = b""
            while b"\\r\\n\\r\\n" not in head:
                head += s.recv(4096)
            status, rest = head.split(b"\\r\\n", 1)[0], head.split(b"\\r\\n\\r\\n", 1)[1]
            echoed = rest
            for message in (b"ping one", b"ping two"):
                s.sendall(message)
                while len(echoed) < len(message):
                    echoed += s.recv(4096)
                print(status.decode(), echoed[:len(message)].decode())
                echoed = echoed[len(message):]
            """
        let output = try await offPool("/usr/bin/python3", ["-c", script, String(f.configuration.proxyListen.port)])
        XCTAssertEqual(output.split(separator: "\n").map(String.init), [
            "HTTP/1.1 101 Switching Protocols ping one",
            "HTTP/1.1 101 Switching Protocols ping two",
        ])
    }
}

/// Runs a command on a thread of its own: the node under test shares the cooperative pool.
func offPool(_ executable: String, _ arguments: [String]) async throws -> String {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runCommand(executable, arguments) })
        }
    }
}
