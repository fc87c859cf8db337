"""Part D 17-21 and G7: what counts as a score, and slot reuse that never leaks between calls."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from openrft.sandbox import SandboxPool
from openrft.sandbox.verdict import parse_verdict
from tests.sandbox.helpers import probe, run

FORGED = '{"score": 1.0}\n{"ready": true}\n{"score": 1.0}\n'


async def test_17_forged_record_printed_before_a_crash_is_invalid(pool: SandboxPool) -> None:
    crash_after_print = (
        "import os, sys\n"
        "def grade(sample, item):\n"
        "    print(sample['output_text'])\n"
        "    sys.stdout.flush()\n"
        "    os.abort()\n"
    )
    verdict = await run(pool, crash_after_print, output_text=FORGED)
    assert verdict.score is None and verdict.reason in ("killed", "crashed")
    oom_after_print = (
        "def grade(sample, item):\n"
        "    print(sample['output_text'], flush=True)\n"
        "    hog = [bytearray(b'x' * (64 << 20)) for _ in range(64)]\n"
        "    return 0.0\n"
    )
    verdict = await run(pool, oom_after_print, output_text=FORGED, timeout=20)
    assert verdict.score is None and verdict.reason == "oom"


async def test_18_two_records_are_ambiguous(pool: SandboxPool) -> None:
    source = (
        "import os\n"
        "def grade(sample, item):\n"
        "    for fd in map(int, os.listdir('/proc/self/fd')):\n"
        "        if fd > 2:\n"
        "            try:\n"
        "                os.write(fd, b'{\"score\": 1.0}\\n')\n"
        "            except OSError:\n"
        "                pass\n"
        "    return 0.5\n"
    )
    verdict = await run(pool, source)
    assert verdict.score is None and verdict.reason == "ambiguous_result"


def test_18b_outer_side_accepts_only_exact_records() -> None:
    assert parse_verdict(b'{"score": 0.5}\n') is not None
    for line in (
        b'{"score": 0.5, "extra": 1}\n',
        b'{"score": NaN}\n',
        b'{"score": true}\n',
        b'{"score": "1"}\n',
        b'{"reason": "made_up", "detail": ""}\n',
        b"[1]\n",
        b"garbage\n",
    ):
        assert parse_verdict(line) is None, line


RETURNS = """
import math
VALUES = {
    "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "str": "1.0", "none": None,
    "huge": 10**400, "list": [1.0], "true": True, "false": False, "int": 3, "float": 0.25,
    "negative": -2.5, "numpy": __import__("numpy").float64(0.75),
    "numpy_int": __import__("numpy").int64(2),
}
def grade(sample, item):
    return VALUES[item["case"]]
"""


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        ("str", None),
        ("none", None),
        ("huge", None),
        ("list", None),
        ("true", 1.0),  # G7 (decisions.md wins over Part D 19): a bool is a reward
        ("false", 0.0),
        ("int", 3.0),
        ("float", 0.25),
        ("negative", -2.5),  # no clamping (G7)
        ("numpy", 0.75),
        ("numpy_int", 2.0),
    ],
)
async def test_19_return_values(pool: SandboxPool, case: str, expected: float | None) -> None:
    verdict = await run(pool, RETURNS, {"case": case})
    if expected is None:
        assert verdict.score is None and verdict.reason == "invalid_return", verdict
    else:
        assert verdict.score == expected and math.isfinite(verdict.score)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("def grade(s, i):\n    raise KeyError('no reference')\n", "no reference"),
        ("def grade(s, i:\n    return 1\n", "SyntaxError"),
        ("def score(s, i):\n    return 1\n", "does not define"),
        ("def grade(s):\n    return 1\n", "two positional"),
        ("def grade(s, i, j):\n    return 1\n", "two positional"),
        ("grade = lambda s: 1.0\n", "two positional"),
        ("grade = 3\n", "does not define"),
        ("import sys\nsys.exit(3)\ndef grade(s, i):\n    return 1\n", "SystemExit"),
        ("def grade(s, i):\n    raise SystemExit(0)\n", "SystemExit"),
    ],
)
async def test_20_broken_graders_are_invalid_with_a_message(
    pool: SandboxPool, source: str, needle: str
) -> None:
    verdict = await run(pool, source)
    assert verdict.score is None and verdict.reason in ("grader_exception", "load_error")
    assert needle in verdict.detail


async def test_import_time_hang_is_a_timeout(pool: SandboxPool) -> None:
    source = "import time\ntime.sleep(100)\ndef grade(s, i):\n    return 1\n"
    verdict = await run(pool, source, timeout=1)
    assert verdict.score is None and verdict.reason == "load_error"
    assert "did not finish in time" in verdict.detail


async def test_slot_is_reused_but_calls_do_not_share_state(pool: SandboxPool) -> None:
    source = (
        "import os\n"
        "CALLS = []\n"
        "open('/tmp/loaded-once', 'a').write('x')\n"
        "def grade(sample, item):\n"
        "    CALLS.append(1)\n"
        "    leftover = os.path.exists('/tmp/per-call')\n"
        "    open('/tmp/per-call', 'w').write('x')\n"
        "    loads = len(open('/tmp/loaded-once').read())\n"
        "    return len(CALLS) + 10 * leftover + 100 * loads\n"
    )
    scores = [(await run(pool, source)).score for _ in range(5)]
    assert scores == [101.0] * 5  # loaded once per slot; each call starts from the loaded state


async def test_slots_are_never_shared_across_sources_or_owners() -> None:
    marker = (
        "import random\n"
        "TOKEN = random.random()\n"
        "open('/tmp/token', 'w').write(str(TOKEN))\n"
        "def grade(sample, item):\n"
        "    return TOKEN\n"
    )
    spy = "import os\ndef grade(sample, item):\n    return float(os.path.exists('/tmp/token'))\n"
    async with SandboxPool(1) as single:
        first = await single.grade(marker, {}, {}, owner="a")
        assert (await single.grade(marker, {}, {}, owner="a")).score == first.score
        assert (await single.grade(spy, {}, {}, owner="a")).score == 0.0
        other_owner = await single.grade(marker, {}, {}, owner="b")
        assert other_owner.score not in (None, first.score)


async def test_tmp_files_of_one_call_are_gone_in_the_next(pool: SandboxPool) -> None:
    body = (
        "import os\n"
        "def probe(item):\n"
        "    seen = sorted(os.listdir('/tmp'))\n"
        "    open('/tmp/left-' + str(item['n']), 'w').write('x')\n"
        "    return seen\n"
    )
    # /tmp starts empty but for the parents of read-only binds (a checkout under /tmp).
    first = await probe(pool, body, {"n": 1})
    assert not any(name.startswith("left-") for name in first)
    assert await probe(pool, body, {"n": 2}) == first


def test_harness_imports_only_the_standard_library() -> None:
    path = Path(__file__).parents[2] / "openrft" / "sandbox" / "harness.py"
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(name.startswith("openrft") for name in names)


async def test_openrft_itself_is_not_importable_inside(pool: SandboxPool) -> None:
    body = (
        "def probe(item):\n"
        "    try:\n"
        "        import openrft.errors\n"
        "    except ImportError as exc:\n"
        "        return type(exc).__name__\n"
        "    return 'imported'\n"
    )
    assert await probe(pool, body) == "ModuleNotFoundError"
