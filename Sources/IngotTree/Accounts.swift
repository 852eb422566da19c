// /etc/passwd and /etc/group as values: seeded with base-passwd's master files (Debian 12's
// defaults are built in, for closures that do not bring base-passwd), then extended the way
// `adduser --system`, `addgroup --system`, `useradd -r` and `groupadd -r` would have done it, with
// the same id ranges, so an appliance has the users its packages' maintainer scripts create.

import Foundation

/// The account databases of an image.
public struct Accounts: Sendable, Equatable {
    public struct User: Sendable, Equatable {
        public var name: String
        public var uid: UInt32
        public var gid: UInt32
        public var gecos: String
        public var home: String
        public var shell: String
    }

    public struct Group: Sendable, Equatable {
        public var name: String
        public var gid: UInt32
        public var members: [String]
    }

    /// How a tool picks a free id.
    public enum Allocation: Sendable {
        /// The lowest free id in the range (adduser/addgroup `--system`: 100–999).
        case lowest(ClosedRange<UInt32>)
        /// The highest free id in the range (useradd/groupadd `-r`: 101–999 from the top).
        case highest(ClosedRange<UInt32>)

        public static let adduser = Allocation.lowest(100...999)
        public static let useradd = Allocation.highest(101...999)
    }

    /// Why an account could not be added.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case exhausted(what: String, name: String)
        case unknownGroup(user: String, group: String)

