import NIOCore
import NIOHPACK
import NIOHTTP1

/// After `Upgrade: h2c` (RFC 7540 §3.2) the request that asked for the upgrade is stream 1 of the
/// new HTTP/2 connection, half-closed from the client, and its response goes out on that stream.
/// NIOHTTP2 has no way to open a stream the client did not send, so this handler sends it in the
/// client's name: once the client's connection preface and first frame (its SETTINGS) have
/// passed, it hands the HTTP/2 handler a HEADERS frame for stream 1, END_STREAM set, made of the
/// request's head, then steps aside.
///
/// The header block holds literals only, never added to the HPACK dynamic table, so the two
/// sides' tables stay as the client expects them.
final class UpgradedRequestInjector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The largest header block sent as one frame: HTTP/2's smallest maximum frame size. A larger
    /// head is not upgraded (`UpgradeRequest.fits`).
    static let maxHeaderBlock = 16_384
    private static let frameHeaderSize = 9

    private let streamOneHeaders: ByteBuffer
    private var held = HeldBytes()
    private var done = false

    init(streamOneHeaders: ByteBuffer) {
        self.streamOneHeaders = streamOneHeaders
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else {
            context.fireChannelRead(data)
            return
        }
        var bytes = held.joined(with: unwrapInboundIn(data))
        guard let split = Self.endOfFirstFrame(bytes.readableBytesView) else {
            held.hold(bytes)
            return
        }
        done = true
        let first = bytes.readSlice(length: split)!
        context.fireChannelRead(wrapInboundOut(first))
        context.fireChannelRead(wrapInboundOut(streamOneHeaders))
        if bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !done, let bytes = held.take() {
            // Removed early (the connection closing): what was held goes on as it came.
            done = true
            context.fireChannelRead(wrapInboundOut(bytes))
        }
    }

    /// Where the preface and the frame after it end, once both are here; nil while they are not.
    /// A first frame that claims more than the smallest maximum frame size ends the wait at once:
    /// the HTTP/2 handler refuses it, so nothing large is ever buffered here.
    static func endOfFirstFrame(_ bytes: some Collection<UInt8>) -> Int? {
        let preface = ConnectionPreface.http2.count
        guard bytes.count >= preface + frameHeaderSize else { return nil }
        let header = Array(bytes.dropFirst(preface).prefix(3))
        let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
        if length > maxHeaderBlock { return preface }
        let end = preface + frameHeaderSize + length
        return bytes.count >= end ? end : nil
    }

    /// Stream 1's HEADERS frame (END_HEADERS, END_STREAM) for the request that asked for the upgrade.
    static func headersFrame(for head: HTTPRequestHead, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        var encoder = HPACKEncoder(allocator: allocator, useHuffmanEncoding: false)
        try encoder.beginEncoding(allocator: allocator)
        for (name, value) in UpgradeRequest.streamHeaders(of: head) {
            try encoder.appendNonIndexed(header: name, value: value)
        }
        let block = try encoder.endEncoding()
        var frame = allocator.buffer(capacity: frameHeaderSize + block.readableBytes)
        let length = block.readableBytes
        frame.writeInteger(UInt8(truncatingIfNeeded: length >> 16))
        frame.writeInteger(UInt16(truncatingIfNeeded: length))
        frame.writeInteger(UInt8(0x1))  // HEADERS
        frame.writeInteger(UInt8(0x4 | 0x1))  // END_HEADERS | END_STREAM
        frame.writeInteger(UInt32(1))  // stream 1
        frame.writeImmutableBuffer(block)
        return frame
    }
}

/// An HTTP/1.1 request that asks to continue as cleartext HTTP/2 (`Upgrade: h2c`).
enum UpgradeRequest {
    /// Whether the proxy takes the upgrade: HTTP/1.1, `Upgrade` offering `h2c`, one
    /// `HTTP2-Settings`, both named by `Connection`, no body (a body would have to be read whole
    /// before the switch), and a head that fits one frame. A request that offers `h2c` and is not
    /// taken is served as HTTP/1.1 (RFC 7540 §3.2 lets a server ignore the offer).
    static func isTaken(_ head: HTTPRequestHead, connectionTokens: [Substring]) -> Bool {
        guard head.version == .http1_1, head.uri.hasPrefix("/"), offersH2C(head.headers) else { return false }
        guard connectionTokens.contains(where: { tokenEquals($0, "upgrade") }),
              connectionTokens.contains(where: { tokenEquals($0, "http2-settings") }),
              head.headers[canonicalForm: "http2-settings"].count == 1 else { return false }
        let lengths = head.headers[canonicalForm: "content-length"]
        guard lengths.allSatisfy({ $0 == "0" }), !head.headers.contains(name: "transfer-encoding") else { return false }
        return fits(head)
    }

    /// `Upgrade` lists `h2c`.
    static func offersH2C(_ headers: HTTPHeaders) -> Bool {
        headers[canonicalForm: "upgrade"].contains { tokenEquals($0, "h2c") }
    }

    /// The header block of `streamHeaders` is at most `maxHeaderBlock` bytes: each literal costs
    /// its name and value and at most 6 bytes of lengths and flags.
    static func fits(_ head: HTTPRequestHead) -> Bool {
        let size = streamHeaders(of: head).reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 6 }
        return size <= UpgradedRequestInjector.maxHeaderBlock
    }

    /// The request as HTTP/2 headers: the pseudo-headers from the method, target and `Host`, then
    /// the fields lowercased, less those HTTP/2 has no place for (connection-specific ones, those
    /// `Connection` names, `HTTP2-Settings`, and `Host`, which is now `:authority`).
    static func streamHeaders(of head: HTTPRequestHead) -> [(name: String, value: String)] {
        var nominated = Set<String>()
        for value in head.headers[canonicalForm: "connection"] { nominated.insert(value.lowercased()) }
        var fields: [(name: String, value: String)] = [
            (":method", head.method.rawValue),
            (":scheme", "http"),
            (":path", head.uri),
        ]
        if let host = head.headers.first(name: "host") { fields.append((":authority", host)) }
        for (name, value) in head.headers {
            let lowered = name.lowercased()
            switch lowered {
            case "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
                "http2-settings", "content-length":
                continue
            case "te" where !tokenEquals(Substring(value), "trailers"):
                continue
            default:
                if nominated.contains(lowered) { continue }
                fields.append((lowered, value))
            }
        }
        return fields
    }
}
