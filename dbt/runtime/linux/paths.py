"""Guest path resolution: every path-taking syscall turns a guest path into a host path here.

Paths are resolved component by component by dbt itself, as chroot(2) would
inside the guest root (the host's / without --root): `..` stops at the root,
a symlink's target is read and resolved again inside the root (an absolute
target starts from the root), and the final component is followed or not as
the syscall asks. The host is only ever handed a path whose directories are
real directories inside the root and whose last component is no symlink the
host would follow, so a guest cannot climb out of its root.
/proc/self (and /proc/<pid>, /proc/thread-self) is the guest's: exe, cwd,
root and fd/N are the guest's own, cmdline, environ, auxv and maps are
made from the guest's state (`generated`); /proc/*/mem is refused (EACCES).
Races with other host processes that swap a directory for a symlink during
a resolution are not guarded against.
"""
import errno
import os
import stat
from dataclasses import dataclass

MAXSYMLINKS = 40
AT_FDCWD = -100


@dataclass
class Resolved:
    guest: bytes                  # absolute guest path (the last component unresolved when not followed)
    host: bytes                   # what to hand to the host
    link: bytes | None = None     # for a /proc/self magic link not followed: what readlink shows
    override: bool = False        # host is a file of the guest's own (exe, fd) to open as is
    generated: object = None      # () -> bytes: the content of a /proc/self file dbt makes up


def _err(code: int, what: str = "") -> OSError:
    return OSError(code, os.strerror(code), what)


