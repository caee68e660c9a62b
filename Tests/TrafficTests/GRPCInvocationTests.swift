import Foundation
import GRPCCore
import GRPCEcho
import GRPCNIOTransportHTTP2
import HTTP2Pipeline
import NIOCore
import NodeTestSupport
import TestSupport
import XCTest

/// gRPC and HTTP/2 through the proxy to real containers, by hostname: a grpc-swift echo server
/// (`grpc-echo-server`, built with the tests) in a container whose revision says `protocol: h2c`,
/// and a busybox httpd beside it that speaks HTTP/1.1.
final class GRPCInvocationTests: XCTestCase {
    /// The echo server, stripped, with every library `ldd` says it loads, at the same paths:
    /// busybox's image has no C library of its own.
    static func echoServerLayer(scratch: String) throws -> TestLayer {
        let built = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("grpc-echo-server").path
        let stripped = scratch + "/grpc-echo-server"
        try runCommand("objcopy", ["--strip-debug", built, stripped])
        var layer = TestLayer.busybox().addingHostFile("/bin/grpc-echo-server", source: stripped)
        for line in try runCommand("ldd", [built]).split(separator: "\n") {
            // "libx.so => /path/libx.so (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
            guard let path = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first(where: { $0.hasPrefix("/") }) else { continue }
            layer = layer.addingHostFile(String(path), source: String(path))
        }
        return layer.compressed(.none)
    }

