import XCTest
@testable import Phantom

final class PhantomSmokeTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual(String(describing: Phantom.self), "Phantom") }
}
