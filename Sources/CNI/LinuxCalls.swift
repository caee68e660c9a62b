#if canImport(Glibc)
import Glibc
#endif

/// glibc functions the Swift Glibc module does not export (they need _GNU_SOURCE), looked up
/// once by name.
enum LinuxCalls {
    static let cloneNewNet: Int32 = 0x4000_0000

    private typealias IntFunction = @convention(c) (Int32) -> Int32
    private typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32

    nonisolated(unsafe) private static let unshareFunction = unsafeBitCast(symbol("unshare"), to: IntFunction.self)
    nonisolated(unsafe) private static let setnsFunction = unsafeBitCast(symbol("setns"), to: SetNamespace.self)

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer {
        guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
            fatalError("glibc has no \(name)")
        }
        return pointer
    }

    static func unshare(_ flags: Int32) -> Int32 { unshareFunction(flags) }
    static func setns(_ fd: Int32, _ type: Int32) -> Int32 { setnsFunction(fd, type) }
}
