"""Editor settings (the ``torchpit`` section): typed, validated, with defaults for bad values.

Settings come from ``initializationOptions``, ``workspace/configuration`` (per workspace
folder) and ``workspace/didChangeConfiguration``. Keys are camelCase as editors send them
(snake_case is accepted too). A bad value never stops the server: :func:`parse_settings`
returns the defaults for that setting plus a message naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from torchpit.analyzers.engine.config import DEFAULT_MAX_FILE_SIZE, Config, ConfigError, parse_severity_map, validate_selector, validate_size
from torchpit.analyzers.core.diagnostics import Severity

RUN_ON_TYPE = "onType"
RUN_ON_SAVE = "onSave"
MODE_OPEN_FILES = "openFilesOnly"
MODE_WORKSPACE = "workspace"
PROBE_DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_DEBOUNCE_MS = 150


@dataclass(frozen=True)
class ProbeSettings:
    enable: bool = False
    device: str = "auto"
    timeout: float = 60.0


@dataclass(frozen=True)
class Settings:
    enable: bool = True
    # None: what the pyproject.toml (or the defaults) say; a tuple overrides it.
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    severity: tuple[tuple[str, Severity], ...] = ()
    run: str = RUN_ON_TYPE
    debounce_ms: int = DEFAULT_DEBOUNCE_MS
    jedi: bool = True
    python_path: str | None = None
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    diagnostic_mode: str = MODE_OPEN_FILES  # workspace: `workspace/diagnostic` reports every file
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes (UTF-8) above which a document is not analysed; 0: no limit

    def apply_to(self, config: Config) -> Config:
        """The pyproject's configuration with the editor's select/ignore/severity on top.

        The editor's severity entries come first, so at equal specificity they win (the
        engine keeps the first of equally specific prefixes). The editor's ``maxFileSize``
        is the limit in the editor (workspace diagnostics included), whatever the
        pyproject's ``max-file-size`` says: that one is for ``torchpit check``.
        """
        return config.with_overrides(
            max_file_size=self.max_file_size,
            select=self.select,
            ignore=(*config.ignore, *self.ignore) if self.ignore else None,
            severity=(*self.severity, *config.severity) if self.severity else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "enable": self.enable,
            "select": list(self.select) if self.select is not None else None,
            "ignore": list(self.ignore) if self.ignore is not None else None,
            "severity": {p: s.value for p, s in self.severity},
            "run": self.run,
            "debounce": self.debounce_ms,
            "jedi": self.jedi,
            "pythonPath": self.python_path,
            "probe": {"enable": self.probe.enable, "device": self.probe.device, "timeout": self.probe.timeout},
            "diagnosticMode": self.diagnostic_mode,
            "maxFileSize": self.max_file_size,
        }


_KEYS = {
    "enable", "select", "ignore", "severity", "run", "debounce", "jedi", "pythonPath", "probe",
    "diagnosticMode", "maxFileSize",
}
_ALIASES = {"python_path": "pythonPath", "pythonpath": "pythonPath", "max_file_size": "maxFileSize"}


def _selectors(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of rule selectors, got {type(value).__name__}")
    return tuple(validate_selector(v, where) for v in value)


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Validate a ``torchpit`` settings object. Returns (settings, problems).

    Every problem names the setting (``torchpit.select``) and says which default is used
    instead; the other settings still apply.
    """
    settings = base or Settings()
    problems: list[str] = []
    if raw is None:
        return settings, problems
    if not isinstance(raw, Mapping):
        return settings, [f"torchpit: settings must be an object, got {type(raw).__name__}; using the defaults"]
    values: dict[str, Any] = {}
    for raw_key, value in raw.items():
        key = _ALIASES.get(raw_key, raw_key)
        where = f"torchpit.{raw_key}"
        if key not in _KEYS:
            problems.append(f"{where}: unknown setting (ignored)")
            continue
        if value is None:
            continue
        try:
            if key in ("enable", "jedi"):
                if not isinstance(value, bool):
                    raise ConfigError(f"{where}: expected true or false, got {value!r}")
                values[key] = value
            elif key in ("select", "ignore"):
                selectors = _selectors(value, where)
                # An empty list is what editors send for "not set": keep the pyproject's choice.
                if selectors:
                    values[key] = selectors
            elif key == "severity":
                values["severity"] = parse_severity_map(value, where)
            elif key == "run":
                if value not in (RUN_ON_TYPE, RUN_ON_SAVE):
                    raise ConfigError(f"{where}: expected {RUN_ON_TYPE!r} or {RUN_ON_SAVE!r}, got {value!r}")
                values["run"] = value
            elif key == "debounce":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10_000:
                    raise ConfigError(f"{where}: expected milliseconds between 0 and 10000, got {value!r}")
                values["debounce_ms"] = int(value)
            elif key == "pythonPath":
                if not isinstance(value, str):
                    raise ConfigError(f"{where}: expected the path of a Python interpreter, got {value!r}")
                values["python_path"] = value or None
            elif key == "diagnosticMode":
                if value not in (MODE_OPEN_FILES, MODE_WORKSPACE):
                    raise ConfigError(f"{where}: expected {MODE_OPEN_FILES!r} or {MODE_WORKSPACE!r}, got {value!r}")
                values["diagnostic_mode"] = value
            elif key == "maxFileSize":
                values["max_file_size"] = validate_size(value, where)
            elif key == "probe":
                probe, probe_problems = _parse_probe(value, settings.probe)
                values["probe"] = probe
                problems.extend(probe_problems)
        except ConfigError as exc:
            problems.append(f"{exc}; using the default")
    return replace(settings, **values), problems


def _parse_probe(raw: Any, base: ProbeSettings) -> tuple[ProbeSettings, list[str]]:
    if not isinstance(raw, Mapping):
        return base, [f"torchpit.probe: expected an object with enable/device/timeout, got {raw!r}; using the default"]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        where = f"torchpit.probe.{key}"
        if key == "enable" and isinstance(value, bool):
            values["enable"] = value
        elif key == "device" and value in PROBE_DEVICES:
            values["device"] = value
        elif key == "timeout" and not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value <= 3600:
            values["timeout"] = float(value)
        elif key in ("enable", "device", "timeout"):
            expected = {"enable": "true or false", "device": "/".join(PROBE_DEVICES), "timeout": "seconds (0 < t <= 3600)"}[key]
            problems.append(f"{where}: expected {expected}, got {value!r}; using the default")
        else:
            problems.append(f"{where}: unknown setting (ignored)")
    return replace(base, **values), problems


def extract_section(options: Any) -> Any:
    """``initializationOptions`` may be the section itself or ``{"torchpit": {...}}``;
    ``didChangeConfiguration`` sends ``{"torchpit": {...}}``."""
    if isinstance(options, Mapping) and "torchpit" in options:
        return options["torchpit"]
    return options
