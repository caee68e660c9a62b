// grpc-echo-server: GRPCEcho's EchoService on 0.0.0.0:$PORT over cleartext HTTP/2, for the proxy's
// gRPC tests to run in a container (its Swift runtime linked in statically; see Package.swift).
// No Foundation: the binary stays small enough to copy into a busybox image.
import Glibc
import GRPCCore
import GRPCEcho
import GRPCNIOTransportHTTP2
import HTTP2Pipeline

guard let text = getenv("PORT").map({ String(cString: $0) }) ?? CommandLine.arguments.dropFirst().first,
      let port = Int(text) else {
    print("grpc-echo-server: set PORT or give the port")
    exit(2)
}
let server = GRPCServer(
    transport: .http2NIOPosix(
        address: .ipv4(host: "0.0.0.0", port: port),
        transportSecurity: .plaintext,
        config: .defaults { config in
            // As in berthd's HTTP/2 connections: NIOHTTP2's handler must not hear "writable
            // again" in the middle of a read (its debug assertion stops the process; this
            // server is a debug build).
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { WritableNextTick.addFirst(to: $0) }
        }
    ),
    services: [EchoService()]
)
print("grpc-echo-server: serving on port \(port)")
try await server.serve()
