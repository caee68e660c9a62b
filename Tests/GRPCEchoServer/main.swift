// grpc-echo-server: GRPCEcho's EchoService on 0.0.0.0:$PORT over cleartext HTTP/2, for the proxy's
// gRPC tests to run in a container (its Swift runtime linked in statically; see Package.swift).
// No Foundation: the binary stays small enough to copy into a busybox image.
import Glibc
import GRPCCore
import GRPCEcho
import GRPCNIOTransportHTTP2

guard let text = getenv("PORT").map({ String(cString: $0) }) ?? CommandLine.arguments.dropFirst().first,
      let port = Int(text) else {
    print("grpc-echo-server: set PORT or give the port")
    exit(2)
}
let server = GRPCServer(
    transport: .http2NIOPosix(address: .ipv4(host: "0.0.0.0", port: port), transportSecurity: .plaintext),
    services: [EchoService()]
)
print("grpc-echo-server: serving on port \(port)")
try await server.serve()
