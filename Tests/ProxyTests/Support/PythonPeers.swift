import Foundation
import XCTest

/// Streaming peers in python3 (hashlib is fast; the test process then holds only the proxy, so
/// its resident memory is the proxy's). Both generate the same deterministic byte stream.
enum PythonPeers {
    static let common = #"""
    import hashlib, json, random, socket, socketserver, sys

    BLOCK = random.Random(7).randbytes(1000003)

    def blocks(total):
        sent = 0
        while sent < total:
            n = min(len(BLOCK), total - sent)
            yield memoryview(BLOCK)[:n]
            sent += n

    def read_head(f):
        line = f.readline()
        if not line:
            return None, None
        headers = {}
        while True:
            h = f.readline()
            if h in (b'\r\n', b'\n', b''):
                break
            k, v = h.decode('latin1').split(':', 1)
            headers[k.strip().lower()] = v.strip()
        return line.decode('latin1').strip(), headers

    def body(f, headers, response=False):
        if 'chunked' in headers.get('transfer-encoding', '').lower():
            while True:
                size = int(f.readline().split(b';')[0].strip(), 16)
                if size == 0:
                    while f.readline() not in (b'\r\n', b''):
                        pass
                    return
                remaining = size
                while remaining:
                    chunk = f.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise EOFError('short chunk')
                    remaining -= len(chunk)
                    yield chunk
                f.readline()
        elif 'content-length' in headers:
            remaining = int(headers['content-length'])
            while remaining:
                chunk = f.read(min(remaining, 1 << 20))
                if not chunk:
                    raise EOFError('short body')
                remaining -= len(chunk)
                yield chunk
        elif response:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    return
                yield chunk

    def digest(chunks):
        sha, n = hashlib.sha256(), 0
        for c in chunks:
            sha.update(c)
            n += len(c)
        return sha.hexdigest(), n
    """#

    /// `/upload`: answers the sha256 and length of the body. `/download?size=N[&chunked=1]`.
    static let upstream = common + #"""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            while True:
                request, headers = read_head(self.rfile)
                if request is None:
                    return
                target = request.split(' ')[1]
                path, _, query = target.partition('?')
                params = dict(p.split('=') for p in query.split('&') if p)
                if path == '/upload':
                    sha, n = digest(body(self.rfile, headers))
                    reply = json.dumps({'sha256': sha, 'length': n}).encode()
                    self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' % len(reply) + reply)
                elif path == '/download':
                    for _ in body(self.rfile, headers):
                        pass
                    size = int(params['size'])
                    chunked = params.get('chunked') == '1'
                    framing = b'Transfer-Encoding: chunked' if chunked else b'Content-Length: %d' % size
                    self.wfile.write(b'HTTP/1.1 200 OK\r\n' + framing + b'\r\n\r\n')
                    for block in blocks(size):
                        if chunked:
                            self.wfile.write(b'%x\r\n' % len(block))
                            self.wfile.write(block)
                            self.wfile.write(b'\r\n')
                        else:
                            self.wfile.write(block)
                    if chunked:
                        self.wfile.write(b'0\r\n\r\n')
                else:
                    self.wfile.write(b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(('127.0.0.1', 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """#

    /// `client.py PORT HOST upload-length|upload-chunked|download|download-chunked SIZE`: prints JSON.
    static let client = common + #"""

    port, host, mode, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    s = socket.create_connection(('127.0.0.1', port))
    f = s.makefile('rb')
    if mode.startswith('upload'):
        chunked = mode == 'upload-chunked'
        framing = 'Transfer-Encoding: chunked' if chunked else 'Content-Length: %d' % size
        s.sendall(('POST /upload HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n' % (host, framing)).encode())
        sha = hashlib.sha256()
        for block in blocks(size):
            sha.update(block)
            if chunked:
                s.sendall(b'%x\r\n' % len(block))
                s.sendall(block)
                s.sendall(b'\r\n')
            else:
                s.sendall(block)
        if chunked:
            s.sendall(b'0\r\n\r\n')
        status, headers = read_head(f)
        reply = json.loads(b''.join(body(f, headers, response=True)))
        print(json.dumps({'status': status, 'sent': sha.hexdigest(), 'received': reply['sha256'], 'length': reply['length']}))
    else:
        query = 'size=%d%s' % (size, '&chunked=1' if mode == 'download-chunked' else '')
        s.sendall(('GET /download?%s HTTP/1.1\r\nHost: %s\r\n\r\n' % (query, host)).encode())
        status, headers = read_head(f)
        received, n = digest(body(f, headers, response=True))
        expected, _ = digest(blocks(size))
        print(json.dumps({'status': status, 'sent': expected, 'received': received, 'length': n, 'framing': headers.get('transfer-encoding', 'length')}))
    """#

    static func write(_ script: String, named name: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-proxy-tests")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try script.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static var python: String {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "/usr/bin/env"
    }

    static func arguments(_ script: URL, _ rest: [String]) -> [String] {
        (python == "/usr/bin/env" ? ["python3"] : []) + [script.path] + rest
    }
}

/// The python upstream, running until the test ends.
final class PythonUpstream: @unchecked Sendable {
    let process = Process()
    let port: Int

    init() throws {
        let script = try PythonPeers.write(PythonPeers.upstream, named: "upstream.py")
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: PythonPeers.python)
        process.arguments = PythonPeers.arguments(script, [])
        process.standardOutput = output
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(process.processIdentifier, SIGKILL)
            throw TestClientError(description: "python upstream did not start")
        }
        self.port = port
    }

    /// SIGKILL: children of the test process inherit its blocked-signal mask, SIGTERM included.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct TransferResult: Decodable {
    var status: String
    var sent: String
    var received: String
    var length: Int
    var framing: String?
}

/// Runs the python client to completion (off the cooperative pool: it blocks).
func runPythonClient(port: Int, host: String, mode: String, size: Int) async throws -> TransferResult {
    let script = try PythonPeers.write(PythonPeers.client, named: "client.py")
    return try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            do {
                let process = Process()
                let output = Pipe()
                // Bounded, so a stalled transfer fails the test rather than hanging it.
                process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
                process.arguments = ["-s", "KILL", "300", PythonPeers.python] + PythonPeers.arguments(script, [String(port), host, mode, String(size)])
                process.standardOutput = output
                try process.run()
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                guard process.terminationStatus == 0 else {
                    throw TestClientError(description: "python client exited \(process.terminationStatus)")
                }
                continuation.resume(returning: try JSONDecoder().decode(TransferResult.self, from: data))
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}
