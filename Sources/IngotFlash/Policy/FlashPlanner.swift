// From a command line to a plan: describe the image (compression, size, bmap, manifest), resolve
// every target path (whole disk, partition, file), and apply the policy. Nothing is opened for
// writing here; the caller shows the refusals, asks for confirmation, then runs the plan.

/// What the user asked for.
public struct FlashRequest: Sendable {
    public var image: String
    public var targets: [String]
    /// An explicit bmap path.
    public var bmap: String?
    /// Ignore every bmap.
    public var noBmap: Bool
    public var policy: FlashPolicy
    public var options: FlashOptions

    /// Creates a request.
    public init(
        image: String, targets: [String], bmap: String? = nil, noBmap: Bool = false, policy: FlashPolicy,
        options: FlashOptions
    ) {
        self.image = image
        self.targets = targets
        self.bmap = bmap
        self.noBmap = noBmap
        self.policy = policy
        self.options = options
    }
}

/// Builds plans.
public enum FlashPlanner {
    /// The plan for `request`, and every reason to refuse it (empty: it may run).
    public static func plan(_ request: FlashRequest, discovery: DeviceDiscovery = DeviceDiscovery()) throws
        -> (FlashPlan, [FlashRefusal])
    {
        let image = try FlashImage.open(request.image, bmap: request.bmap, useBmap: !request.noBmap)
        var resolved: [(path: String, kind: TargetKind)] = []
        for path in request.targets { resolved.append((path, try discovery.resolve(path))) }
        let refusals = request.policy.refusals(targets: resolved, imageSize: image.size)
        let targets = resolved.map { path, kind -> FlashTarget in
            if case .disk(let device) = kind { return FlashTarget(path: path, kind: .device(device)) }
            return FlashTarget(path: path, kind: .file)
        }
        return (FlashPlan(image: image, targets: targets, options: request.options), refusals)
    }
}
