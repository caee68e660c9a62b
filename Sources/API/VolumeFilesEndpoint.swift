import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import Runtime
import Store
#if canImport(Glibc)
import Glibc
#endif

/// `PUT` and `GET /v1/volumes/:name/files/{path}`: a file streamed into a volume or out of it,
/// without a container. An upload lands whole or not at all (`VolumeUpload`), bounded by the
/// volume's filesystem; the disk calls run on NIO's thread pool, never on the server's loops.
struct VolumeFilesEndpoint<Backend: ContainerBackend> {
    let database: BerthDatabase
    let backend: Backend

    static var chunkBytes: Int { 256 << 10 }
    static var batchBytes: Int { 1 << 20 }
    /// What a path component keeps unencoded in `Location`.
    static var pathCharacters: CharacterSet { CharacterSet.urlPathAllowed.subtracting(["%", ";", "?", "#"]) }

    @Sendable func upload(_ request: Request, context: APIContext) async throws -> Response {
        let volume = try VolumesController<Backend>.authorized(request, context: context, database: database)
        let path = try Self.filePath(request)
        // A writer container owns the volume's contents while it runs: a file put under it could
        // be half-read or overwritten with no one the wiser.
        if let writer = try database.volumeUsers(volume).first(where: { !$0.readOnly }) {
            throw APIError.conflict("volume \"\(volume.name)\" is mounted read-write by container \"\(writer.containerName)\"; upload through that container, or mount it readOnly")
        }
        guard let usage = backend.volumes.usage(id: volume.id) else {
            throw APIError.unavailable("volume \"\(volume.name)\" is not mounted on this node right now")
        }
        if let length = request.headers[.contentLength].flatMap(Int64.init), length > min(usage.available, volume.size.bytes) {
            throw APIError.insufficientStorage("the file is \(length) bytes and volume \"\(volume.name)\" has \(usage.available) bytes free; nothing was written")
        }
        let files = backend.volumes.files(id: volume.id)
        let pool = NIOThreadPool.singleton
        let upload = try await pool.runIfActive { () throws -> VolumeUpload in try Self.mapped(files.upload(path)) }
        do {
            // The body arrives in small buffers; a thread hop per buffer would cost more than the
            // write, so about 1 MiB is gathered for each.
            var pending: [ByteBuffer] = []
            var pendingBytes = 0
            func flush() async throws {
                let batch = pending
                pending.removeAll(keepingCapacity: true)
                pendingBytes = 0
                try await pool.runIfActive {
                    for chunk in batch {
                        try chunk.withUnsafeReadableBytes { bytes in try Self.mapped(upload.write(bytes)) }
                    }
                }
            }
            for try await chunk in request.body {
                pending.append(chunk)
                pendingBytes += chunk.readableBytes
                if pendingBytes >= Self.batchBytes { try await flush() }
            }
            if !pending.isEmpty { try await flush() }
            let replaced = try await pool.runIfActive { try Self.mapped(upload.commit()) }
            let view = VolumeFileView(path: path, bytes: upload.written)
            if replaced { return try .json(view) }
            let location = "/v1/volumes/\(volume.name)/files/" + (path.addingPercentEncoding(withAllowedCharacters: Self.pathCharacters) ?? "")
                + OwnerScope.query(volume.owner, context: context)
            return try .json(view, status: .created, headers: [.location: location])
        } catch {
            upload.abort()
            throw error
        }
    }

    @Sendable func download(_ request: Request, context: APIContext) async throws -> Response {
        let volume = try VolumesController<Backend>.authorized(request, context: context, database: database)
        let path = try Self.filePath(request)
        guard backend.volumes.usage(id: volume.id) != nil else {
            throw APIError.unavailable("volume \"\(volume.name)\" is not mounted on this node right now")
        }
        let files = backend.volumes.files(id: volume.id)
        let pool = NIOThreadPool.singleton
        let (fd, size) = try await pool.runIfActive { () throws -> (Int32, Int64) in
            do throws(VolumeFileError) { return try files.read(path) } catch { throw Self.map(error, reading: true) }
        }
        let file = OpenFile(fd)
        let body = ResponseBody(contentLength: Int(size)) { writer in
            var offset: Int64 = 0
            // The length was promised: exactly that many bytes go out, even if the file changed.
            while offset < size {
                let count = Int(min(Int64(Self.chunkBytes), size - offset))
                let at = offset
                let chunk = try await pool.runIfActive { try file.read(at: at, count: count) }
                guard chunk.readableBytes > 0 else { throw APIError.conflict("the file shrank while it was read") }
                offset += Int64(chunk.readableBytes)
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
    }

    /// The path after `files/`, percent-decoded; checked by `VolumeFiles.components` afterwards,
    /// so an encoded `..` or `/` gains nothing.
    static func filePath(_ request: Request) throws -> String {
        let raw = request.uri.path
        guard let range = raw.range(of: "/files/") else { throw APIError.badRequest("the path must name a file after files/") }
        guard let path = String(raw[range.upperBound...]).removingPercentEncoding else {
            throw APIError.invalid([.init("path", "is not valid percent-encoded UTF-8")])
        }
        do { _ = try VolumeFiles.components(path) } catch { throw APIError.invalid([.init("path", error.description)]) }
        return path
    }

    static func mapped<T>(_ work: @autoclosure () throws(VolumeFileError) -> T) throws -> T {
        do { return try work() } catch { throw map(error, reading: false) }
    }

    static func map(_ error: VolumeFileError, reading: Bool) -> APIError {
        switch error {
        case .invalidPath(let why): .invalid([.init("path", why)])
        case .notFound: .notFound(error.description)
        case .notAFile(let why): reading ? .notFound(why) : .conflict(why)
        case .full: .insufficientStorage("the volume is full; the file was not written")
        case .io: .unavailable(error.description)
        }
    }
}

/// A file descriptor that closes when the response body is done with it (or never ran).
private final class OpenFile: Sendable {
    let fd: Int32

    init(_ fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    func read(at offset: Int64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var failure: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            let read = pread(fd, bytes.baseAddress, count, off_t(offset))
            if read < 0 { failure = errno }
            return max(read, 0)
        }
        guard failure == 0 else { throw APIError.unavailable("reading the file failed: \(String(cString: strerror(failure)))") }
        return buffer
    }
}

/// What an upload wrote.
struct VolumeFileView: Encodable, Sendable {
    var path: String
    var bytes: Int64
}
