"""Settings (``initializationOptions``, ``workspace/configuration``, ``didChangeConfiguration``),
workspace folders, and changes of pyproject.toml files."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..settings import Settings, extract_section, parse_settings
from . import diagnostics

if TYPE_CHECKING:
    from ..server import TorchpitServer

log = logging.getLogger("torchpit.server")


def is_pyproject(uri: str) -> bool:
    return uri.rstrip("/").endswith("/pyproject.toml")


def apply_settings(ls: "TorchpitServer", raw: Any, base: Settings | None = None, where: str = "") -> Settings:
    """Typed settings from the client's object; each bad value reported (once as a dialog)."""
    settings, problems = parse_settings(extract_section(raw), base or Settings())
    for p in problems:
        ls.show_once(f"torchpit: bad setting{(' (' + where + ')') if where else ''}: {p}", types.MessageType.Warning)
    return settings


async def fetch_configuration(ls: "TorchpitServer") -> None:
    """Per-folder settings through ``workspace/configuration``, when the client has it."""
    ws = ls.client_capabilities.workspace
    if not (ws and ws.configuration):
        return
    session = ls.session
    folders = list(session.folders)
    items = [types.ConfigurationItem(section="torchpit")] + [types.ConfigurationItem(scope_uri=f, section="torchpit") for f in folders]
    try:
        values = await asyncio.wait_for(ls.workspace_configuration_async(types.ConfigurationParams(items=items)), 10)
    except Exception as exc:
        ls.log_to_client(f"torchpit: could not read the settings: {exc}", types.MessageType.Warning)
        return
    values = list(values or [])
    if values and values[0] is not None:
        session.global_settings = apply_settings(ls, values[0], session.init_settings)
    for folder, value in zip(folders, values[1:]):
        session.folder_settings[folder] = apply_settings(ls, value, session.global_settings, folder) if value is not None else session.global_settings


def rerun_all(ls: "TorchpitServer", keys: list[str] | None = None) -> None:
    """The settings in force changed: every (or the given) unit's results are stale."""
    units = ls.session.units
    for key in keys if keys is not None else list(units):
        unit = units.get(key)
        if unit is None:
            continue
        ls.scheduler.supersede(unit)
        if not ls.pull_mode:
            ls.scheduler.schedule(unit, 0.0)
    if ls.pull_mode:
        diagnostics.refresh(ls)


def pyproject_changed(ls: "TorchpitServer", uris: list[str]) -> None:
    """Re-analyse the open documents under the folders of changed pyproject.toml files."""
    session = ls.session
    dirs = [session.key_of(uri).rsplit("/", 1)[0] + "/" for uri in uris]
    affected = [key for key in session.units if any(key.startswith(d) for d in dirs)]
    log.info("pyproject.toml changed (%s): re-analysing %d documents", ", ".join(uris), len(affected))
    rerun_all(ls, affected)


async def did_change_configuration(ls: "TorchpitServer", params: types.DidChangeConfigurationParams) -> None:
    ws = ls.client_capabilities.workspace
    session = ls.session
    if ws and ws.configuration:
        await fetch_configuration(ls)
    else:
        section = extract_section(params.settings)
        if section is not None:
            session.global_settings = apply_settings(ls, section, session.init_settings, "didChangeConfiguration")
            session.folder_settings.clear()
    rerun_all(ls)


async def did_change_folders(ls: "TorchpitServer", params: types.DidChangeWorkspaceFoldersParams) -> None:
    session = ls.session
    removed = {session.key_of(f.uri) for f in params.event.removed}
    for f in params.event.removed:
        session.folder_settings.pop(f.uri, None)
    session.folders = [f for f in session.folders if session.key_of(f) not in removed] + [f.uri for f in params.event.added]
    await fetch_configuration(ls)
    rerun_all(ls)


def did_change_watched(ls: "TorchpitServer", params: types.DidChangeWatchedFilesParams) -> None:
    pyprojects = [c.uri for c in params.changes if is_pyproject(c.uri)]
    if pyprojects:
        pyproject_changed(ls, pyprojects)


FEATURES = [
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, None, did_change_configuration),
    (types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS, None, did_change_folders),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, did_change_watched),
]
