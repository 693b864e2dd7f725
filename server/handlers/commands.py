"""``workspace/executeCommand``: explain a rule, apply a fix, debug info, run the probe."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from .. import actions, commands, probes
from ..settings import Settings
from . import diagnostics

if TYPE_CHECKING:
    from ..server import TorchpitServer

log = logging.getLogger("torchpit.server")

# The commands' first parameter is not annotated: pygls reads their type hints at call time,
# and the server class is only imported for type checking.


def cmd_explain(ls, *args: Any) -> str:
    code = args[0] if args else None
    if isinstance(code, dict):
        code = code.get("code")
    try:
        return commands.explain_command(code)
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None


async def cmd_apply_fix(ls, *args: Any) -> Any:
    """Arguments: ``{"uri", "code", "line"}`` (0-based line): apply that diagnostic's fix
    to the document's current version through ``workspace/applyEdit``."""
    arg = args[0] if args else None
    if not isinstance(arg, dict) or not isinstance(arg.get("uri"), str) or not isinstance(arg.get("code"), str):
        raise JsonRpcInvalidParams("torchpit.applyFix expects {uri, code, line}")
    doc = await ls.scheduler.fresh_result(arg["uri"])
    if doc is None:
        raise JsonRpcInvalidParams(f"{arg['uri']} is out of sync with the editor: reopen it")
    line = arg.get("line")
    diag = actions.find_diagnostic(doc, arg["code"], line if isinstance(line, int) else None)
    if diag is None or diag.fix is None:
        raise JsonRpcInvalidParams(f"no fix for {arg['code']} at line {line} of {arg['uri']}")
    edit = actions.apply_fix_edit(doc, diag.fix, doc.lines, ls.edit_support())
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=actions.fix_title(diag.code, diag.fix)))
    return {"applied": bool(result and result.applied)}


def cmd_debug_info(ls, *args: Any) -> dict:
    session = ls.session
    settings = {"(global)": session.global_settings.to_json(), **{f: s.to_json() for f, s in session.folder_settings.items()}}
    docs, sources = {}, {}
    for unit in session.units.values():
        o = unit.outcome
        docs[unit.uri] = {
            "token": unit.token,
            "analysedToken": unit.result_token,
            "inSync": session.in_sync(unit),
            "timingsMs": {k: round(v * 1000, 2) for k, v in (o.timings if o else {}).items()},
            "ruleErrors": o.rule_errors if o else [],
            "parse": o.parse_mode if o else None,
            # top-level statements whose per-node rule findings were reused (analyzers/engine/memo.py)
            "reusedStatements": f"{o.reused[0]}/{o.reused[1]}" if o else None,
        }
        if o:
            sources[unit.uri] = o.config_error or o.config_source or "(defaults)"
    info = commands.debug_info(
        settings=settings,
        encoding=session.encoding,
        mode="pull" if ls.pull_mode else "push",
        pool=ls.scheduler.pool_kind,
        documents=docs,
        config_sources=sources,
        probe_available=probes.probe_module() is not None,
    )
    log.info("debug info: %s", info)
    return info


async def cmd_run_probe(ls, *args: Any) -> Any:
    """Arguments: ``"PIT101"``, ``{"code", "uri"?, "line"?, "spec"?}`` or ``uri, diagnostic``.
    Runs in a thread with work-done progress; the result is shown as a message and attached
    to the diagnostic. Answers ``{"summary", "results"}``."""
    try:
        code, uri, line, spec = probes.probe_target(args)
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
    session = ls.session
    current = session.result(uri) if uri else None
    if spec is None and current is not None and line is not None:
        diag = actions.find_diagnostic(current, code, line)
        spec = diag.probe if diag is not None else None
    settings = session.settings_for(uri)[0] if uri else session.global_settings
    results = await run_probe_with_progress(ls, code, spec, settings)
    if uri and isinstance(line, int):
        doc = session.add_probe_notes(uri, code, line, probes.notes(results))
        if doc is not None:
            diagnostics.publish(ls, doc.uri, doc.lsp, doc.version)
    return {"summary": probes.summarize(code, results), "results": results}


async def run_probe_with_progress(ls: "TorchpitServer", code: str, spec: Any, settings: Settings) -> list:
    token = f"torchpit-probe-{uuid.uuid4()}"
    window = ls.client_capabilities.window
    progress = bool(window and window.work_done_progress)
    if progress:
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=f"torchpit: probing {code}", message=f"device {settings.probe.device}", cancellable=False))
        except Exception as exc:
            log.warning("no progress for the probe: %s", exc)
            progress = False
    loop = asyncio.get_running_loop()
    try:
        results = await loop.run_in_executor(ls.probe_pool, probes.run_probes, code, spec if isinstance(spec, dict) else None, settings.probe)
    finally:
        if progress:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))
    summary = probes.summarize(code, results)
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=summary))
    ls.log_to_client(summary)
    return results


COMMANDS = [
    (actions.CMD_EXPLAIN, cmd_explain),
    (actions.CMD_APPLY_FIX, cmd_apply_fix),
    (actions.CMD_DEBUG_INFO, cmd_debug_info),
    (actions.CMD_RUN_PROBE, cmd_run_probe),
]