        public var description: String {
            switch self {
            case .exhausted(let what, let name):
                return "no free system \(what) id is left for '\(name)'"
            case .unknownGroup(let user, let group):
                return "user '\(user)' names group '\(group)', which no package or script creates"
            }
        }
    }

    public var users: [User]
    public var groups: [Group]

    /// Debian 12's base-passwd 3.6.1 `passwd.master`.
    public static let debianPasswd = """
        root:*:0:0:root:/root:/bin/bash
        daemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        bin:*:2:2:bin:/bin:/usr/sbin/nologin
        sys:*:3:3:sys:/dev:/usr/sbin/nologin
        sync:*:4:65534:sync:/bin:/bin/sync
        games:*:5:60:games:/usr/games:/usr/sbin/nologin
        man:*:6:12:man:/var/cache/man:/usr/sbin/nologin
        lp:*:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
        mail:*:8:8:mail:/var/mail:/usr/sbin/nologin
        news:*:9:9:news:/var/spool/news:/usr/sbin/nologin
        uucp:*:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin
        proxy:*:13:13:proxy:/bin:/usr/sbin/nologin
        www-data:*:33:33:www-data:/var/www:/usr/sbin/nologin
        backup:*:34:34:backup:/var/backups:/usr/sbin/nologin
        list:*:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin
        irc:*:39:39:ircd:/run/ircd:/usr/sbin/nologin
        _apt:*:42:65534::/nonexistent:/usr/sbin/nologin
        nobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin

        """

    /// Debian 12's base-passwd 3.6.1 `group.master`.
    public static let debianGroup = """
        root:*:0:
        daemon:*:1:
        bin:*:2:
        sys:*:3:
        adm:*:4:
        tty:*:5:
        disk:*:6:
        lp:*:7:
        mail:*:8:
        news:*:9:
        uucp:*:10:
        man:*:12:
        proxy:*:13:
        kmem:*:15:
        dialout:*:20:
        fax:*:21:
        voice:*:22:
        cdrom:*:24:
        floppy:*:25:
        tape:*:26:
        sudo:*:27:
        audio:*:29:
        dip:*:30:
        www-data:*:33:
        backup:*:34:
        operator:*:37:
        list:*:38:
        irc:*:39:
        src:*:40:
        shadow:*:42:
        utmp:*:43:
        video:*:44:
        sasl:*:45:
        plugdev:*:46:
        staff:*:50:
        games:*:60:
        users:*:100:
        nogroup:*:65534:

        """

    /// Parses passwd and group files (malformed lines are skipped).
    public init(passwd: String = Accounts.debianPasswd, group: String = Accounts.debianGroup) {
        users = passwd.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 7, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return User(name: f[0], uid: uid, gid: gid, gecos: f[4], home: f[5], shell: f[6])
        }
        groups = group.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 4, let gid = UInt32(f[2]) else { return nil }
            return Group(name: f[0], gid: gid, members: f[3].split(separator: ",").map(String.init))
        }
    }

    /// The `/etc/passwd` text (password field `*`: no password login).
    public var passwdText: String {
        users.map { "\($0.name):*:\($0.uid):\($0.gid):\($0.gecos):\($0.home):\($0.shell)\n" }.joined()
    }

    /// The `/etc/group` text.
    public var groupText: String {
        groups.map { "\($0.name):*:\($0.gid):\($0.members.joined(separator: ","))\n" }.joined()
    }

    public func user(_ name: String) -> User? { users.first { $0.name == name } }
    public func group(_ name: String) -> Group? { groups.first { $0.name == name } }

    private func free(_ used: Set<UInt32>, _ allocation: Allocation) -> UInt32? {
        switch allocation {
        case .lowest(let r): return r.first { !used.contains($0) }
        case .highest(let r): return r.reversed().first { !used.contains($0) }
        }
    }

    /// Adds a group unless one of that name exists; returns its gid.
    @discardableResult
    public mutating func addGroup(_ name: String, gid: UInt32? = nil, allocation: Allocation = .adduser) throws
        -> UInt32
    {
        if let g = group(name) { return g.gid }
        let used = Set(groups.map(\.gid))
        guard let id = gid.flatMap({ used.contains($0) ? nil : $0 }) ?? free(used, allocation) else {
            throw Error.exhausted(what: "group", name: name)
        }
        groups.append(Group(name: name, gid: id, members: []))
        return id
    }

    /// Adds a system user unless one of that name exists.
    /// - Parameters:
    ///   - name: the login name.
    ///   - uid: a fixed uid, or nil to allocate one.
    ///   - group: the primary group's name; nil means `nogroup` unless `ownGroup`.
    ///   - ownGroup: create a group named after the user (adduser `--group`, useradd `-U`).
    ///   - home, shell, gecos: the passwd fields.
    ///   - allocation: the tool's id rule.
    public mutating func addUser(
        _ name: String, uid: UInt32? = nil, group: String? = nil, ownGroup: Bool = false, home: String = "/nonexistent",
        shell: String = "/usr/sbin/nologin", gecos: String = "", allocation: Allocation = .adduser
    ) throws {
        if user(name) != nil { return }
        let used = Set(users.map(\.uid))
        guard let id = uid.flatMap({ used.contains($0) ? nil : $0 }) ?? free(used, allocation) else {
            throw Error.exhausted(what: "user", name: name)
        }
        let gid: UInt32
        if ownGroup {
            // adduser --system --group uses the same number for the group when it is free.
            let taken = Set(groups.map(\.gid))
            gid = try addGroup(name, gid: taken.contains(id) ? nil : id, allocation: allocation)
        } else if let group {
            if let g = self.group(group) {
                gid = g.gid
            } else if let n = UInt32(group) {
                gid = n
            } else {
                throw Error.unknownGroup(user: name, group: group)
            }
        } else {
            gid = self.group("nogroup")?.gid ?? 65534
        }
        users.append(User(name: name, uid: id, gid: gid, gecos: gecos, home: home, shell: shell))
    }

    /// Adds `user` to the member list of `group` (both must exist).
    public mutating func addMember(_ user: String, to group: String) throws {
        guard let i = groups.firstIndex(where: { $0.name == group }) else {
            throw Error.unknownGroup(user: user, group: group)
        }
        if !groups[i].members.contains(user) { groups[i].members.append(user) }
    }
}
