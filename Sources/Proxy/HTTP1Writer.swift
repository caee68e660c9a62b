import NIOCore
import NIOHTTP1

/// The proxy's HTTP/1.1 serializers for its two hops, in place of NIOHTTP1's encoders, which it
/// ran with automatic framing off: `HeaderRewriter` frames every message itself, so a writer
/// only writes what it is given. The bytes are NIO's: the start line, each header as
/// `name: value` CRLF, an empty line; a body in chunks when the head says
/// `Transfer-Encoding: chunked` (HTTP/1.1), else as it comes.
///
/// Why not NIO's: it writes a head piece by piece, four writes per header, and each write is an
/// exclusivity-checked access to the buffer's storage; with about ten headers on each hop that
/// was some 45 checked accesses per proxied request. Here a head is measured first and copied in
/// one access: `bench/proxy/callgrind.sh` counted 118,025 instructions per request before,
/// 109,093 after.
enum HTTP1Serialization {
    /// `startLine` without its CRLF: `HTTP/1.1 200 OK`, `GET /path HTTP/1.1`. `spare`: room left
    /// after the head, for a body part to join it.
    static func head(startLine: StartLine, fields: HeadFields, allocator: ByteBufferAllocator, spare: Int = 0) -> ByteBuffer {
        let size = 4 + startLine.count + fields.serializedSize  // with the start line's CRLF and the empty line's
        var buffer = allocator.buffer(capacity: size + spare)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            _ = crlf(fields.write(to: crlf(startLine.copy(to: raw.baseAddress!))))
            return size
        }
        return buffer
    }

    /// Whether the message's body goes in chunks: what NIO's encoders decide with automatic
    /// framing off.
    static func isChunked(_ fields: HeadFields, version: HTTPVersion) -> Bool {
        version.major == 1 && version.minor >= 1 && fields.saysChunked
    }

    /// A body part: as it is, or framed as a chunk. An empty part is never framed (it would end
    /// the body) but still written, so that its promise completes in order.
    static func writeBody(_ part: IOData, chunked: Bool, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let length = part.readableBytes
        guard chunked && length > 0 else {
            context.write(NIOAny(part), promise: promise)
            return
        }
        var frame = context.channel.allocator.buffer(capacity: 20)
        frame.writeString(String(length, radix: 16))
        frame.writeStaticString("\r\n\r\n")
        context.write(NIOAny(IOData.byteBuffer(frame.getSlice(at: frame.readerIndex, length: frame.readableBytes - 2)!)), promise: nil)
        context.write(NIOAny(part), promise: nil)
        // Writes fail in order when the connection goes, so the last one's promise speaks for all three.
        frame.moveReaderIndex(forwardBy: frame.readableBytes - 2)
        context.write(NIOAny(IOData.byteBuffer(frame)), promise: promise)
    }

    /// The end of a body: the last chunk and the trailers when chunked; else nothing, or an empty
    /// write for a promise.
    static func writeEnd(_ trailers: HTTPHeaders?, chunked: Bool, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if chunked {
            let buffer: ByteBuffer
            if let trailers {
                buffer = head(startLine: StartLine(.staticString("0")), fields: HeadFields(trailers), allocator: context.channel.allocator)
            } else {
                var last = context.channel.allocator.buffer(capacity: 5)
                last.writeStaticString("0\r\n\r\n")
                buffer = last
            }
            context.write(NIOAny(IOData.byteBuffer(buffer)), promise: promise)
        } else if let promise {
            context.write(NIOAny(IOData.byteBuffer(context.channel.allocator.buffer(capacity: 0))), promise: promise)
        }
    }

    /// A start line of up to five pieces, without an array to allocate.
    struct StartLine {
        var pieces: (Piece, Piece, Piece, Piece, Piece)

        init(_ a: Piece, _ b: Piece = .none, _ c: Piece = .none, _ d: Piece = .none, _ e: Piece = .none) {
            pieces = (a, b, c, d, e)
        }

        var count: Int { pieces.0.count + pieces.1.count + pieces.2.count + pieces.3.count + pieces.4.count }

        func copy(to at: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
            pieces.4.copy(to: pieces.3.copy(to: pieces.2.copy(to: pieces.1.copy(to: pieces.0.copy(to: at)))))
        }
    }

    enum Piece {
        case none
        case staticString(StaticString)
        case string(String)
        /// A non-negative number in decimal (a status code).
        case number(Int)

        /// `HTTP/1.1`.
        static func version(_ version: HTTPVersion) -> Piece {
            switch (version.major, version.minor) {
            case (1, 1): .staticString("HTTP/1.1")
            case (1, 0): .staticString("HTTP/1.0")
            default: .string("HTTP/\(version.major).\(version.minor)")
            }
        }

        var count: Int {
            switch self {
            case .none: return 0
            // withUTF8Buffer, not utf8Start: a one-character literal may be stored as a scalar.
            case .staticString(let text): return text.withUTF8Buffer { $0.count }
            case .string(let text): return text.utf8.count
            case .number(var value):
                var digits = 1
                while value >= 10 { value /= 10; digits += 1 }
                return digits
            }
        }

        func copy(to at: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
            switch self {
            case .none:
                return at
            case .staticString(let text):
                return text.withUTF8Buffer { bytes in
                    guard let base = bytes.baseAddress else { return at }
                    at.copyMemory(from: base, byteCount: bytes.count)
                    return at + bytes.count
                }
            case .string(let text):
                return HTTP1Serialization.copy(text, to: at)
            case .number(var value):
                let end = at + count
                var digit = end
                repeat {
                    digit -= 1
                    digit.storeBytes(of: UInt8(ascii: "0") + UInt8(value % 10), as: UInt8.self)
                    value /= 10
                } while value > 0
                return end
            }
        }
    }

    fileprivate static func copy(_ text: String, to at: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        var text = text
        return text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return at }
            at.copyMemory(from: base, byteCount: bytes.count)
            return at + bytes.count
        }
    }

    private static func crlf(_ at: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        at.storeBytes(of: UInt8(ascii: "\r"), as: UInt8.self)
        (at + 1).storeBytes(of: UInt8(ascii: "\n"), as: UInt8.self)
        return at + 2
    }
}

