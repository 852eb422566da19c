// Small JSON records other modules may cache in the store under `refs/<kind>/<key>` (for example
// the kernel's module index, keyed by the kernel package's digest), so derived facts are
// computed once per input.

import Foundation

extension ContentStore {
    /// The record stored under `kind/key`, or nil when absent or unreadable.
    public nonisolated func cachedRecord<T: Decodable>(_ type: T.Type, kind: String, key: String) -> T? {
        record(type, kind: kind, key: key)
    }

    /// Stores `value` under `kind/key`.
    public nonisolated func cacheRecord<T: Encodable>(_ value: T, kind: String, key: String) throws {
        _ = try putRecord(value, kind: kind, key: key)
    }
}
