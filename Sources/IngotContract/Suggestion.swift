// Nearest-name suggestions ("did you mean ...?") by edit distance, used for spec keys and board
// names alike.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
///
/// A candidate counts as near when its Levenshtein distance (case-insensitive) is at most a third
/// of the longer word's length (at least 1, at most 3), or when one contains the other.
/// - Parameters:
///   - word: What the user wrote.
///   - candidates: The valid names.
/// - Returns: The best candidate, or nil when nothing is near.
public func suggestion(for word: String, among candidates: [String]) -> String? {
    let lowered = word.lowercased()
    var best: (name: String, distance: Int)?
    for candidate in candidates {
        let other = candidate.lowercased()
        let distance = editDistance(lowered, other)
        let limit = min(3, max(1, max(lowered.count, other.count) / 3))
        let contained = lowered.count >= 3 && (other.contains(lowered) || lowered.contains(other))
        guard distance <= limit || contained else { continue }
        if let current = best, current.distance <= distance { continue }
        best = (candidate, distance)
    }
    return best?.name
}

/// Levenshtein distance between two strings, counted in characters.
/// - Parameters:
///   - a: First string.
///   - b: Second string.
/// - Returns: The minimum number of single-character insertions, deletions or substitutions.
public func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a)
    let y = Array(b)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}
