// Placeholder until this module has tests.
import Testing

@Test func IngotBootTestsPlaceholder() { #expect(1 + 1 == 2) }
