import XCTest
@testable import Inference

final class InferenceSmokeTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual(String(describing: Inference.self), "Inference") }
}
