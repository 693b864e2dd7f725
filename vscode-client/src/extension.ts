// The VS Code client: launches `python -m torchpit server`, configures it and relays commands.
// All analysis happens in the server; the decisions made here live in the pure modules.
import * as os from "os";
import * as readline from "readline";
import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  type ErrorHandler,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  State,
} from "vscode-languageclient/node";
import {
  answerText,
  normalizeRule,
  RULE_DOC_SCHEME,
  ruleCode,
  ruleCodes,
  ruleDocPath,
  ruleOfDocPath,
} from "./commands";
import { interpreterProblem } from "./interpreter";
import { bundledLibsPath, chooseInterpreter, serverCommand, type InterpreterSource } from "./launch";
import { Lifecycle } from "./lifecycle";
import { StderrClassifier, tracing } from "./logging";
import { needsRestart, readLaunchSettings, readServerSettings, SECTION, type ServerSettings } from "./settings";

/** The part of the Python extension's API (`ms-python.python` exports) used here. */
interface PythonEnvironments {
  getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string };
  resolveEnvironment(
    environment: { id: string; path: string },
  ): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  readonly onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
}

const DOCUMENT_SELECTOR = [
  { scheme: "file", language: "python" },
  { scheme: "untitled", language: "python" },
  { notebook: "jupyter-notebook", language: "python" },
];

let extensionContext: vscode.ExtensionContext;
let log: vscode.LogOutputChannel;
let traceOutput: TraceOutput;
let environments: PythonEnvironments | undefined;
let interpreterSource: InterpreterSource | undefined;
const ruleDocs = new Map<string, string>();
/** Problems already shown in a dialog: each is said once, and logged every time. */
const shownProblems = new Set<string>();

const lifecycle = new Lifecycle<LanguageClient>({
  create: createClient,
  problem(message) {
    log.error(message);
    if (!shownProblems.has(message)) {
      shownProblems.add(message);
      void vscode.window.showErrorMessage(message);
    }
  },
  failed(what, error) {
    log.error(what === "start" ? `The server did not start: ${String(error)}` : `Stopping the server failed: ${String(error)}`);
    if (what === "start") {
      void vscode.window.showErrorMessage("torchpit: the server did not start. See torchpit: Show Logs.");
    }
  },
});

/** The running client, if any. */
function runningClient(): LanguageClient | undefined {
  const client = lifecycle.client;
  return client?.isRunning() ? client : undefined;
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
  log = vscode.window.createOutputChannel("torchpit", { log: true });
  traceOutput = new TraceOutput("torchpit Trace");
  environments = await pythonEnvironments();
  context.subscriptions.push(
    log,
    traceOutput,
    vscode.commands.registerCommand("torchpit.restart", restart),
    vscode.commands.registerCommand("torchpit.showLogs", () => log.show()),
    vscode.commands.registerCommand("torchpit.explainRule", explainRule),
    vscode.commands.registerCommand("torchpit.confirmWithProbe", runProbe),
    vscode.workspace.registerTextDocumentContentProvider(RULE_DOC_SCHEME, {
      provideTextDocumentContent: (uri) => ruleDocs.get(ruleOfDocPath(uri.path) ?? "") ?? "",
    }),
    vscode.workspace.onDidChangeConfiguration(onConfigurationChange),
    // In Restricted Mode the workspace's torchpit.interpreter is ignored; trust brings it in.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void restart()),
  );
  if (environments) {
    context.subscriptions.push(
      environments.onDidChangeActiveEnvironmentPath(() => {
        if (interpreterSource === "pythonExtension") {
          void restart();
        }
      }),
    );
  }
  await restart();
}

export function deactivate(): Promise<void> {
  return lifecycle.stop();
}

async function pythonEnvironments(): Promise<PythonEnvironments | undefined> {
  const extension = vscode.extensions.getExtension<{ environments?: PythonEnvironments }>("ms-python.python");
  if (!extension) {
    return undefined;
  }
  const api = extension.isActive ? extension.exports : await extension.activate();
  return api?.environments;
}

async function activeInterpreter(resource: vscode.Uri | undefined): Promise<string | undefined> {
  if (!environments) {
    return undefined;
  }
  const environment = await environments.resolveEnvironment(environments.getActiveEnvironmentPath(resource));
  return environment?.executable.uri?.fsPath;
}

function serverSettings(scope: vscode.Uri | undefined): ServerSettings {
  return readServerSettings(vscode.workspace.getConfiguration(SECTION, scope));
}

