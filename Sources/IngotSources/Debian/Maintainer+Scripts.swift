// Reading maintainer scripts without running them: a small shell tokenizer finds the simple
// commands of a preinst/postinst, and the ones whose effect Ingot reproduces on the image
// (accounts, alternatives, diversions, the CA bundle, the linker cache) become typed actions.
// Commands that only query or print are ignored; every other command is reported, so the build
// can say which package's script did something the image does not have.

import Foundation

/// What a maintainer script would have done, as far as Ingot reproduces it.
public enum MaintainerAction: Sendable, Hashable, Codable {
    case addGroup(name: String, gid: UInt32?, useradd: Bool)
    case addUser(
        name: String, uid: UInt32?, group: String?, ownGroup: Bool, home: String?, shell: String?, gecos: String?,
        useradd: Bool)
    case addMember(user: String, group: String)
    /// `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...`
    case alternative(link: String, name: String, path: String, priority: Int, slaves: [AlternativeSlave])
    /// `dpkg-divert --package P --divert TO --rename PATH` (package nil: `--local`).
    case divert(path: String, to: String, package: String?)
    case updateCACertificates
    /// `ln -s TARGET LINK` (LINK names a directory: the link goes inside it).
    case symlink(target: String, link: String)
    /// `mkdir [-p] [-m MODE] DIR`, `install -d [-m MODE] [-o U] [-g G] DIR`.
    case directory(path: String, mode: UInt32?, owner: String?, group: String?)
    /// `cp SRC DST` of a file the closure ships (DST a directory: into it).
    case copy(from: String, to: String)
    /// `touch FILE` (an empty file unless one exists).
    case touch(path: String)
    /// `chmod MODE PATH` (octal modes).
    case chmod(mode: UInt32, path: String)
    /// `chown USER[:GROUP] PATH`.
    case chown(owner: String?, group: String?, path: String)
}

/// A `--slave LINK NAME PATH` of an alternative.
public struct AlternativeSlave: Sendable, Hashable, Codable {
    public var link: String
    public var name: String
    public var path: String
}

/// The analysis of one maintainer script.
public struct ScriptAnalysis: Sendable, Equatable, Codable {
    public var actions: [MaintainerAction] = []
    /// For each action, the file tests it depends on (nil: none); decided against the closure.
    public var guards: [Guard?] = []
    /// Commands (first words, with a short reason when known) Ingot does not reproduce.
    public var unreproduced: [String] = []
}

/// Reads maintainer scripts.
public enum MaintainerScripts {
    /// Commands with no effect on the installed image (queries, output, shell plumbing, service
    /// management that Ingot's init replaces, conffile bookkeeping of upgrades).
    static let neutral: Set<String> = [
        "[", "[[", "test", "echo", "printf", "true", "false", ":", "exit", "return", "set", "local", "shift", "export",
        "unset", "readonly", "read", "break", "continue", "eval", "exec", "trap", "wait", "command", "type", "which",
        "hash", "getent", "id", "grep", "egrep", "fgrep", "cut", "awk", "mawk", "head", "tail", "cat", "basename",
        "dirname", "wc", "sort", "uniq", "tr", "readlink", "realpath", "dpkg", "dpkg-query", "dpkg-architecture",
        "dpkg-maintscript-helper", "dpkg-trigger", "ls", "stat", "cmp", "diff", "sleep", "logger", "env", "expr",
        "seq", "uname", "pidof", "ps", "kill", "deb-systemd-helper", "deb-systemd-invoke", "invoke-rc.d",
        "update-rc.d", "systemctl", "service", "start-stop-daemon", ".", "source", "db_get", "db_set", "db_input",
        "db_go", "db_stop", "db_purge", "db_fset", "db_fget", "db_reset", "db_unregister", "db_register", "db_subst",
        "db_title", "db_capb", "db_version", "db_metaget", "db_settitle", "db_beginblock", "db_endblock",
        "db_x_loadtemplatefile",
        "ldconfig", "debconf-updatepo", "debconf-show", "ischroot", "busctl", "telinit", "systemd-detect-virt",
        "pathfind", "update-mime", "update-desktop-database",
    ]

