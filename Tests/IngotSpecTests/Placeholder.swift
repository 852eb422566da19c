// Placeholder until this module has tests.
import Testing

@Test func IngotSpecTestsPlaceholder() { #expect(1 + 1 == 2) }