/** Stops the server if it runs (or drops the client of a failed start) and starts it again. */
function restart(): Promise<void> {
  return lifecycle.restart();
}

/**
 * Sends the protocol trace to its own output channel whenever `torchpit.trace.server` is on.
 * vscode-languageclient traces only while the trace channel's log level is Trace, so this
 * channel reports Trace while the setting is on (and Off otherwise), whatever the window's
 * log level is.
 */
class TraceOutput implements vscode.LogOutputChannel {
  private readonly changed = new vscode.EventEmitter<vscode.LogLevel>();
  readonly onDidChangeLogLevel = this.changed.event;
  logLevel: vscode.LogLevel = vscode.LogLevel.Off;
  private channel: vscode.OutputChannel | undefined;

  constructor(readonly name: string) {
    this.refresh();
  }

  /** Re-reads `torchpit.trace.server`; the client follows through onDidChangeLogLevel. */
  refresh(): void {
    const level = tracing(vscode.workspace.getConfiguration(SECTION).get<string>("trace.server"))
      ? vscode.LogLevel.Trace
      : vscode.LogLevel.Off;
    if (level !== this.logLevel) {
      this.logLevel = level;
      this.changed.fire(level);
    }
  }

  private get out(): vscode.OutputChannel {
    this.channel ??= vscode.window.createOutputChannel(this.name);
    return this.channel;
  }

  trace(message: string): void {
    this.out.appendLine(message);
  }
  debug(message: string): void {
    this.out.appendLine(message);
  }
  info(message: string): void {
    this.out.appendLine(message);
  }
  warn(message: string): void {
    this.out.appendLine(message);
  }
  error(error: string | Error): void {
    this.out.appendLine(String(error));
  }
  append(value: string): void {
    this.out.append(value);
  }
  appendLine(value: string): void {
    this.out.appendLine(value);
  }
  replace(value: string): void {
    this.out.replace(value);
  }
  clear(): void {
    this.channel?.clear();
  }
  show(columnOrPreserveFocus?: vscode.ViewColumn | boolean, preserveFocus?: boolean): void {
    this.out.show(typeof columnOrPreserveFocus === "boolean" ? columnOrPreserveFocus : preserveFocus);
  }
  hide(): void {
    this.channel?.hide();
  }
  dispose(): void {
    this.changed.dispose();
    this.channel?.dispose();
  }
}

/**
 * A client for the server on the interpreter the settings pick, or why it cannot start: the
 * interpreter is missing or older than Python 3.10 (the bundled libraries would fail to import,
 * and the client would restart the server into the same ImportError five times).
 */
async function createClient(): Promise<LanguageClient | string> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  const launch = readLaunchSettings(vscode.workspace.getConfiguration(SECTION, folder?.uri), {
    workspaceFolder: folder?.uri.fsPath,
    userHome: os.homedir(),
  });
  const interpreter = chooseInterpreter(launch.interpreter, await activeInterpreter(folder?.uri), process.platform);
  const command = serverCommand(
    interpreter,
    launch.importStrategy,
    bundledLibsPath(extensionContext.extensionPath),
    process.env,
  );
  const problem = await interpreterProblem(interpreter.command, command.env);
  if (problem !== undefined) {
    return problem;
  }
  interpreterSource = interpreter.source;
  log.info(
    `Starting the server (${launch.importStrategy}, interpreter from ${interpreter.source}): ` +
      [command.command, ...command.args].join(" "),
  );
  const stderr = new StderrClassifier();
  // vscode-languageclient restarts a server that exits, up to five times in three minutes. One
  // that never got running (it exits at start) would only fail the same way again: the
  // lifecycle reports it once, and Restart Server or a settings change tries again.
  let everRan = false;
  let fallback: ErrorHandler | undefined;
  const errorHandler: ErrorHandler = {
    error: (error, message, count) => fallback!.error(error, message, count),
    closed: () => (everRan ? fallback!.closed() : { action: CloseAction.DoNotRestart, handled: true }),
  };

  const clientOptions: LanguageClientOptions = {
    documentSelector: DOCUMENT_SELECTOR,
    outputChannel: log,
    traceOutputChannel: traceOutput,
    errorHandler,
    stdioOptions: {
      stdout: (input, channel) => {
        readline.createInterface({ input, crlfDelay: Infinity }).on("line", (line) => channel.info(line));
      },
      stderr: (input, channel) => {
        readline.createInterface({ input, crlfDelay: Infinity }).on("line", (line) => stderr.write(line, channel));
      },
    },
    initializationOptions: serverSettings(folder?.uri),
    middleware: {
      workspace: {
        configuration: async (params, token, next) => {
          const answers = await next(params, token);
          if (!Array.isArray(answers)) {
            return answers;
          }
          return params.items.map((item, index) =>
            item.section === SECTION
              ? serverSettings(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined)
              : answers[index],
          );
        },
      },
    },
  };
  const client = new LanguageClient(
    "torchpit",
    "torchpit",
    { command: command.command, args: command.args, options: { env: command.env } },
    clientOptions,
  );
  fallback = client.createDefaultErrorHandler();
  client.onDidChangeState((event) => {
    everRan ||= event.newState === State.Running;
  });
  return client;
}

