// Placeholder until this module has tests.
import Testing

@Test func IngotSourcesTestsPlaceholder() { #expect(1 + 1 == 2) }
