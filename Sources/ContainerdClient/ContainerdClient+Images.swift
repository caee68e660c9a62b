import ContainerdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import OCI

/// An image record: a name pointing at a manifest or index in the content store.
public struct ImageRecord: Sendable, Equatable {
    public var name: String
    public var target: Descriptor
    public var labels: [String: String]
    public var createdAt: Date?
    public var updatedAt: Date?

    public init(name: String, target: Descriptor, labels: [String: String] = [:]) {
        self.name = name
        self.target = target
        self.labels = labels
    }
}

extension ContainerdClient {
    var images: Containerd_Services_Images_V1_Images.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: grpc)
    }

    public func image(named name: String) async throws -> ImageRecord? {
        do {
            let image = try await unary("Images.Get") {
                try await images.get(.with { $0.name = name }, metadata: metadata, options: Self.unaryOptions).image
            }
            return try ImageRecord(image)
        } catch let error as ContainerdError where error.code == .notFound {
            return nil
        }
    }

    public func listImages() async throws -> [ImageRecord] {
        try await unary("Images.List") {
            try await images.list(.init(), metadata: metadata, options: Self.unaryOptions).images.map(ImageRecord.init)
        }
    }

    /// Creates the record, or points an existing one at the new target.
    public func putImage(_ record: ImageRecord) async throws {
        let proto = Containerd_Services_Images_V1_Image.with {
            $0.name = record.name
            $0.target = record.target.proto
            $0.labels = record.labels
        }
        do {
            _ = try await unary("Images.Create") {
                try await images.create(.with { $0.image = proto }, metadata: metadata, options: Self.unaryOptions)
            }
        } catch let error as ContainerdError where error.code == .alreadyExists {
            _ = try await unary("Images.Update") {
                try await images.update(.with {
                    $0.image = proto
                    $0.updateMask.paths = ["target"] + record.labels.keys.sorted().map { "labels.\($0)" }
                }, metadata: metadata, options: Self.unaryOptions)
            }
        }
    }

    public func deleteImage(named name: String, sync: Bool = false) async throws {
        _ = try await unary("Images.Delete") {
            try await images.delete(.with {
                $0.name = name
                $0.sync = sync
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }
}

extension ImageRecord {
    init(_ proto: Containerd_Services_Images_V1_Image) throws {
        self.init(name: proto.name, target: try Descriptor(proto.target), labels: proto.labels)
        createdAt = proto.createdAt.dateIfSet
        updatedAt = proto.updatedAt.dateIfSet
    }
}
