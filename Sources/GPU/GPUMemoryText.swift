/// GPU memory as a Kubernetes quantity for GET /v1/gpu-models.
///
/// The driver reports a little less than the marketed size (an H200 says 143771 MiB, 140.4 GiB,
/// for its "141 GB"; an H100 81559 MiB for "80 GB"), so the amount is rounded UP to whole GiB,
/// which gives the number people know, then written with the largest binary suffix that is
/// exact (1024Gi is "1Ti"). Unknown memory is "unknown".
public enum GPUMemoryText {
    public static func describe(_ bytes: Int64?) -> String {
        guard let bytes, bytes > 0 else { return "unknown" }
        var amount = (bytes + (1 << 30) - 1) >> 30
        var suffixes = ["Gi", "Ti", "Pi", "Ei"][...]
        while amount % 1024 == 0 && suffixes.count > 1 {
            amount /= 1024
            suffixes = suffixes.dropFirst()
        }
        return "\(amount)\(suffixes.first!)"
    }
}