function onConfigurationChange(event: vscode.ConfigurationChangeEvent): void {
  if (event.affectsConfiguration(`${SECTION}.trace.server`)) {
    traceOutput.refresh();
  }
  const client = runningClient();
  if (needsRestart((section) => event.affectsConfiguration(section))) {
    void restart();
  } else if (event.affectsConfiguration(SECTION) && client) {
    const folder = vscode.workspace.workspaceFolders?.[0];
    void client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { [SECTION]: serverSettings(folder?.uri) },
    });
  }
}

function executeServerCommand(command: string, args: unknown[]): Promise<unknown> {
  const client = runningClient();
  if (!client) {
    void vscode.window.showWarningMessage("torchpit: the server is not running.");
    return Promise.resolve(undefined);
  }
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
}

function pickRule(codes: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    const pick = vscode.window.createQuickPick();
    pick.title = "torchpit: Explain Rule";
    pick.placeholder = "A rule code or name, e.g. PIT101";
    pick.items = codes.map((label) => ({ label, description: "reported in the open files" }));
    pick.onDidAccept(() => {
      resolve(normalizeRule(pick.selectedItems[0]?.label ?? pick.value));
      pick.hide();
    });
    pick.onDidHide(() => {
      resolve(undefined);
      pick.dispose();
    });
    pick.show();
  });
}

/** Asks the server for a rule's documentation and shows it as rendered markdown. */
async function explainRule(code?: string): Promise<void> {
  const rule =
    code ?? (await pickRule(ruleCodes(vscode.languages.getDiagnostics().flatMap(([, diagnostics]) => diagnostics))));
  if (!rule) {
    return;
  }
  const markdown = answerText(await executeServerCommand("torchpit.explain", [rule]));
  if (markdown === undefined) {
    void vscode.window.showWarningMessage(`torchpit: no documentation for ${rule}.`);
    return;
  }
  // A read-only virtual document: nothing to save, no Untitled tab.
  ruleDocs.set(rule, markdown);
  const uri = vscode.Uri.from({ scheme: RULE_DOC_SCHEME, path: ruleDocPath(rule) });
  await vscode.commands.executeCommand("markdown.showPreview", uri);
}

/** `torchpit.confirmWithProbe`: the server's `torchpit.runProbe` with the given arguments, or for the torchpit finding under the cursor. */
async function runProbe(...args: unknown[]): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!serverSettings(editor?.document.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri).probe.enable) {
    const open = "Open Settings";
    const answer = await vscode.window.showInformationMessage(
      "torchpit: the probe is off. Set torchpit.probe.enable to true to let it run torch experiments.",
      open,
    );
    if (answer === open) {
      await vscode.commands.executeCommand("workbench.action.openSettings", "torchpit.probe.enable");
    }
    return;
  }
  const client = runningClient();
  let target = args;
  if (target.length === 0 && editor && client) {
    const position = editor.selection.active;
    const finding = vscode.languages
      .getDiagnostics(editor.document.uri)
      .find((diagnostic) => ruleCode(diagnostic) !== undefined && diagnostic.range.contains(position));
    if (finding) {
      const converter = client.code2ProtocolConverter;
      target = [converter.asUri(editor.document.uri), converter.asDiagnostic(finding)];
    }
  }
  if (target.length === 0) {
    void vscode.window.showInformationMessage("torchpit: put the cursor on a torchpit finding to probe it.");
    return;
  }
  const text = answerText(await executeServerCommand("torchpit.runProbe", target));
  if (text !== undefined) {
    void vscode.window.showInformationMessage(text);
  }
}
