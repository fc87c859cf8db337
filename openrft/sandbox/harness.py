"""The in-sandbox side of a grading slot: a zygote that loads one grader and forks per call.

Runs as `python3 -I harness.py RESULT_FD [--seccomp-fd N] [--reap-group] [--keep-tmp]`, as the
slot's unprivileged uid, and imports only the standard library (never openrft). Protocol, one
JSON object per line:

    stdin  1st line  {"source": str, "timeout": float}
    stdin  then      {"sample": ..., "item": ..., "timeout": float}   (one per grading call)
    result fd        {"hello": true}, then {"ready": true} or a verdict, then one verdict per call
    verdict          {"score": float} | {"reason": str, "detail": str}

The source is executed once, here; each call runs in a fresh forked child, so nothing a call
does (globals, files in /tmp, stray processes) survives into the next one. The child writes its
record into a private pipe; this process accepts it only if the child exited 0 with exactly one
record, so a grader that prints a forged record and then crashes earns nothing (trap 7).
"""

import ctypes
import gc
import inspect
import json
import linecache
import math
import numbers
import os
import resource
import select
import shutil
import signal
import sys
import time
import traceback

RECORD_CAP = 65536
DETAIL_CAP = 4000
GRACE = 0.5
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP = 1, 4, 22
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38
SIGNAL_REASONS = {int(signal.SIGALRM): "timeout", int(signal.SIGXCPU): "cpu_limit"}


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def main(argv):
    out = int(argv[1])
    options = argv[2:]
    seccomp_fd = (
        int(options[options.index("--seccomp-fd") + 1]) if "--seccomp-fd" in options else -1
    )
    reap_all = "--reap-group" not in options
    close_fds_except({0, 1, 2, out, seccomp_fd})
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # Not dumpable: a forked grader cannot open this process's /proc/<pid>/mem.
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if reap_all:  # orphans of a call come back to us, to be killed and reaped
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if seccomp_fd >= 0:
        load_seccomp(libc, seccomp_fd)
    send(out, {"hello": True})
    stdin = sys.stdin.buffer
    sys.stdin = open(os.devnull)  # noqa: SIM115 -- grader code must not eat our requests
    setup = json.loads(stdin.readline())
    grade, error = load(setup["source"], setup["timeout"])
    if grade is None:
        send(out, {"reason": "load_error", "detail": error})
        return
    baseline = None if "--keep-tmp" in options else set(os.listdir("/tmp"))
    send(out, {"ready": True})
    gc.freeze()  # the children share the loaded pages instead of copying them on first GC
    while line := stdin.readline():
        request = json.loads(line)
        send(out, run_call(grade, request, out, reap_all))
        if baseline is not None:
            clean_tmp(baseline)


