"""A pyproject.toml the batch mode rejects (exit 2) is reported by the server too: the same message
naming the file, the defaults in force, and the server still up (issue 14)."""

from __future__ import annotations

import pytest

from .conftest import PIT101_SRC, codes, open_doc, wait_diags, wait_until


@pytest.mark.parametrize(
    "pyproject, problem",
    [
        (b'[tool.torchpit]\nignore = ["PIT101"]  # caf\xe9\n', "not UTF-8: byte 0xe9 at offset 42"),
        (b'[tool]\ntorchpit = "yes"\n', "[tool.torchpit] must be a table, got 'yes'"),
    ],
    ids=["not-utf8", "not-a-table"],
)
async def test_bad_pyproject_is_shown_and_defaults_apply(start, tmp_path, pyproject, problem):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_bytes(pyproject)
    client = await start(init_options={"debounce": 0}, folders=[project])
    uri = open_doc(client, project / "m.py", PIT101_SRC)
    assert codes(await wait_diags(client, uri, version=1)) == ["PIT101"]
    shown = await wait_until(lambda: [m.message for m in client.messages if problem in m.message], what="message")
    assert f"{project / 'pyproject.toml'}: {problem}" in shown[0]
