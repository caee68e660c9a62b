import NIOCore

/// Fields appended to a head as one block, with their HTTP/1 bytes (`name: value` CRLF each)
/// made when the block is: the forwarding fields, the same on every request a client sends to
/// one host, are then copied onto each request as one piece. A class, immutable: shared by every
/// head it is appended to, one reference to copy with a head.
final class FieldBlock {
    let fields: [(String, String)]
    let bytes: ByteBuffer
    /// It holds a `transfer-encoding` field (the forwarding fields never do).
    let hasTransferEncoding: Bool

    init(_ fields: [(String, String)]) {
        self.fields = fields
        self.hasTransferEncoding = fields.contains { $0.0 == "transfer-encoding" }
        var bytes = ByteBuffer()
        for (name, value) in fields {
            bytes.writeString(name)
            bytes.writeStaticString(": ")
            bytes.writeString(value)
            bytes.writeStaticString("\r\n")
        }
        self.bytes = bytes
    }
}

/// The forwarding fields the proxy appends to each request it sends upstream
/// (`HeaderRewriter.upstreamRequestHead`): `X-Forwarded-For`, `-Proto`, `-Host` and `Forwarded`.
/// They depend on the client (one per connection), the request's host, and what a trusted proxy
/// in front already said; the last block made is kept and used again while those are the same.
struct ForwardingFields {
    struct Key: Equatable {
        var host: String?
        /// A trusted proxy's `X-Forwarded-For` chain, extended with the client.
        var forwardedFor: String?
        /// A trusted proxy sent `X-Forwarded-Proto`, `X-Forwarded-Host`: kept, not written again.
        var keepsProto: Bool
        var keepsHost: Bool
    }

    private var last: (key: Key, block: FieldBlock)? = nil

    init() {}

    mutating func block(for key: Key, client: ClientAddress) -> FieldBlock {
        if let last, last.key == key { return last.block }
        var fields: [(String, String)] = []
        fields.reserveCapacity(4)
        fields.append(("x-forwarded-for", key.forwardedFor.map { "\($0), \(client.ip)" } ?? client.ip))
        if !key.keepsProto { fields.append(("x-forwarded-proto", "http")) }
        if !key.keepsHost, let host = key.host { fields.append(("x-forwarded-host", host)) }
        fields.append(("forwarded", HeaderRewriter.forwardedElement(client: client, host: key.host)))
        let block = FieldBlock(fields)
        last = (key, block)
        return block
    }
}