def close_fds_except(keep):
    previous = 3
    for fd in sorted(fd for fd in keep if fd >= 3):
        os.closerange(previous, fd)
        previous = fd + 1
    os.closerange(previous, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def load_seccomp(libc, fd):
    """Tier 3 only (bwrap loads it otherwise): install the filter before any grader code runs."""
    program = b""
    while chunk := os.read(fd, 65536):
        program += chunk
    os.close(fd)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if libc.prctl(PR_SET_SECCOMP, 2, ctypes.addressof(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP failed")


def send(fd, record):
    data = json.dumps(record).encode() + b"\n"
    while data:
        data = data[os.write(fd, data) :]


def load(source, timeout):
    """Execute the source once; returns (grade, None) or (None, reason)."""
    linecache.cache["<grader>"] = (len(source), None, source.splitlines(True), "<grader>")
    namespace = {"__name__": "grader", "__builtins__": __builtins__}
    signal.signal(signal.SIGALRM, loading_timed_out)
    signal.alarm(max(1, math.ceil(timeout)))  # the pool's deadline backs this up
    try:
        exec(compile(source, "<grader>", "exec"), namespace)
    except BaseException as exc:
        return None, describe(exc)
    finally:
        signal.alarm(0)
        if signal.getsignal(signal.SIGALRM) is loading_timed_out:  # the grader's own stays
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # so a call's alarm ends its child
    grade = namespace.get("grade")
    if not callable(grade):
        return None, "the source does not define a function grade(sample, item)"
    problem = arity_problem(grade)
    return (None, problem) if problem else (grade, None)


def loading_timed_out(signum, frame):
    raise TimeoutError("the grader's module-level code did not finish in time")


def arity_problem(grade):
    try:
        parameters = inspect.signature(grade).parameters.values()
    except (TypeError, ValueError):
        return None  # a builtin without a signature: let the call decide
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required_kw = [p for p in parameters if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    varargs = [p for p in parameters if p.kind == p.VAR_POSITIONAL]
    if len(positional) != 2 or required_kw or varargs:
        return "grade must take exactly two positional parameters: grade(sample, item)"
    return None


def describe(exc):
    try:
        text = "".join(traceback.format_exception(exc))
    except BaseException:
        text = type(exc).__name__
    return text[-DETAIL_CAP:]


def run_call(grade, request, out, reap_all):
    timeout = float(request["timeout"])
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        child(grade, request, timeout, write_end, out, read_end)
    os.close(write_end)
    status, data, problem = watch(pid, read_end, timeout)
    reap(pid, reap_all)
    data += drain(read_end)
    os.close(read_end)
    return verdict(status, data, problem)


def child(grade, request, timeout, write_end, out, read_end):
    """The forked grading process: never returns."""
    code = 1
    try:
        os.close(out)
        os.close(read_end)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.setpgid(0, 0)
        cpu = math.ceil(timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        signal.alarm(max(1, math.ceil(timeout)))
        try:
            record = score(grade(request["sample"], request["item"]))
        except BaseException as exc:
            record = {"reason": "grader_exception", "detail": describe(exc)}
        sys.stdout.flush()
        sys.stderr.flush()
        send(write_end, record)
        code = 0
    finally:
        os._exit(code)


def score(value):
    """G7: a finite int, float or bool is the reward; anything else is invalid."""
    if isinstance(value, bool | numbers.Real):
        try:
            reward = float(value)
        except (OverflowError, ValueError, TypeError):
            return {"reason": "invalid_return", "detail": "grade returned a number too large"}
        if math.isfinite(reward):
            return {"score": reward}
        return {"reason": "invalid_return", "detail": f"grade returned {reward!r}"}
    kind = type(value).__name__
    return {"reason": "invalid_return", "detail": f"grade returned {kind}, not a number"}


def watch(pid, read_end, timeout):
    """Collect the child's record until it exits; kill it at the deadline or the size cap."""
    pidfd = os.pidfd_open(pid)
    deadline = time.monotonic() + timeout + GRACE
    data, problem, reading = b"", None, True
    try:
        while problem is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                problem = "timeout"
                break
            watched = [pidfd, read_end] if reading else [pidfd]
            ready = select.select(watched, [], [], remaining)[0]
            if read_end in ready:
                chunk = os.read(read_end, 65536)
                reading = bool(chunk)
                data += chunk
                if len(data) > RECORD_CAP:
                    problem = "output_too_large"
            if pidfd in ready:
                break
        if problem is not None:
            os.kill(pid, signal.SIGKILL)
        return os.waitpid(pid, 0)[1], data, problem
    finally:
        os.close(pidfd)


def reap(pid, reap_all):
    """Kill whatever the call left behind (daemons, fork bombs) and reap it."""
    for _ in range(3):
        try:
            if reap_all:
                os.kill(-1, signal.SIGKILL)  # every process of our uid in this namespace but us
            else:
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            while True:
                os.waitpid(-1, 0)
        except ChildProcessError:
            pass


def drain(read_end):
    os.set_blocking(read_end, False)
    try:
        return os.read(read_end, RECORD_CAP + 1)
    except BlockingIOError:
        return b""


def verdict(status, data, problem):
    if problem is not None:
        return {"reason": problem, "detail": f"the grader was stopped ({problem})"}
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        reason = SIGNAL_REASONS.get(number, "killed")
        return {
            "reason": reason,
            "detail": f"the grader was killed by {signal.Signals(number).name}",
        }
    if os.waitstatus_to_exitcode(status) != 0 or data.count(b"\n") != 1:
        if data.count(b"\n") > 1:
            return {"reason": "ambiguous_result", "detail": "more than one result record"}
        code = os.waitstatus_to_exitcode(status)
        return {"reason": "crashed", "detail": f"the grader exited with status {code}"}
    try:
        record = json.loads(data)
    except ValueError:
        return {"reason": "ambiguous_result", "detail": "an unreadable result record"}
    return record if isinstance(record, dict) else {"reason": "ambiguous_result", "detail": ""}


def clean_tmp(baseline):
    for name in os.listdir("/tmp"):
        if name in baseline:
            continue
        path = os.path.join("/tmp", name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass


if __name__ == "__main__":
    main(sys.argv)
