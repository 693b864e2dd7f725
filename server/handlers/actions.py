"""Code actions and hover, over the current result of the document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from .. import actions, hover, probes

if TYPE_CHECKING:
    from ..server import TorchpitServer

CODE_ACTION_OPTIONS = types.CodeActionOptions(
    code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll, actions.FIX_ALL_KIND]
)


async def code_action(ls: "TorchpitServer", params: types.CodeActionParams):
    doc = await ls.scheduler.fresh_result(params.text_document.uri)
    if doc is None:
        return None  # out of sync: no edit can be trusted
    try:
        doc.lines.from_client_range(params.range)
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
    probe_on = ls.session.settings_for(params.text_document.uri)[0].probe.enable
    return actions.code_actions(doc, params, doc.lines, ls.edit_support(), probes.has_probe if probe_on else None) or None


async def on_hover(ls: "TorchpitServer", params: types.HoverParams):
    uri = params.text_document.uri
    doc = await ls.scheduler.fresh_result(uri)
    if doc is None:
        return None
    try:
        pos = doc.lines.from_client(params.position)
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
    return hover.hover(doc, doc.lines, pos, ls.markdown_hover(), ls.session.probe_notes(uri))


FEATURES = [
    (types.TEXT_DOCUMENT_CODE_ACTION, CODE_ACTION_OPTIONS, code_action),
    (types.TEXT_DOCUMENT_HOVER, None, on_hover),
]