/// A head a writer writes: a request's or a response's.
protocol HTTP1Head: Equatable {
    var fields: HeadFields { get }
    var version: HTTPVersion { get }
    var startLine: HTTP1Serialization.StartLine { get }
}

extension ResponseHead: HTTP1Head {
    /// `HTTP/1.1 404 Not Found`.
    var startLine: HTTP1Serialization.StartLine {
        .init(.version(version), .staticString(" "), .number(Int(status.code)), .staticString(" "), .string(status.reasonPhrase))
    }
}

/// NIO's response head, written as the proxy's own (the writer tests compare it with NIO's encoder).
extension HTTPResponseHead: HTTP1Head {
    var fields: HeadFields { HeadFields(headers) }
    var startLine: HTTP1Serialization.StartLine { ResponseHead(self).startLine }
}

/// NIO's request head, written as the proxy's own (the writer tests compare it with NIO's encoder).
extension HTTPRequestHead: HTTP1Head {
    var fields: HeadFields { HeadFields(headers) }
    var startLine: HTTP1Serialization.StartLine { RequestHead(self).startLine }
}

extension RequestHead: HTTP1Head {
    /// `GET /path HTTP/1.1`.
    var startLine: HTTP1Serialization.StartLine {
        .init(.string(method.rawValue), .staticString(" "), .string(uri), .staticString(" "), .version(version))
    }
}

/// A handler's HTTP/1 writes: each part serialized and written as bytes from the handler's own
/// context, with no encoder handler in the pipeline. A part passed down the pipeline as `NIOAny`
/// is boxed, and unboxed by a dynamic cast: three for a response, two for a request, each about
/// a thousand instructions (`bench/proxy/callgrind.sh`). A value type, generic over the head:
/// specialised where it is used, never behind a class's vtable, where it ran unspecialized
/// (117,161 instructions per request against 106,904).
///
/// A head is held, not written, until the next part or a flush (`releaseHeld`): a first body
/// part of up to `joinLimit` bytes is copied into the room left in the head's buffer, so a small message is one write
/// down the pipeline, not two (each about 2,000 instructions of NIO's).
struct HTTP1Writer<Head: HTTP1Head> {
    /// Room kept after a head for a body part to join it.
    static var joinLimit: Int { 1024 }

    /// Whether the message's body goes in chunks (set by each head).
    private var chunked = false
    private var held: ByteBuffer? = nil

    mutating func write(_ part: HTTPPart<Head, IOData>, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(let head):
            releaseHeld(context: context)
            let fields = head.fields
            chunked = HTTP1Serialization.isChunked(fields, version: head.version)
            let holds = promise == nil && !chunked
            let bytes = HTTP1Serialization.head(startLine: head.startLine, fields: fields, allocator: context.channel.allocator,
                                                spare: holds ? Self.joinLimit : 0)
            if holds {
                held = bytes
            } else {
                context.write(NIOAny(IOData.byteBuffer(bytes)), promise: promise)
            }
        case .body(let body):
            if var bytes = held, case .byteBuffer(let buffer) = body, buffer.readableBytes <= Self.joinLimit,
               buffer.readableBytes <= bytes.writableBytes {
                held = nil  // so that `bytes` is the only reference, and grows in place
                bytes.writeImmutableBuffer(buffer)
                context.write(NIOAny(IOData.byteBuffer(bytes)), promise: promise)
            } else {
                releaseHeld(context: context)
                HTTP1Serialization.writeBody(body, chunked: chunked, context: context, promise: promise)
            }
        case .end(let trailers):
            releaseHeld(context: context)
            HTTP1Serialization.writeEnd(trailers, chunked: chunked, context: context, promise: promise)
            chunked = false
        }
    }

    /// Writes the head held, if any: before every flush of the connection.
    mutating func releaseHeld(context: ChannelHandlerContext) {
        guard let bytes = held else { return }
        held = nil
        context.write(NIOAny(IOData.byteBuffer(bytes)), promise: nil)
    }
}