    static func grpcFrame(_ message: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(message.utf8.count))
        buffer.writeString(message)
        return buffer
    }

    func stats(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async throws -> String {
        try await client.unary(request: ClientRequest(message: []), descriptor: EchoService.stats, serializer: RawBytes(),
                               deserializer: RawBytes(), options: .defaults) { String(decoding: try $0.message, as: UTF8.self) }
    }

    func testGRPCAndHTTP2ThroughTheProxyByHostname() async throws {
        let f = try NodeFixture()
        try await f.start()
        addTeardownBlock { try? await f.stop() }
        let token = try await f.token("grpc")
        let scratch = try f.env.makeTemporaryDirectory("grpc")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let image = TestImage(layers: [try Self.echoServerLayer(scratch: scratch)], cmd: ["/bin/grpc-echo-server"])
        let echo = try await TestRegistry.push(image, to: f.env.registry, repository: "berth/tr-grpc", tag: "1").reference
        let echoID = try await f.deploy(["name": "echo", "image": echo, "ram": "128Mi", "protocol": "h2c"], token: token)
        let container = try await f.request("GET", "/v1/containers/\(echoID)", token: token).json()
        XCTAssertEqual(container["protocol"] as? String, "h2c")
        _ = try await f.deploy(["name": "web", "image": try await f.pushHTTPD("berth/tr-grpc-web", page: "web page\n"),
                                "ram": "64Mi"], token: token)
        let port = f.configuration.proxyListen.port

        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: port),
            transportSecurity: .plaintext,
            config: .defaults { config in
                config.http2.authority = "echo.localhost"
                // As berthd's own gRPC client does (ContainerdConnection.addHandlers): NIOHTTP2's
                // handler must not hear "writable again" in the middle of a read.
                config.channelDebuggingCallbacks.onCreateTCPConnection = { WritableNextTick.addFirst(to: $0) }
            }
        )
        try await withGRPCClient(transport: transport) { client in
            // Unary: the message, the metadata both ways, the trailers, and the deadline sent along.
            var options = CallOptions.defaults
            options.timeout = .seconds(30)
            let (message, metadata, trailers) = try await client.unary(
                request: ClientRequest(message: Array("hello".utf8), metadata: ["x-echo": "ping"]),
                descriptor: EchoService.get, serializer: RawBytes(), deserializer: RawBytes(), options: options
            ) { response in (try response.message, response.metadata, response.trailingMetadata) }
            XCTAssertEqual(String(decoding: message, as: UTF8.self), "hello")
            XCTAssertEqual(Array(metadata[stringValues: "x-echo"]), ["ping"])
            XCTAssertEqual(Array(trailers[stringValues: "x-trailer"]), ["done"])
            let timeout = Array(trailers[stringValues: "x-grpc-timeout"]).first ?? ""
            XCTAssertFalse(timeout.isEmpty, "the server saw the call's grpc-timeout")

            // Server streaming: every message in order, then the trailers.
            let (messages, count) = try await client.serverStreaming(
                request: ClientRequest(message: Array("5".utf8)),
                descriptor: EchoService.expand, serializer: RawBytes(), deserializer: RawBytes(), options: .defaults
            ) { response in
                var messages: [String] = []
                var count: String? = nil
                for try await part in response.bodyParts {
                    switch part {
                    case .message(let bytes): messages.append(String(decoding: bytes, as: UTF8.self))
                    case .trailingMetadata(let trailers): count = Array(trailers[stringValues: "x-count"]).first
                    }
                }
                return (messages, count)
            }
            XCTAssertEqual(messages, ["0", "1", "2", "3", "4"])
            XCTAssertEqual(count, "5")

            // A cancelled call reaches the server as a reset stream.
            let before = try await stats(client)
            XCTAssertEqual(before, "started=0 cancelled=0")
            let call = Task {
                try await client.unary(request: ClientRequest(message: Array("60000".utf8)), descriptor: EchoService.sleep,
                                       serializer: RawBytes(), deserializer: RawBytes(), options: .defaults) { try $0.message }
            }
            try await eventually(seconds: 10) { (try? await self.stats(client)) == "started=1 cancelled=0" }
            call.cancel()
            _ = await call.result
            try await eventually(seconds: 10) { (try? await self.stats(client)) == "started=1 cancelled=1" }

            // A deadline that expires: DEADLINE_EXCEEDED, and the server's call ends with it.
            var short = CallOptions.defaults
            short.timeout = .milliseconds(500)
            do {
                _ = try await client.unary(request: ClientRequest(message: Array("60000".utf8)), descriptor: EchoService.sleep,
                                           serializer: RawBytes(), deserializer: RawBytes(), options: short) { try $0.message }
                XCTFail("the call outlived its deadline")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .deadlineExceeded, "\(error)")
            }
            try await eventually(seconds: 10) { (try? await self.stats(client)) == "started=2 cancelled=2" }
        }

        // curl, with prior knowledge and with Upgrade: h2c, routed by Host to the HTTP/1.1 container.
        for mode in ["--http2-prior-knowledge", "--http2"] {
            let output = try await offPool("/usr/bin/curl", ["-sS", mode, "-H", "Host: web.localhost", "-w", "%{http_version}",
                                                             "http://127.0.0.1:\(port)/"])
            XCTAssertEqual(output, "web page\n2", mode)
        }

        // Many streams on one connection, half to each container: gRPC calls framed by hand
        // to the echo server, page requests to httpd.
        let connection = try await HTTP2TestConnection.connect(port: port)
        addTeardownBlock { await connection.close() }
        let results = try await withThrowingTaskGroup(of: (Int, HTTP2TestResponse).self) { group in
            for index in 0..<100 {
                group.addTask {
                    if index.isMultiple(of: 2) {
                        return (index, try await connection.request("GET", "/", authority: "web.localhost"))
                    }
                    return (index, try await connection.request(
                        "POST", "/berth.test.Echo/Get", authority: "echo.localhost",
                        headers: [("content-type", "application/grpc"), ("te", "trailers")],
                        body: Self.grpcFrame("m\(index)")))
                }
            }
            return try await group.reduce(into: [Int: HTTP2TestResponse]()) { $0[$1.0] = $1.1 }
        }
        XCTAssertEqual(results.count, 100)
        for (index, response) in results.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(response.status, 200, "stream \(index)")
            XCTAssertTrue(response.complete, "stream \(index)")
            if index.isMultiple(of: 2) {
                XCTAssertEqual(response.text, "web page\n")
            } else {
                XCTAssertEqual(response.body, Self.grpcFrame("m\(index)"), "stream \(index)")
                XCTAssertEqual(response.trailers?.first(name: "grpc-status"), "0", "stream \(index)")
            }
        }
    }
}

/// Polls until `condition` holds; fails the test after `seconds`.
func eventually(seconds: Double, file: StaticString = #filePath, line: UInt = #line,
                _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    XCTFail("condition not met within \(seconds) s", file: file, line: line)
}
