// Number formatting shared by plans, prompts, the progress bar and summaries.

import Foundation

/// Human-readable sizes, rates and durations.
public enum FlashFormat {
    /// `1.5 GiB`, `512 B`.
    public static func bytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        var v = Double(n)
        for unit in ["KiB", "MiB", "GiB", "TiB"] {
            v /= 1024
            if v < 1024 || unit == "TiB" { return String(format: v < 10 ? "%.2f" : "%.1f", v) + " " + unit }
        }
        return "\(n) B"
    }

    /// `123.4 MiB/s`.
    public static func rate(_ bytesPerSecond: Double) -> String {
        bytes(Int64(max(0, bytesPerSecond))) + "/s"
    }

    /// `1:05` or `1:02:03`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60) }
        return String(format: "%d:%02d", s / 60, s % 60)
    }
}