    /// Analyses one script for a fresh install.
    /// - Parameters:
    ///   - text: the script as shipped (shell; other interpreters are reported whole).
    ///   - script: `preinst` or `postinst` (`$1` is then `install` or `configure`).
    public static func analyse(_ text: String, script: String = "postinst") -> ScriptAnalysis {
        var out = ScriptAnalysis()
        let firstLine = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        if firstLine.hasPrefix("#!"), !(firstLine.contains("/sh") || firstLine.contains("bash")) {
            out.unreproduced.append("a \(firstLine.dropFirst(2).trimmingCharacters(in: .whitespaces)) script")
            return out
        }
        let argument = script == "preinst" ? "install" : "configure"
        // dpkg runs scripts with DPKG_ROOT empty for a normal installation.
        var vars: [String: String] = ["DPKG_ROOT": ""]
        var functions: Set<String> = []
        var body = stripCasePatterns(text)
        for (link, target) in dhNginxModules(&body) {
            out.add(.symlink(target: target, link: link), guard: nil)
        }
        // One entry per open `if`: the guard of the branch being read and of all earlier branches.
        var blocks: [(branch: Guard, taken: Guard)] = []
        var condition: [(Guard, String)]?
        var isElif = false
        for command in commands(of: body) {
            var words = command.words
            if words.first == "if" || words.first == "elif" {
                isElif = words.first == "elif"
                words.removeFirst()
                condition = []
            }
            if var parts = condition {
                if words.first == "then" {
                    var cond = parts.first?.0 ?? .unknown
                    for i in parts.indices.dropFirst() {
                        switch parts[i - 1].1 {
                        case "&&": cond = .and(cond, parts[i].0)
                        case "||": cond = .or(cond, parts[i].0)
                        default: cond = parts[i].0
                        }
                    }
                    cond = cond.simplified
                    if isElif, let last = blocks.popLast() {
                        blocks.append(
                            (Guard.and(.not(last.taken), cond).simplified, Guard.or(last.taken, cond).simplified))
                    } else {
                        blocks.append((cond, cond))
                    }
                    condition = nil
                    words.removeFirst()
                } else {
                    if !words.isEmpty {
                        parts.append(
                            (Guard.of(words.map { substitute($0, vars) }, argument: argument), command.separator))
                    }
                    condition = parts
                    continue
                }
            }
            if words.first == "else", let last = blocks.popLast() {
                blocks.append((Guard.not(last.taken).simplified, .known(true)))
                words.removeFirst()
            }
            if words.first == "fi" {
                _ = blocks.popLast()
                continue
            }
            let active = blocks.map(\.branch).reduce(Guard.known(true)) { Guard.and($0, $1) }.simplified
            if active.constant == false { continue }
            // Shell keywords in front of the command.
            while let w = words.first {
                if ["then", "do", "while", "until", "!", "{", "}", "(", ")", "done", "esac", ";;", "time"].contains(w) {
                    words.removeFirst()
                } else if w == "case" {
                    words = []
                } else {
                    break
                }
            }
            guard var cmd = words.first else { continue }
            if cmd.hasSuffix("()") || (words.count > 1 && words[1] == "()")
                || (words.count > 2 && words[1] == "(" && words[2] == ")")
            {
                functions.insert(String(cmd.prefix { $0 != "(" }))
                continue
            }
            if cmd == "for" || cmd == "case" || cmd == "in" { continue }
            // Assignments (`X=1`, `X=1 cmd ...`).
            while let eq = cmd.firstIndex(of: "="), cmd.first != "-",
                cmd[..<eq].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
            {
                let name = String(cmd[..<eq])
                let value = String(cmd[cmd.index(after: eq)...])
                let expanded = substitute(value, vars)
                if !expanded.contains("$") && !expanded.contains("`") {
                    vars[name] = expanded
                } else {
                    vars[name] = nil
                }
                words.removeFirst()
                guard let next = words.first else { break }
                cmd = next
            }
            guard let first = words.first, !first.contains("=") || first.hasPrefix("-") else { continue }
            let args = words.dropFirst().map { substitute($0, vars) }
            let name = (first as NSString).lastPathComponent
            if functions.contains(name) || neutral.contains(name) || name.hasPrefix("$") || name.hasPrefix("-")
                || !name.allSatisfy({ $0.isLetter || $0.isNumber || "._+-".contains($0) })
            {
                continue
            }
            // sed and perl only filter or compute unless they edit files in place.
            if (name == "sed" || name == "perl") && !args.contains(where: { $0.hasPrefix("-i") }) { continue }
            let g: Guard? = active.constant == true ? nil : active
            var actions: [MaintainerAction]?
            switch name {
            case "adduser": actions = adduser(Array(args), addgroup: false)
            case "addgroup": actions = adduser(Array(args), addgroup: true)
            case "useradd": actions = useradd(Array(args))
            case "groupadd": actions = groupadd(Array(args))
            case "usermod": actions = usermod(Array(args))
            case "update-alternatives": actions = alternatives(Array(args))
            case "dpkg-divert": actions = divert(Array(args))
            case "update-ca-certificates": actions = [.updateCACertificates]
            case "dpkg-statoverride": actions = statOverride(Array(args))
            case "ln", "mkdir", "cp", "touch", "chmod", "chown", "install": actions = fileCommand(name, Array(args))
            default:
                if !out.unreproduced.contains(name) { out.unreproduced.append(name) }
                continue
            }
            out.absorb(actions, name, guard: g)
        }
        return out
    }

