"""One spelling of a URI for every table the server keys on.

Clients may percent-encode the same URI differently: VS Code sends a notebook cell as
``vscode-notebook-cell:/nb.ipynb#W1sdnNjb2RlLXJlbW90ZQ%3D%3D`` while pygls' workspace stores
its documents (and a cell's notebook) under the *unquoted* URI (``...#W1s...==``). A lookup
with the URI as sent then misses. Every URI the server keys on goes through
``normalize_uri``, the same normalisation pygls' ``Workspace`` applies
(``urllib.parse.unquote``), so keys agree with pygls' whatever encoding the client chose.

Keys only: what the server sends back (published diagnostics, workspace edits) and what it
turns into a file path keeps the URI exactly as the client sent it, because unquoting can
change what a URI means (``a%23b.py`` is a file name with ``#``, ``a#b.py`` has a fragment).
"""

from __future__ import annotations

from urllib.parse import unquote


def normalize_uri(uri: str) -> str:
    """The key for ``uri``: percent-escapes decoded, as pygls' workspace keys its documents."""
    return unquote(uri)
