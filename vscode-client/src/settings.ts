// Settings: VS Code's `torchpit.*` configuration -> the server's settings object and the
// launch settings. Pure: no `vscode` import, so it is unit-tested in plain Node.

export type ImportStrategy = "fromEnvironment" | "useBundled";
export type RunMode = "onType" | "onSave";
export type DiagnosticMode = "openFilesOnly" | "workspace";

export interface ProbeSettings {
  enable: boolean;
  device: string;
  timeout: number;
}

/** The object the server reads: initializationOptions, workspace/configuration, didChangeConfiguration. */
export interface ServerSettings {
  enable: boolean;
  select: string[];
  ignore: string[];
  severity: Record<string, string>;
  run: RunMode;
  debounce: number;
  jedi: boolean;
  pythonPath: string | null;
  probe: ProbeSettings;
  diagnosticMode: DiagnosticMode;
  maxFileSize: number;
}

/** What decides how the server process is started; a change needs a restart. */
export interface LaunchSettings {
  interpreter: string[];
  importStrategy: ImportStrategy;
}

/** The part of `vscode.WorkspaceConfiguration` (section `torchpit`) used here. */
export interface ConfigurationReader {
  get<T>(key: string, defaultValue: T): T;
}

export interface VariableValues {
  workspaceFolder?: string;
  userHome: string;
}

/** Settings whose change restarts the server. */
export const RESTART_SETTINGS: readonly string[] = ["torchpit.interpreter", "torchpit.importStrategy"];

export const SECTION = "torchpit";

function oneOf<T extends string>(value: string, allowed: readonly T[], fallback: T): T {
  return (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/**
 * The server's settings. `pythonPath` is null: the server runs on the user's interpreter,
 * so jedi already resolves imports in that environment.
 */
export function readServerSettings(config: ConfigurationReader): ServerSettings {
  const severity = config.get<Record<string, string>>("severity", {});
  return {
    enable: config.get("enable", true),
    select: strings(config.get<unknown>("select", [])),
    ignore: strings(config.get<unknown>("ignore", [])),
    severity: typeof severity === "object" && severity !== null ? { ...severity } : {},
    run: oneOf(config.get("run", "onType"), ["onType", "onSave"] as const, "onType"),
    debounce: Math.max(0, config.get("debounce", 150)),
    jedi: config.get("jedi", true),
    pythonPath: null,
    probe: {
      enable: config.get("probe.enable", false),
      device: config.get("probe.device", "auto"),
      timeout: config.get("probe.timeout", 60),
    },
    diagnosticMode: oneOf(config.get("diagnosticMode", "openFilesOnly"), ["openFilesOnly", "workspace"] as const, "openFilesOnly"),
    maxFileSize: Math.max(0, config.get("maxFileSize", 1000000)),
  };
}

/** Expands `${workspaceFolder}` and `${userHome}`; `${workspaceFolder}` stays as is without a folder. */
export function expandVariables(value: string, vars: VariableValues): string {
  return value.replace(/\$\{(workspaceFolder|userHome)\}/g, (whole, name: string) => {
    const replacement = name === "userHome" ? vars.userHome : vars.workspaceFolder;
    return replacement ?? whole;
  });
}

export function readLaunchSettings(config: ConfigurationReader, vars: VariableValues): LaunchSettings {
  return {
    interpreter: strings(config.get<unknown>("interpreter", [])).map((part) => expandVariables(part, vars)),
    importStrategy: oneOf(
      config.get("importStrategy", "useBundled"),
      ["fromEnvironment", "useBundled"] as const,
      "useBundled",
    ),
  };
}

/** Whether a configuration change (given VS Code's `affectsConfiguration`) needs a server restart. */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return RESTART_SETTINGS.some((section) => affects(section));
}