    /// The module links of dh_nginx's snippet (`for confpair in FROM:TO ...; do ... ln -sf
    /// /usr/share/nginx/modules-available/$from /etc/nginx/modules-enabled/$to`), taken out of
    /// `text`: (link, target) pairs.
    static func dhNginxModules(_ text: inout String) -> [(String, String)] {
        guard text.contains("/etc/nginx/modules-enabled/"),
            let loop = text.range(of: #"for confpair in [^;\n]*;\s*do[\s\S]*?\ndone"#, options: .regularExpression)
        else { return [] }
        let head = text[loop].split(separator: ";", maxSplits: 1).first ?? ""
        let pairs = head.dropFirst("for confpair in ".count).split(separator: " ").compactMap {
            pair -> (String, String)? in
            let p = pair.split(separator: ":")
            guard p.count == 2 else { return nil }
            return ("/etc/nginx/modules-enabled/\(p[1])", "/usr/share/nginx/modules-available/\(p[0])")
        }
        text.removeSubrange(loop)
        return pairs
    }

    // MARK: - Commands

    /// `adduser [--system] [--group] [--ingroup G] [--uid N] [--gid N] [--home H] [--shell S] [--gecos G] NAME [GROUP]`
    static func adduser(_ args: [String], addgroup: Bool) -> [MaintainerAction]? {
        var names: [String] = []
        var uid: UInt32?
        var gid: UInt32?
        var ingroup: String?
        var group = addgroup
        var home: String?
        var shell: String?
        var gecos: String?
        var i = 0
        while i < args.count {
            let a = args[i]
            func value() -> String? {
                i += 1
                return i < args.count ? args[i] : nil
            }
            switch a {
            case "--system", "--quiet", "-q", "--disabled-password", "--disabled-login", "--no-create-home",
                "--force-badname", "--allow-badname", "--allow-bad-names", "--debug", "--firstuid", "--lastuid":
                if a == "--firstuid" || a == "--lastuid" { _ = value() }
            case "--group": group = true
            case "--ingroup": ingroup = value()
            case "--uid": uid = value().flatMap { UInt32($0) }
            case "--gid": gid = value().flatMap { UInt32($0) }
            case "--home": home = value()
            case "--shell": shell = value()
            case "--gecos", "--comment": gecos = value()
            default:
                if a.hasPrefix("-") { return nil }
                names.append(a)
            }
            i += 1
        }
        guard let name = names.first, isLiteral(name) else { return nil }
        if addgroup {
            if names.count == 2 { return [.addMember(user: names[0], group: names[1])] }
            return [.addGroup(name: name, gid: gid, useradd: false)]
        }
        if names.count == 2 { return [.addMember(user: names[0], group: names[1])] }
        var actions: [MaintainerAction] = []
        if let ingroup, !isLiteral(ingroup) { return nil }
        actions.append(
            .addUser(
                name: name, uid: uid, group: ingroup, ownGroup: group && ingroup == nil, home: home, shell: shell,
                gecos: gecos, useradd: false))
        return actions
    }

    /// `useradd [-r] [-g G] [-G A,B] [-u N] [-d H] [-s S] [-c C] [-U] [-M|-m] NAME`
    static func useradd(_ args: [String]) -> [MaintainerAction]? {
        var name: String?
        var uid: UInt32?
        var group: String?
        var extra: [String] = []
        var home: String?
        var shell: String?
        var gecos: String?
        var ownGroup = false
        var noUserGroup = false
        var i = 0
        while i < args.count {
            let a = args[i]
            func value() -> String? {
                i += 1
                return i < args.count ? args[i] : nil
            }
            switch a {
            case "-r", "--system", "-M", "--no-create-home", "-m", "--create-home", "-l", "--no-log-init": break
            case "-g", "--gid": group = value()
            case "-G", "--groups": extra = (value() ?? "").split(separator: ",").map(String.init)
            case "-u", "--uid": uid = value().flatMap { UInt32($0) }
            case "-d", "--home-dir", "--home": home = value()
            case "-s", "--shell": shell = value()
            case "-c", "--comment": gecos = value()
            case "-U", "--user-group": ownGroup = true
            case "-N", "--no-user-group": noUserGroup = true
            case "-K", "-k", "--skel", "-e", "--expiredate", "-f", "--inactive", "-p", "--password": _ = value()
            default:
                if a.hasPrefix("-") { return nil }
                name = a
            }
            i += 1
        }
        guard let name, isLiteral(name) else { return nil }
        // useradd creates a user group by default (USERGROUPS_ENAB yes) unless -g or -N.
        let own = ownGroup || (group == nil && !noUserGroup)
        var actions: [MaintainerAction] = [
            .addUser(
                name: name, uid: uid, group: group, ownGroup: own, home: home, shell: shell ?? "/bin/sh", gecos: gecos,
                useradd: true)
        ]
        for g in extra { actions.append(.addMember(user: name, group: g)) }
        return actions
    }

    /// `groupadd [-r] [-g N] [-f] NAME`
    static func groupadd(_ args: [String]) -> [MaintainerAction]? {
        var name: String?
        var gid: UInt32?
        var i = 0
        while i < args.count {
            switch args[i] {
            case "-r", "--system", "-f", "--force": break
            case "-g", "--gid":
                i += 1
                gid = i < args.count ? UInt32(args[i]) : nil
            default:
                if args[i].hasPrefix("-") { return nil }
                name = args[i]
            }
            i += 1
        }
        guard let name, isLiteral(name) else { return nil }
        return [.addGroup(name: name, gid: gid, useradd: true)]
    }

    /// `usermod -a -G GROUPS USER` (other changes are not reproduced).
    static func usermod(_ args: [String]) -> [MaintainerAction]? {
        var groups: [String] = []
        var user: String?
        var i = 0
        while i < args.count {
            switch args[i] {
            case "-a", "--append": break
            case "-G", "--groups":
                i += 1
                groups = i < args.count ? args[i].split(separator: ",").map(String.init) : []
            case "-aG":
                i += 1
                groups = i < args.count ? args[i].split(separator: ",").map(String.init) : []
            default:
                if args[i].hasPrefix("-") { return nil }
                user = args[i]
            }
            i += 1
        }
        guard let user, isLiteral(user), !groups.isEmpty else { return nil }
        return groups.map { .addMember(user: user, group: $0) }
    }

    /// `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...`; other
    /// modes (`--remove`, `--set`, `--auto`) change nothing on a fresh install or are not reproduced.
    static func alternatives(_ args: [String]) -> [MaintainerAction]? {
        var rest = args.filter { $0 != "--quiet" && $0 != "--force" }
        guard let mode = rest.first else { return nil }
        if ["--remove", "--remove-all", "--auto", "--query", "--display", "--list", "--config"].contains(mode) {
            return []
        }
        guard mode == "--install", rest.count >= 5 else { return nil }
        rest.removeFirst()
        guard let priority = Int(rest[3]), rest[0...2].allSatisfy(isLiteral) else { return nil }
        var slaves: [AlternativeSlave] = []
        var i = 4
        while i + 3 < rest.count + 0, rest[i] == "--slave" {
            guard rest[(i + 1)...(i + 3)].allSatisfy(isLiteral) else { return nil }
            slaves.append(AlternativeSlave(link: rest[i + 1], name: rest[i + 2], path: rest[i + 3]))
            i += 4
        }
        return [.alternative(link: rest[0], name: rest[1], path: rest[2], priority: priority, slaves: slaves)]
    }

    /// `dpkg-divert [--package P | --local] [--add] [--rename] [--divert TO] PATH`
    static func divert(_ args: [String]) -> [MaintainerAction]? {
        var package: String?
        var to: String?
        var path: String?
        var i = 0
        while i < args.count {
            let a = args[i]
            switch a {
            case "--package":
                i += 1
                package = i < args.count ? args[i] : nil
            case "--divert":
                i += 1
                to = i < args.count ? args[i] : nil
            case "--add", "--rename", "--no-rename", "--quiet", "--local": break
            case "--remove", "--list", "--listpackage", "--truename": return []
            default:
                if a.hasPrefix("-") { return nil }
                path = a
            }
            i += 1
        }
        guard let path, isLiteral(path), path.hasPrefix("/") else { return nil }
        let target = to ?? path + ".distrib"
        guard isLiteral(target) else { return nil }
        return [.divert(path: path, to: target, package: package)]
    }

    /// `dpkg-statoverride [--update] --add USER GROUP MODE PATH` (an owner and mode for a path);
    /// `--list` and `--remove` change nothing on a fresh install.
    static func statOverride(_ args: [String]) -> [MaintainerAction]? {
        let operands = args.filter { !$0.hasPrefix("-") }
        if args.contains("--list") || args.contains("--remove") { return [] }
        guard args.contains("--add"), operands.count == 4, operands.allSatisfy(isLiteral), operands[3].hasPrefix("/"),
            let mode = UInt32(operands[2], radix: 8)
        else { return nil }
        return [
            .chown(owner: operands[0], group: operands[1], path: operands[3]), .chmod(mode: mode, path: operands[3]),
        ]
    }

    /// `ln -s`, `mkdir`, `cp`, `touch`, `chmod`, `chown`, `install -d` on literal absolute paths.
    static func fileCommand(_ name: String, _ args: [String]) -> [MaintainerAction]? {
        var flags: [String] = []
        var operands: [String] = []
        var mode: UInt32?
        var owner: String?
        var group: String?
        var i = 0
        while i < args.count {
            let a = args[i]
            if (a == "-m" || a == "--mode") && (name == "mkdir" || name == "install") {
                i += 1
                guard i < args.count, let m = UInt32(args[i], radix: 8) else { return nil }
                mode = m
            } else if (a == "-o" || a == "-g") && name == "install" {
                i += 1
                guard i < args.count else { return nil }
                if a == "-o" { owner = args[i] } else { group = args[i] }
            } else if a.hasPrefix("-") && a.count > 1 {
                flags.append(a)
            } else {
                operands.append(a)
            }
            i += 1
        }
        guard !operands.isEmpty, operands.allSatisfy(isLiteral) else { return nil }
        let flagText = flags.joined()
        switch name {
        case "ln":
            guard flagText.contains("s"), operands.count == 2, operands[1].hasPrefix("/") else { return nil }
            return [.symlink(target: operands[0], link: operands[1])]
        case "mkdir":
            guard operands.allSatisfy({ $0.hasPrefix("/") }) else { return nil }
            return operands.map { .directory(path: $0, mode: mode, owner: nil, group: nil) }
        case "install":
            guard flagText.contains("d"), operands.allSatisfy({ $0.hasPrefix("/") }) else { return nil }
            return operands.map { .directory(path: $0, mode: mode, owner: owner, group: group) }
        case "cp":
            guard operands.count == 2, operands.allSatisfy({ $0.hasPrefix("/") }), !flagText.contains("r"),
                !flagText.contains("R")
            else { return nil }
            return [.copy(from: operands[0], to: operands[1])]
        case "touch":
            guard flags.isEmpty, operands.allSatisfy({ $0.hasPrefix("/") }) else { return nil }
            return operands.map { .touch(path: $0) }
        case "chmod":
            guard !flagText.contains("R"), operands.count >= 2, let m = UInt32(operands[0], radix: 8),
                operands.dropFirst().allSatisfy({ $0.hasPrefix("/") })
            else { return nil }
            return operands.dropFirst().map { .chmod(mode: m, path: $0) }
        case "chown":
            guard !flagText.contains("R"), operands.count >= 2, operands.dropFirst().allSatisfy({ $0.hasPrefix("/") })
            else {
                return nil
            }
            let spec = operands[0].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(
                String.init)
            let user = spec[0].isEmpty ? nil : spec[0]
            let grp = spec.count == 2 && !spec[1].isEmpty ? spec[1] : nil
            return operands.dropFirst().map { .chown(owner: user, group: grp, path: $0) }
        default:
            return nil
        }
    }

    // MARK: - Tokenizing

    /// Removes `case` patterns (`configure)`, `abort-upgrade|abort-remove)`) from line starts, so
    /// their alternatives are not taken for commands.
    static func stripCasePatterns(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let t = line.drop(while: { $0 == " " || $0 == "\t" })
            guard let close = t.firstIndex(of: ")") else { return String(line) }
            let pattern = t[..<close]
            if !pattern.isEmpty, !pattern.contains(where: { " \t(=[".contains($0) }) {
                return String(t[t.index(after: close)...])
            }
            return String(line)
        }.joined(separator: "\n")
    }

