import BerthModel
import Foundation
import NIOCore
import Store
import XCTest

@testable import API

/// A list put together from containers' kept fragments is, byte for byte, what `JSONEncoder`
/// makes of the whole list; a container whose view changed is encoded again.
final class ContainerFragmentsTests: XCTestCase {
    func views() throws -> [ContainerView] {
        let database = try BerthDatabase.inMemory()
        let configuration = APIConfiguration(domain: "localhost", proxyPort: 8081)
        return try (0..<3).map { index in
            var spec = RevisionSpec(image: "registry.test/app:\(index)", cpu: 1, memory: try Quantity(parsing: "64Mi"),
                                    ephemeralStorage: try Quantity(parsing: "64Mi"), port: 8080)
            spec.env = ["A": "1", "B/\"quoted\"": "é \u{1}"]
            let (container, revision) = try database.createContainer(name: "web-\(index)", owner: "alice", spec: spec)
            var view = ContainerView(container, revision, instances: ContainerInstances(desired: index, list: []),
                                     configuration: configuration)
            if index == 1 { view.pull = PullReport(phase: "downloading", layers: PullReport.Count(done: 1, total: 3),
                                                   bytes: PullReport.Count(done: 10, total: 300)) }
            return view
        }
    }

    func testAListOfFragmentsIsTheEncodersListByteForByte() throws {
        let fragments = ContainerFragments()
        let views = try views()
        for token: String? in [nil, "eyJhZnRlciI6MX0", "a\"b"] {
            for shown in [[], Array(views.prefix(1)), views] {
                let expected = try JSON.encoder.encode(ContainerList(containers: shown, nextPageToken: token))
                let body = try fragments.listBody(shown, nextPageToken: token)
                XCTAssertEqual(String(buffer: body), String(decoding: expected, as: UTF8.self))
            }
        }
    }

    func testAChangedViewIsEncodedAgainAndAnUnchangedOneIsNot() throws {
        let fragments = ContainerFragments(capacity: 2)
        var views = try views()
        let first = try fragments.encoded(views[0])
        let again = try fragments.encoded(views[0])
        first.withUnsafeReadableBytes { a in
            again.withUnsafeReadableBytes { b in XCTAssertEqual(a.baseAddress, b.baseAddress, "the kept bytes") }
        }
        views[0].statusMessage = "pulling failed; retrying in 10s"
        views[0].instances.ready = 1
        let changed = try fragments.encoded(views[0])
        XCTAssertEqual(String(buffer: changed), String(decoding: try JSON.encoder.encode(views[0]), as: UTF8.self))
        XCTAssertTrue(String(buffer: changed).contains("retrying in 10s"))
        // Past its capacity the cache starts over, and still answers right.
        for view in views { _ = try fragments.encoded(view) }
        XCTAssertEqual(String(buffer: try fragments.encoded(views[0])), String(buffer: changed))
    }
}
