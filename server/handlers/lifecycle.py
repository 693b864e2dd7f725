"""The server's life: initialize, initialized, shutdown, and the editor process's death."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..settings import Settings
from . import configuration

if TYPE_CHECKING:
    from ..server import TorchpitServer

log = logging.getLogger("torchpit.server")
PARENT_POLL_S = 2.0


def initialize(ls: "TorchpitServer", params: types.InitializeParams) -> None:
    session = ls.session
    ls.scheduler.settings_ready = asyncio.Event()
    session.codec = ls.workspace.position_codec
    session.root_uri = ls.workspace.root_uri
    session.folders = [f.uri for f in params.workspace_folders or []]
    session.init_settings = configuration.apply_settings(ls, params.initialization_options, Settings(), "initializationOptions")
    session.global_settings = session.init_settings
    if params.process_id:
        asyncio.ensure_future(watch_parent(ls, params.process_id))


async def initialized(ls: "TorchpitServer", params: types.InitializedParams) -> None:
    try:
        await configuration.fetch_configuration(ls)
    finally:
        if ls.scheduler.settings_ready is not None:
            ls.scheduler.settings_ready.set()
    ws = ls.client_capabilities.workspace
    if ws and ws.did_change_watched_files and ws.did_change_watched_files.dynamic_registration:
        options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern="**/pyproject.toml")])
        try:
            await ls.client_register_capability_async(
                types.RegistrationParams(registrations=[types.Registration(id=str(uuid.uuid4()), method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options)])
            )
        except Exception as exc:
            log.warning("could not watch pyproject.toml files: %s", exc)
    configuration.rerun_all(ls)


def shutdown(ls: "TorchpitServer", params: Any) -> None:
    ls.shutdown_requested = True
    ls.scheduler.shutdown()
    ls.probe_pool.shutdown(wait=False, cancel_futures=True)


async def watch_parent(ls: "TorchpitServer", pid: int) -> None:
    """Exit when the editor that started us is gone (it may die without sending ``exit``)."""
    if os.name == "nt" or pid <= 0:
        return
    while True:
        await asyncio.sleep(PARENT_POLL_S)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.warning("the parent process %d is gone: exiting", pid)
            ls.scheduler.shutdown()
            logging.shutdown()
            os._exit(0)
        except PermissionError:
            pass  # alive, owned by someone else


FEATURES = [
    (types.INITIALIZE, None, initialize),
    (types.INITIALIZED, None, initialized),
    (types.SHUTDOWN, None, shutdown),
]
