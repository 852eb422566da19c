// Board rules applied to a layout before any offsets are computed: table kind, what comes first,
// forbidden types and the EFI system partition. Messages name the board, the partition and the rule.

import Foundation

extension LayoutPlanner {
    static func check(
        _ c: LayoutConstraints, table: TableKind, partitions: [PartitionPlan], codes: [PartitionType.Code]
    ) throws {
        let board = c.boardName
        if let required = c.requireTable, required != table {
            let article = required == .mbr ? "an" : "a"
            throw Error.constraint(
                "\(board) needs \(article) \(required.rawValue.uppercased()) partition table; the layout asks for "
                    + "\(table.rawValue.uppercased()) — set the table to \(required.rawValue)")
        }
        let first = partitions[0]
        let firstCode = codes[0]
        let roleOK = c.firstPartitionRole.map { $0 == first.role } ?? true
        let typeOK =
            c.allowedFirstTypes.map { allowed in allowed.contains { PartitionType.same($0, first.type) } } ?? true
        if !roleOK || !typeOK {
            var wanted: [String] = []
            if let role = c.firstPartitionRole { wanted.append("the \(role.rawValue) partition") }
            if let allowed = c.allowedFirstTypes {
                let described = allowed.map { name -> String in
                    let code = try? PartitionType.named(name).resolve()
                    return code?.mbr.map { "\(name) (0x" + String(format: "%02x", $0) + ")" } ?? name
                }
                wanted.append("of type " + described.joined(separator: " or "))
            }
            let tableWord = c.requireTable.map { "an \($0.rawValue.uppercased()) table with " } ?? ""
            let has = firstCode.mbr.map { String(format: "0x%02x", $0) } ?? firstCode.gpt ?? first.type
            throw Error.constraint(
                "\(board) needs \(tableWord)\(wanted.joined(separator: " ")) first; the layout has '\(first.name)' "
                    + "(role \(first.role.rawValue), type \(first.type) \(has)) first — move or retype it")
        }
        for forbidden in c.forbidTypes {
            if let p = partitions.first(where: { PartitionType.same(forbidden, $0.type) }) {
                throw Error.constraint(
                    "\(board) cannot use partition type '\(forbidden)', but partition '\(p.name)' has type "
                        + "'\(p.type)'; remove it or choose another type")
            }
        }
        if c.requireESP, !partitions.contains(where: { PartitionType.same("esp", $0.type) }) {
            let names = partitions.map { "'\($0.name)' (\($0.type))" }.joined(separator: ", ")
            throw Error.constraint(
                "\(board) boots through EFI firmware and needs an EFI system partition (type 'esp'); the layout "
                    + "has none among \(names) — give the boot partition type 'esp'")
        }
    }
}