    static func isLiteral(_ word: String) -> Bool {
        !word.isEmpty && !word.contains("$") && !word.contains("`") && !word.contains("*")
    }

    static func substitute(_ word: String, _ vars: [String: String]) -> String {
        guard word.contains("$") else { return word }
        var out = word
        for (k, v) in vars.sorted(by: { $0.key.count > $1.key.count }) {
            out = out.replacingOccurrences(of: "${\(k)}", with: v).replacingOccurrences(of: "$\(k)", with: v)
        }
        return out
    }

    /// One simple command and what ends it (`;`, `&&`, `||`, `|`, `&` or a newline).
    struct Command {
        var words: [String]
        var separator: String
    }

    /// The simple commands of a shell script (quotes removed, `$VAR` kept).
    static func commands(of text: String) -> [Command] {
        var commands: [Command] = []
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var chars = Array(text)
        chars.append("\n")
        var i = 0
        func endWord() {
            if inWord { words.append(word) }
            word = ""
            inWord = false
        }
        func endCommand(_ separator: String = "\n") {
            endWord()
            if !words.isEmpty { commands.append(Command(words: words, separator: separator)) }
            words = []
        }
        while i < chars.count {
            let c = chars[i]
            if let q = quote {
                if c == q {
                    quote = nil
                } else if c == "\\" && q == "\"" && i + 1 < chars.count {
                    i += 1
                    word.append(chars[i])
                } else {
                    word.append(c)
                }
                i += 1
                continue
            }
            switch c {
            case "'", "\"":
                quote = c
                inWord = true
            case "`":
                // A command substitution stays inside its word (its commands only compute a value).
                word.append(c)
                i += 1
                while i < chars.count && chars[i] != "`" {
                    word.append(chars[i])
                    i += 1
                }
                word.append("`")
                inWord = true
            case "$" where i + 1 < chars.count && (chars[i + 1] == "(" || chars[i + 1] == "{"):
                let open = chars[i + 1]
                let close: Character = open == "(" ? ")" : "}"
                var depth = 0
                var q: Character?
                while i < chars.count {
                    let d = chars[i]
                    word.append(d)
                    if let qq = q {
                        if d == qq { q = nil }
                    } else if d == "'" || d == "\"" {
                        q = d
                    } else if d == open {
                        depth += 1
                    } else if d == close {
                        depth -= 1
                        if depth == 0 { break }
                    }
                    i += 1
                }
                inWord = true
            case "\\":
                if i + 1 < chars.count {
                    i += 1
                    if chars[i] != "\n" {
                        word.append(chars[i])
                        inWord = true
                    }
                }
            case "#" where !inWord:
                while i < chars.count && chars[i] != "\n" { i += 1 }
                endCommand()
            case " ", "\t":
                endWord()
            case "\n", ";":
                endCommand(String(c))
            case "&", "|":
                if i + 1 < chars.count && chars[i + 1] == c {
                    i += 1
                    endCommand(String([c, c]))
                } else {
                    endCommand(String(c))
                }
            case "(" where !inWord, ")" where !inWord:
                endWord()
                words.append(String(c))
            case "<", ">":
                // Redirections: skip the operator and its target word.
                endWord()
                while i + 1 < chars.count && (chars[i + 1] == ">" || chars[i + 1] == "&" || chars[i + 1] == "<") {
                    i += 1
                }
                while i + 1 < chars.count && (chars[i + 1] == " " || chars[i + 1] == "\t") { i += 1 }
                while i + 1 < chars.count && !" \t\n;|&".contains(chars[i + 1]) { i += 1 }
            default:
                word.append(c)
                inWord = true
            }
            i += 1
        }
        endCommand()
        return commands
    }
}

extension ScriptAnalysis {
    mutating func add(_ action: MaintainerAction, guard g: Guard?) {
        actions.append(action)
        guards.append(g)
    }

    mutating func absorb(_ actions: [MaintainerAction]?, _ command: String, guard g: Guard? = nil) {
        if let actions {
            for a in actions { add(a, guard: g) }
        } else if !unreproduced.contains("\(command) (arguments not understood)") {
            unreproduced.append("\(command) (arguments not understood)")
        }
    }
}
