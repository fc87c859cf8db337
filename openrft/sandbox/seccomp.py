"""The seccomp filter every sandboxed grader runs under (spec C3 "Syscalls").

The default action is ALLOW; the listed syscalls fail with EPERM (not KILL) so a grader sees an
ordinary `PermissionError` and the failure is reportable. Sockets are denied with the allow-style
rule `family != AF_UNIX`: a rule `family == AF_INET` is bypassed by setting high bits in the
64-bit argument (trap 6). Syscalls of other architectures (i386 `int 0x80`, x32) hit libseccomp's
bad-arch action, which kills the process. The filter is compiled once per process to classic BPF
and handed to bwrap (`--seccomp FD`) or, in tier 3, to the harness, which loads it itself.
"""

from __future__ import annotations

import errno
import functools
import os
import socket

#: Syscalls that fail with EPERM: namespaces and mounts, tracing other processes, kernel
#: attack surface a grader never needs (bpf, io_uring, userfaultfd, keyrings, modules, kexec).
DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "fsopen",
    "fsmount",
    "fsconfig",
    "move_mount",
    "open_tree",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
)
#: clone() flags that create namespaces (clone's first argument on x86_64 and arm64).
CLONE_NAMESPACE_FLAGS = (
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00020000,  # CLONE_NEWNS
    0x08000000,  # CLONE_NEWIPC
    0x04000000,  # CLONE_NEWUTS
    0x02000000,  # CLONE_NEWCGROUP
)
TIOCSTI = 0x5412
TIOCLINUX = 0x541C


@functools.cache
def filter_bpf() -> bytes:
    """The compiled filter (classic BPF, native architecture)."""
    import pyseccomp as sc  # imported lazily: it loads libseccomp through ctypes

    eperm = sc.ERRNO(errno.EPERM)
    rules = sc.SyscallFilter(sc.ALLOW)
    rules.add_rule(eperm, "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
    for name in DENIED:
        rules.add_rule(eperm, name)
    for flag in CLONE_NAMESPACE_FLAGS:
        rules.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for request in (TIOCSTI, TIOCLINUX):
        rules.add_rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
    fd = os.memfd_create("openrft-seccomp")
    try:
        with open(fd, "rb", closefd=False) as handle:
            rules.export_bpf(handle)
        os.lseek(fd, 0, os.SEEK_SET)
        return _read_all(fd)
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def filter_pipe() -> int:
    """A pipe read end holding the filter, for `bwrap --seccomp FD` (the caller closes it)."""
    return data_pipe(filter_bpf())


def data_pipe(data: bytes) -> int:
    """A pipe read end from which `data` can be read to EOF; `data` must fit the pipe buffer."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
    finally:
        os.close(write_end)
    return read_end
