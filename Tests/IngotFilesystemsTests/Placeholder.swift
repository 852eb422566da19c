// Placeholder until this module has tests.
import Testing

@Test func IngotFilesystemsTestsPlaceholder() { #expect(1 + 1 == 2) }
