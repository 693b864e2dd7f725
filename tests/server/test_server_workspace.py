"""Workspace diagnostics (``torchpit.diagnosticMode: "workspace"``) over a real server: every
Python file of the folder through ``workspace/diagnostic``, result ids, the batch mode's cache."""

from __future__ import annotations

import json
import subprocess
import sys

from lsprotocol import types

from .conftest import PIT101_SRC, PIT301_SRC, codes, open_doc, uri_of


def make_project(root):
    (root / "sub").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.torchpit]\nexclude = ["skipped.py"]\n')
    (root / "a.py").write_text(PIT101_SRC)
    (root / "b.py").write_text("x = 1\n")
    (root / "sub" / "c.py").write_text(PIT301_SRC)
    (root / "skipped.py").write_text(PIT101_SRC)
    (root / "nb.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (root / "open.py").write_text(PIT101_SRC)


def by_uri(report):
    return {item.uri: item for item in report.items}


async def pull_workspace(client, previous=None):
    ids = [types.PreviousResultId(uri=u, value=v) for u, v in (previous or {}).items()]
    return await client.workspace_diagnostic_async(types.WorkspaceDiagnosticParams(previous_result_ids=ids))


async def test_workspace_mode_reports_every_file_with_result_ids(start, tmp_path):
    root = tmp_path / "proj"
    make_project(root)
    cache = tmp_path / "cache"
    client = await start(pull=True, init_options={"diagnosticMode": "workspace"}, folders=[root], env={"TORCHPIT_CACHE_DIR": str(cache)})
    open_doc(client, root / "open.py", PIT101_SRC)

    items = by_uri(await pull_workspace(client))
    a, b, c = uri_of(root / "a.py"), uri_of(root / "b.py"), uri_of(root / "sub" / "c.py")
    assert set(items) == {a, b, c}  # not the excluded file, the notebook or the open document
    assert codes(items[a].items) == ["PIT101"] and not items[b].items and codes(items[c].items) == ["PIT301"]
    assert items[a].items[0].range.start == types.Position(5, 27) and items[a].items[0].source == "torchpit"
    assert all(i.kind == "full" and i.result_id for i in items.values())

    # asked again with the ids it has: nothing changed
    previous = {u: i.result_id for u, i in items.items()}
    again = by_uri(await pull_workspace(client, previous))
    assert {u: i.kind for u, i in again.items()} == {a: "unchanged", b: "unchanged", c: "unchanged"}

    # a file changed on disk: only it is reported in full
    (root / "b.py").write_text(PIT101_SRC)
    third = by_uri(await pull_workspace(client, previous))
    assert third[b].kind == "full" and codes(third[b].items) == ["PIT101"] and third[b].result_id != previous[b]
    assert third[a].kind == third[c].kind == "unchanged"


async def test_workspace_mode_reuses_the_batch_cache(start, tmp_path):
    """What ``torchpit check`` cached for a file is what the server reports for it."""
    root = tmp_path / "proj"
    make_project(root)
    cache = tmp_path / "cache"
    env = {"TORCHPIT_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-m", "torchpit", "check", ".", "--exit-zero"], cwd=root, env={**__import__("os").environ, **env}, check=True, capture_output=True)
    entries = list(cache.rglob("*.json"))
    assert entries
    for entry in entries:  # mark the batch mode's results, so that their reuse shows
        data = json.loads(entry.read_text())
        for d in data["diagnostics"]:
            d["message"] = "from the cache: " + d["message"]
        entry.write_text(json.dumps(data))
    client = await start(pull=True, init_options={"diagnosticMode": "workspace"}, folders=[root], env=env)
    items = by_uri(await pull_workspace(client))
    (d,) = items[uri_of(root / "a.py")].items
    assert d.code == "PIT101" and d.message.startswith("from the cache: ")


async def test_open_files_only_by_default(start, tmp_path):
    root = tmp_path / "proj"
    make_project(root)
    client = await start(pull=True, init_options={"debounce": 0}, folders=[root], env={"TORCHPIT_CACHE_DIR": str(tmp_path / "cache")})
    assert not (await pull_workspace(client)).items
    assert not (tmp_path / "cache").exists()
