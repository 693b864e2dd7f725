"""One spelling for every URI the server keys on.

Clients may percent-encode the same URI in different ways: VS Code sends notebook cell URIs
such as ``vscode-notebook-cell:/nb.ipynb#W1sdnNjb2RlLXJlbW90ZQ%3D%3D``, while pygls' workspace
stores documents under the unquoted form (``...==``). Every lookup of a document goes through
:func:`normalize_uri`, so the two spellings name one document. What is sent back to the client
(diagnostics, edits) keeps the URI as the client sent it.
"""

from __future__ import annotations

from urllib.parse import unquote


def normalize_uri(uri: str) -> str:
    """The key of ``uri``: percent-encoding decoded, as pygls' ``Workspace`` does
    (``pygls.workspace.Workspace`` keys its documents by ``urllib.parse.unquote(uri)``;
    ``pygls.uris.urlparse`` decodes each part the same way)."""
    return unquote(uri)
