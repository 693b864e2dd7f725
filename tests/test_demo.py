"""examples/README.md lists exactly what `make demo` reports."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "examples" / "README.md"


def demo_commands() -> list[list[str]]:
    """The `torchpit ...` command lines of the Makefile's demo recipe."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*?\n((?:\t.*\n)+)", text, re.M).group(1)
    return [shlex.split(line.split("$(DEMO)", 1)[1]) for line in recipe.splitlines() if "$(DEMO)" in line]


def section(name: str) -> str:
    text = README.read_text()
    return text.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]


def table_rows() -> list[tuple[str, str, str, str, str]]:
    rows = []
    for line in section("demo-findings").strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0].strip("`"), cells[1], cells[2], cells[3], cells[4]))
    return rows


def run(cmd: list[str], args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_demo_runs_the_three_documented_commands():
    assert demo_commands() == [
        ["check", "examples/", "--no-cache", "--exit-zero"],
        ["check", "examples/", "--statistics", "--no-cache", "--exit-zero"],
        ["check", "examples/", "--diff", "--no-cache", "--exit-zero"],
    ]


def test_readme_lists_exactly_what_the_demo_reports(torchpit_cmd):
    check, statistics, diff = demo_commands()
    out = run(torchpit_cmd, check)
    assert out.returncode == 0, out.stderr
    # the full format: a "CODE ..." header, then " --> file:line:col" (file:cell N:line:col in a notebook)
    found = []
    for block in out.stdout.split("\n\n"):
        m = re.search(r"^(PIT\d{3})\b.*?\n\s*--> examples/(\S+?):(?:cell (\d+):)?(\d+):\d+$", block, re.S | re.M)
        if m:
            where = f"cell {m.group(3)}, line {m.group(4)}" if m.group(3) else m.group(4)
            found.append((m.group(2), where, m.group(1)))
    data = json.loads(run(torchpit_cmd, [*check, "--output-format", "json"]).stdout)
    details = [(d["severity"], "yes" if d["fix"] and d["fix"]["applicability"] == "safe" else "no") for d in data]
    assert [(*f, *d) for f, d in zip(found, details)] == table_rows()
    assert len(found) == len(data)

    stats = run(torchpit_cmd, statistics)
    documented = section("demo-statistics").strip().removeprefix("```text").removesuffix("```").strip("\n")
    assert stats.stdout.rstrip("\n") == documented
    assert out.stdout.rstrip("\n").endswith("\n".join(documented.splitlines()[-3:]))  # the same summary

    changes = run(torchpit_cmd, diff)
    fixed = re.search(r"ends with `(Would fix \d+ findings\.)`", README.read_text()).group(1)
    assert changes.stderr.strip() == fixed
    assert f"shows the {fixed.split()[2]} safe fixes" in README.read_text()
