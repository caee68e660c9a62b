import RegistryClient
import XCTest

final class RetryPolicyTests: XCTestCase {
    func testDefault() {
        XCTAssertEqual(RetryPolicy.default.maxAttempts, 4)
        XCTAssertEqual(RetryPolicy.default.initialDelay, .milliseconds(200))
        XCTAssertEqual(RetryPolicy.default.maxDelay, .seconds(5))
        XCTAssertEqual(RetryPolicy.none.maxAttempts, 1)
    }

    func testDelaysDoubleUpToTheCap() {
        let policy = RetryPolicy.default
        let delays = (1...8).map { policy.delay(afterAttempt: $0) }
        XCTAssertEqual(delays, [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                                .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5)])
    }

    func testRetryAfterReplacesTheBackoff() {
        let policy = RetryPolicy.default
        XCTAssertEqual(policy.delay(afterAttempt: 1, retryAfter: .seconds(3)), .seconds(3))
        XCTAssertEqual(policy.delay(afterAttempt: 3, retryAfter: .zero), .zero)
        XCTAssertEqual(policy.delay(afterAttempt: 1, retryAfter: .seconds(3600)), .seconds(60))
    }

    func testRetryAfterHeader() {
        XCTAssertEqual(RetryPolicy.retryAfter("7"), .seconds(7))
        XCTAssertEqual(RetryPolicy.retryAfter(" 0 "), .zero)
        XCTAssertNil(RetryPolicy.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT"))
        XCTAssertNil(RetryPolicy.retryAfter("-1"))
        XCTAssertNil(RetryPolicy.retryAfter(nil))
    }

    func testRetryableStatuses() {
        for status in [429, 500, 502, 503, 504] {
            XCTAssertTrue(RetryPolicy.isRetryable(status: status), "\(status)")
        }
        for status in [200, 400, 401, 403, 404, 416, 501] {
            XCTAssertFalse(RetryPolicy.isRetryable(status: status), "\(status)")
        }
    }

    func testAtLeastOneAttempt() {
        XCTAssertEqual(RetryPolicy(maxAttempts: 0, initialDelay: .zero, maxDelay: .zero).maxAttempts, 1)
    }
}