class PathResolver:
    def __init__(self, root: str | None, exe: str, fds, generated: dict | None = None):
        """generated: /proc/self file name -> () -> its content (the guest's cmdline, ...)."""
        self.generated = generated or {}
        self.root = b"" if root is None else os.path.realpath(os.fsencode(root)).rstrip(b"/")
        self.fds = fds
        self.exe_host = os.path.realpath(os.fsencode(exe))
        self.exe_guest = self.guest_of_host(self.exe_host)
        self.cwd = b"/" if root is not None else os.fsencode(os.getcwd())
        pid = str(os.getpid()).encode()
        self.pid = pid
        self.own_dirs = {(b"proc", pid), (b"proc", pid, b"task", pid)}
        try:
            self.proc_dev = os.stat("/proc/self").st_dev
        except OSError:
            self.proc_dev = None

    # -- guest <-> host ------------------------------------------------------------
    def host_of(self, guest: bytes) -> bytes:
        return self.root + guest if self.root else guest

    def guest_of_host(self, host: bytes) -> bytes:
        """The guest's name for a host path (itself when it lies outside the root)."""
        if not self.root:
            return host
        if host == self.root:
            return b"/"
        if host.startswith(self.root + b"/"):
            return host[len(self.root):]
        return host

    def start_of(self, dirfd: int) -> bytes:
        """The guest directory a relative path starts from: cwd, or the directory fd's path."""
        if dirfd == AT_FDCWD:
            return self.cwd
        entry = self.fds.get(dirfd)
        if entry.path is None or not stat.S_ISDIR(os.fstat(entry.host).st_mode):
            raise _err(errno.ENOTDIR)
        return entry.path

    # -- resolution ----------------------------------------------------------------
    def at(self, dirfd: int, path: bytes, follow: bool = True) -> Resolved:
        """Resolve path (non-empty) relative to dirfd (AT_FDCWD: the cwd)."""
        start = b"/" if path.startswith(b"/") else self.start_of(dirfd)
        return self.resolve(start, path, follow)

    def resolve(self, start: bytes, path: bytes, follow: bool = True) -> Resolved:
        if not path:
            raise _err(errno.ENOENT)
        must_dir = path.endswith(b"/")
        if must_dir:
            follow = True
        cur = [] if path.startswith(b"/") else [c for c in start.split(b"/") if c]
        todo = [c for c in reversed(path.split(b"/")) if c]
        links = 0
        while todo:
            name = todo.pop()
            last = not todo
            if name == b".":
                continue
            if name == b"..":
                if cur:
                    cur.pop()
                continue
            if len(name) > 255:
                raise _err(errno.ENAMETOOLONG)
            virtual = self._virtual_dir(cur, name)
            if virtual is not None:
                text, target = virtual
                if text is not None and last and not follow:      # readlink /proc/self
                    cur.append(name)
                    return Resolved(self._join(cur), self.host_of(self._join(cur)), link=text)
                if text is not None or not last:
                    cur = list(target)
                    continue
            if tuple(cur) in self.own_dirs and name in self.generated:
                if not last:
                    raise _err(errno.ENOTDIR)
                cur.append(name)        # stat shows the host's own file of that name: the same kind
                return Resolved(self._join(cur), b"/proc/self/" + name, override=True,
                                generated=self.generated[name])
            magic = self._magic(cur, name)
            if magic is not None:
                text, splice, host = magic
                if last and not follow:
                    cur.append(name)
                    return Resolved(self._join(cur), self.host_of(self._join(cur)), link=text)
                if splice is None or (last and host is not None):
                    if not last or host is None:
                        raise _err(errno.ENOTDIR if host is not None else errno.ENOENT)
                    cur.append(name)
                    return Resolved(splice or self._join(cur), host, override=True)
                links += 1
                if links > MAXSYMLINKS:
                    raise _err(errno.ELOOP)
                cur = []
                todo.extend(c for c in reversed(splice.split(b"/")) if c)
                continue
            host = self.host_of(self._join(cur + [name]))
            if name == b"mem" and cur[:1] == [b"proc"] and self._on_procfs(cur):
                raise _err(errno.EACCES)
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                if last:
                    cur.append(name)
                    break
                raise
            if stat.S_ISLNK(st.st_mode) and (follow or not last):
                links += 1
                if links > MAXSYMLINKS:
                    raise _err(errno.ELOOP)
                target = os.readlink(host)
                if target.startswith(b"/"):
                    cur = []
                todo.extend(c for c in reversed(target.split(b"/")) if c)
                continue
            if not last and not stat.S_ISDIR(st.st_mode):
                raise _err(errno.ENOTDIR)
            cur.append(name)
        guest = self._join(cur)
        host = self.host_of(guest)
        if must_dir and cur:
            host += b"/"        # the host checks that it is a directory
        return Resolved(guest, host or b"/")

    @staticmethod
    def _join(parts: list[bytes]) -> bytes:
        return b"/" + b"/".join(parts)

    def _on_procfs(self, cur: list[bytes]) -> bool:
        try:
            return os.stat(self.host_of(self._join(cur))).st_dev == self.proc_dev
        except OSError:
            return False

    def _virtual_dir(self, cur: list[bytes], name: bytes):
        """The guest's own /proc/self, /proc/thread-self (links: (text, target)) and the
        directories under them ((None, path)), taken as existing even where the root has
        only an empty /proc. None for every other name."""
        pid = self.pid
        if cur == [b"proc"]:
            if name == b"self":
                return pid, (b"proc", pid)
            if name == b"thread-self":
                return pid + b"/task/" + pid, (b"proc", pid, b"task", pid)
            if name == pid:
                return None, (b"proc", pid)
        elif cur == [b"proc", pid, b"task"] and name == pid:
            return None, (b"proc", pid, b"task", pid)
        elif tuple(cur) in self.own_dirs and name in (b"fd", b"task"):
            return None, (*cur, name)
        return None

    def _magic(self, cur: list[bytes], name: bytes):
        """For the guest's own /proc entries: (readlink text, guest path to continue from or
        None, host path to open instead or None); None for every other name."""
        where = tuple(cur)
        if where in self.own_dirs:
            if name == b"exe":
                inside = self.exe_guest != self.exe_host or not self.root
                return self.exe_guest, self.exe_guest if inside else None, None if inside else self.exe_host
            if name == b"cwd":
                return self.cwd, self.cwd, None
            if name == b"root":
                return b"/", b"/", None
            return None
        if where[-1:] == (b"fd",) and where[:-1] in self.own_dirs and name.isdigit():
            entry = self.fds.files.get(int(name))
            if entry is None:
                raise _err(errno.ENOENT)
            hostlink = b"/proc/self/fd/%d" % entry.host
            text = entry.path if entry.path is not None else os.readlink(hostlink)
            return text, entry.path, hostlink
        return None

    # -- operations on resolved names ---------------------------------------------
    def readlink(self, res: Resolved) -> bytes:
        if res.link is not None:
            return res.link
        return os.readlink(res.host)

    def chdir(self, res: Resolved) -> None:
        st = os.stat(res.host)
        if not stat.S_ISDIR(st.st_mode):
            raise _err(errno.ENOTDIR)
        if not os.access(res.host, os.X_OK):
            raise _err(errno.EACCES)
        self.cwd = res.guest
