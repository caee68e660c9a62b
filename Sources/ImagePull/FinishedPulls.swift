import OCI

/// Each reference's last finished pull, the most recent `capacity` references: what lets the
/// next pull of a reference end once it finds the tag unchanged and the image still stored.
struct FinishedPulls: Sendable {
    let capacity: Int
    private var images: [ImageReference: PulledImage] = [:]
    /// Oldest first; each reference once.
    private var order: [ImageReference] = []

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    subscript(reference: ImageReference) -> PulledImage? { images[reference] }

    var count: Int { images.count }

    mutating func record(_ image: PulledImage) {
        if images.updateValue(image, forKey: image.reference) != nil {
            order.removeAll { $0 == image.reference }
        }
        order.append(image.reference)
        while order.count > capacity {
            images[order.removeFirst()] = nil
        }
    }
}
