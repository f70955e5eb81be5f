"""The OS isolation a custom-strategy child puts itself in before it reads any user source.

Loaded by `sandbox_child.py` (by path: under `python -I` nothing of the project is importable),
so it uses the standard library only. `lock_down()` is irreversible and, in this order:

1. drops root: when the child runs as root it becomes `nobody` (no supplementary groups), so the
   kernel's own permission checks apply — no /etc/shadow, no /proc/<service>/environ, no
   signals to the service, and RLIMIT_NPROC is enforced;
2. sets rlimits: CPU seconds, address space, no core files, RLIMIT_FSIZE 0, no new
   descriptors, no new processes or threads (RLIMIT_NPROC 0);
3. asks for SIGKILL when the parent dies (`PR_SET_PDEATHSIG`), sets `PR_SET_NO_NEW_PRIVS`, and
4. loads a seccomp filter (libseccomp, through ctypes) that allows only what a running
   interpreter computing on numpy arrays needs — read/write on the descriptors it already has,
   memory management, signals, clocks, exit — and answers every other system call with EPERM:
   no open, stat, unlink, rename or truncate of any path, no socket of any family, no fork,
   clone, exec, kill, ptrace or rlimit change. Calls of a foreign ABI (i386 on x86-64) kill the
   process. The filter is kernel-enforced, so the real `os`, `ctypes` or raw `syscall()` reach
   nothing more than the allow-list.

If any step fails the child must not run user code: `lock_down` raises `JailError` and the
child exits. Not built: mount, network or PID namespaces and cgroups (the filter already denies
every path, socket and process call; memory and CPU are per-process rlimits, which cover the
whole tree because there can be no second process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import pwd
import resource
import signal

# Everything a locked-down child may call. Found by running the strategy protocol and the
# numpy work the tests exercise; anything missing shows up as an OSError/EPERM in user code,
# never as a hole.
ALLOWED_SYSCALLS = (
    # its pipes and /dev/null, already open
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "fcntl",
    # memory
    "mmap", "munmap", "mremap", "mprotect", "brk", "madvise",
    # signals and threads' primitives (no thread can be created: NPROC is 0)
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "futex", "sched_yield",
    # clocks and identity (read-only, about itself)
    "clock_gettime", "clock_getres", "gettimeofday", "time", "clock_nanosleep", "nanosleep",
    "getrusage", "times", "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid",
    "getrandom",
    "exit", "exit_group",
)
NOBODY = "nobody"
LIBSECCOMP = "libseccomp.so.2"  # Debian's libseccomp2, which apt itself depends on
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_FLTATR_ACT_BADARCH = 2


def SCMP_ACT_ERRNO(code: int) -> int:  # the libseccomp macro's name
    return 0x00050000 | (code & 0x0000FFFF)


class JailError(RuntimeError):
    """The child could not isolate itself; it must not run the user's code."""


def lock_down(cpu_s: int, mem_bytes: int) -> None:
    """Isolate this process for good (see the module docstring). Call after every import."""
    libc = ctypes.CDLL(None, use_errno=True)
    seccomp = _load_libseccomp()
    highest_fd = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    _drop_root()
    _set_limits(cpu_s, mem_bytes, highest_fd)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:  # no /proc/<pid>/mem for other nobodies
        raise JailError(f"prctl(PR_SET_DUMPABLE) failed: {os.strerror(ctypes.get_errno())}")
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise JailError(f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    if os.getppid() == 1:  # the parent died before we could ask
        os._exit(1)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise JailError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
    _load_filter(seccomp)


def _load_libseccomp() -> ctypes.CDLL:
    path = ctypes.util.find_library("seccomp") or LIBSECCOMP
    try:
        lib = ctypes.CDLL(path, use_errno=True)
    except OSError as exc:
        raise JailError(f"libseccomp is not available ({exc}); install libseccomp2") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                     ctypes.c_uint]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def _drop_root() -> None:
    if os.geteuid() != 0:
        return  # already unprivileged: the filter and limits below still apply
    try:
        nobody = pwd.getpwnam(NOBODY)
        uid, gid = nobody.pw_uid, nobody.pw_gid
    except KeyError:
        uid = gid = 65534
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if 0 in (os.getuid(), os.geteuid(), os.getgid(), os.getegid()):
        raise JailError("could not drop root privileges")


def _set_limits(cpu_s: int, mem_bytes: int, highest_fd: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    # No new descriptor numbers: the filter denies every call that makes one anyway.
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest_fd + 1, highest_fd + 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _load_filter(lib: ctypes.CDLL) -> None:
    ctx = lib.seccomp_init(SCMP_ACT_ERRNO(errno.EPERM))
    if not ctx:
        raise JailError("seccomp_init failed")
    try:
        if lib.seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0:
            raise JailError("seccomp_attr_set(ACT_BADARCH) failed")
        for name in ALLOWED_SYSCALLS:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue  # not a call on this architecture (e.g. `time` on arm64)
            rc = lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)
            if rc != 0:
                raise JailError(f"seccomp_rule_add({name}) failed: {os.strerror(-rc)}")
        rc = lib.seccomp_load(ctx)
        if rc != 0:
            raise JailError(f"seccomp_load failed: {os.strerror(-rc)}")
    finally:
        lib.seccomp_release(ctx)
