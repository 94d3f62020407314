"""The test server answers the golden scenarios exactly as the real Zep servers did.

For each generation a fresh server runs the recorded scenario script (in a subprocess, as a
user would run it) and every step is compared with the real server's transcript under the rules
of ``golden/compare_wire.py``: same status, same normalised JSON body (plain-text bodies by
status only), same listed user ids and ``X-Zep-Version`` presence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the test server needs the server extra")

from zep_memory_plugins.testing import ZepTestServer

GOLDEN = Path(__file__).parent / "golden"

CASES = [
    pytest.param("v1", "zep_v1_wire.py", "zep-0.27.2-v1-wire.jsonl", 96, id="v1-zep-0.27.2"),
    pytest.param("v2", "zep_v2_wire.py", "zep-ce-1.0.2-v2-wire.jsonl", 117, id="v2-zep-ce-1.0.2"),
]


def load(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def same_step(real: dict[str, Any], ours: dict[str, Any] | None) -> bool:
    """``compare_wire.py``'s rule for one step."""
    if ours is None or real.get("status") != ours.get("status"):
        return False
    for key in ("user_ids", "has_version_header"):
        if key in real and real[key] != ours.get(key):
            return False
    return not (isinstance(real.get("body"), (dict, list)) and real["body"] != ours.get("body"))


def run_scenario(server: ZepTestServer, script: str) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in ("ZEP_API_KEY", "ZEP_API_URL")}
    if server.api_key:
        env["ZEP_API_KEY"] = server.api_key
    done = subprocess.run(
        [sys.executable, str(GOLDEN / script), server.url, "wgolden1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return load(done.stdout)


@pytest.mark.parametrize(("api", "script", "transcript", "steps"), CASES)
def test_every_step_matches_the_real_server(
    api: str, script: str, transcript: str, steps: int
) -> None:
    real = load((GOLDEN / transcript).read_text())
    assert len(real) == steps  # the golden file is whole
    with ZepTestServer(api=api) as server:  # type: ignore[arg-type]
        ours = {r["step"]: r for r in run_scenario(server, script)}
    differing = [
        f"{r['step']}\n  real: {json.dumps(r)[:600]}\n  ours: {json.dumps(ours.get(r['step']))[:600]}"  # noqa: E501
        for r in real
        if not same_step(r, ours.get(r["step"]))
    ]
    matched = steps - len(differing)
    assert not differing, f"{matched}/{steps} steps match; differing:\n" + "\n".join(differing)


def test_the_comparison_catches_a_difference() -> None:
    """The rule is not vacuous: a changed status, body or user list is a difference."""
    real = {"step": "s", "status": 200, "body": {"a": 1}}
    assert same_step(real, dict(real))
    assert not same_step(real, {**real, "status": 201})
    assert not same_step(real, {**real, "body": {"a": 2}})
    assert not same_step(real, None)
    assert not same_step({"step": "l", "status": 200, "user_ids": ["a"]}, {"status": 200})
    # plain-text error bodies are compared by status only (their wording is the server's)
    assert same_step({"status": 404, "body": "not found"}, {"status": 404, "body": "gone"})


def test_the_vendored_compare_script_agrees(tmp_path: Path) -> None:
    """``compare_wire.py`` on the v2 transcript and our own run: all steps match, exit 0."""
    with ZepTestServer(api="v2") as server:
        ours = run_scenario(server, "zep_v2_wire.py")
    path = tmp_path / "ours.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ours))
    done = subprocess.run(
        [
            sys.executable,
            str(GOLDEN / "compare_wire.py"),
            str(GOLDEN / "zep-ce-1.0.2-v2-wire.jsonl"),
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    assert "117/117 steps match" in done.stdout
