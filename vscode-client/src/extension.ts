// The VS Code client: launches `python -m torchpit server`, configures it and relays commands.
// All analysis happens in the server; the decisions made here live in the pure modules.
import * as os from "os";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
} from "vscode-languageclient/node";
import { answerText, normalizeRule, ruleCode, ruleCodes } from "./commands";
import { bundledLibsPath, chooseInterpreter, serverCommand, type InterpreterSource } from "./launch";
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
let environments: PythonEnvironments | undefined;
let client: LanguageClient | undefined;
let interpreterSource: InterpreterSource | undefined;
let lifecycle: Promise<void> = Promise.resolve();

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
  log = vscode.window.createOutputChannel("torchpit", { log: true });
  environments = await pythonEnvironments();
  context.subscriptions.push(
    log,
    vscode.commands.registerCommand("torchpit.restart", restart),
    vscode.commands.registerCommand("torchpit.showLogs", () => log.show()),
    vscode.commands.registerCommand("torchpit.explainRule", explainRule),
    vscode.commands.registerCommand("torchpit.confirmWithProbe", runProbe),
    vscode.workspace.onDidChangeConfiguration(onConfigurationChange),
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

export function deactivate(): Promise<void> | undefined {
  return client?.stop();
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

/** Stops the server if it runs and starts it again; calls are queued, never overlapped. */
function restart(): Promise<void> {
  lifecycle = lifecycle.then(async () => {
    if (client) {
      await client.stop();
      client = undefined;
    }
    await start();
  });
  return lifecycle.catch((error: unknown) => {
    log.error(`The server did not start: ${String(error)}`);
    void vscode.window.showErrorMessage("torchpit: the server did not start. See torchpit: Show Logs.");
  });
}

async function start(): Promise<void> {
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
  interpreterSource = interpreter.source;
  log.info(
    `Starting the server (${launch.importStrategy}, interpreter from ${interpreter.source}): ` +
      [command.command, ...command.args].join(" "),
  );

  const clientOptions: LanguageClientOptions = {
    documentSelector: DOCUMENT_SELECTOR,
    outputChannel: log,
    traceOutputChannel: log,
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
  client = new LanguageClient(
    "torchpit",
    "torchpit",
    { command: command.command, args: command.args, options: { env: command.env } },
    clientOptions,
  );
  await client.start();
}

function onConfigurationChange(event: vscode.ConfigurationChangeEvent): void {
  if (needsRestart((section) => event.affectsConfiguration(section))) {
    void restart();
  } else if (event.affectsConfiguration(SECTION) && client?.isRunning()) {
    const folder = vscode.workspace.workspaceFolders?.[0];
    void client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { [SECTION]: serverSettings(folder?.uri) },
    });
  }
}

function executeServerCommand(command: string, args: unknown[]): Promise<unknown> {
  if (!client?.isRunning()) {
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
  const document = await vscode.workspace.openTextDocument({ language: "markdown", content: markdown });
  await vscode.commands.executeCommand("markdown.showPreview", document.uri);
}

/** `torchpit.confirmWithProbe`: the server's `torchpit.runProbe` with the given arguments, or for the torchpit finding under the cursor. */
async function runProbe(...args: unknown[]): Promise<void> {
  const editor = vscode.window.activeTextEditor;
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
