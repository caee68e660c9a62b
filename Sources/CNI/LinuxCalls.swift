#if canImport(Glibc)
import Glibc
#endif

/// glibc functions the Swift Glibc module does not export (they need _GNU_SOURCE), looked up
/// once by name.
enum LinuxCalls {
    static let cloneNewNet: Int32 = 0x4000_0000

    private typealias IntFunction = @convention(c) (Int32) -> Int32
    private typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    nonisolated(unsafe) private static let unshareFunction = unsafeBitCast(symbol("unshare"), to: IntFunction.self)
    nonisolated(unsafe) private static let setnsFunction = unsafeBitCast(symbol("setns"), to: SetNamespace.self)
    nonisolated(unsafe) private static let pipe2Function = unsafeBitCast(symbol("pipe2"), to: Pipe2.self)

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer {
        guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
            fatalError("glibc has no \(name)")
        }
        return pointer
    }

    static func unshare(_ flags: Int32) -> Int32 { unshareFunction(flags) }
    static func setns(_ fd: Int32, _ type: Int32) -> Int32 { setnsFunction(fd, type) }

    /// A pipe whose ends are close-on-exec from the start, so a concurrent fork elsewhere in the
    /// process cannot inherit them.
    static func pipe(_ ends: inout [Int32]) -> Int32 {
        ends.withUnsafeMutableBufferPointer { pipe2Function($0.baseAddress!, O_CLOEXEC) }
    }
}
