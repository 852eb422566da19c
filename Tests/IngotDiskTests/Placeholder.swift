// Placeholder until this module has tests.
import Testing

@Test func IngotDiskTestsPlaceholder() { #expect(1 + 1 == 2) }
