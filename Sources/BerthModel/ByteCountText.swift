import Foundation

/// Byte counts as people read them in progress output (`berthd image pull`, `berth deploy`):
/// powers of 1000 with one decimal, as downloads are shown: `999 B`, `1.2 kB`, `34.5 MB`.
public enum ByteCountText {
    public static func decimal(_ count: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }
}
