// Placeholder until this module has tests.
import Testing

@Test func IngotCommandsTestsPlaceholder() { #expect(1 + 1 == 2) }
