// The build's readiness record (manifest) turned into what the harness runs: the watch rules'
// network probes and console pattern, and the guest ports the machine plan forwards. Shared by
// `ingot test` and `ingot matrix`, so both check the same things.

import IngotBoot
import IngotBuild

extension ReadinessRecord {
    /// The probes, http first (the order of `guestPorts`).
    var probes: [ReadinessProbe] {
        var probes: [ReadinessProbe] = []
        if let http {
            probes.append(ReadinessProbe(kind: .http(path: http.path, status: http.status), guestPort: http.port))
        }
        if let tcp { probes.append(ReadinessProbe(kind: .tcp, guestPort: tcp.port)) }
        return probes
    }

    /// Adds the probes (and, when `withPattern`, the spec's console pattern) to `rules`. An image
    /// that prints no ready marker (a root's own init other than systemd) starts probing at init.
    func apply(to rules: inout WatchRules, withPattern: Bool) {
        rules.probes = probes
        rules.probesStartAtInit = !marker
        if withPattern, let pattern, !rules.readinessPatterns.contains(pattern) {
            rules.readinessPatterns.append(pattern)
        }
    }
}
