// Which interpreter runs the server and with which command line. Pure: no `vscode` import.
import * as path from "path";
import type { ImportStrategy } from "./settings";

export type InterpreterSource = "setting" | "pythonExtension" | "default";

export interface Interpreter {
  /** The executable and any arguments before `-m torchpit server`. */
  command: string[];
  source: InterpreterSource;
}

export interface ServerCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * The `torchpit.interpreter` setting when it is set, else the Python extension's active
 * interpreter, else `python3` (`python` on Windows).
 */
export function chooseInterpreter(
  setting: readonly string[],
  pythonExtensionPath: string | undefined,
  platform: NodeJS.Platform,
): Interpreter {
  if (setting.length > 0 && setting[0] !== "") {
    return { command: [...setting], source: "setting" };
  }
  if (pythonExtensionPath) {
    return { command: [pythonExtensionPath], source: "pythonExtension" };
  }
  return { command: [platform === "win32" ? "python" : "python3"], source: "default" };
}

/** `bundled/libs` inside the installed extension. */
export function bundledLibsPath(extensionRoot: string): string {
  return path.join(extensionRoot, "bundled", "libs");
}

/**
 * The server's command line: `<interpreter> -m torchpit server` over stdio. With `useBundled`
 * the bundled libraries go first on PYTHONPATH, so they win over anything the environment has.
 */
export function serverCommand(
  interpreter: Interpreter,
  strategy: ImportStrategy,
  bundledLibs: string,
  baseEnv: NodeJS.ProcessEnv,
): ServerCommand {
  const [command, ...prefix] = interpreter.command;
  const env: NodeJS.ProcessEnv = { ...baseEnv, PYTHONUNBUFFERED: "1" };
  if (strategy === "useBundled") {
    env.PYTHONPATH = [bundledLibs, baseEnv.PYTHONPATH].filter((p) => p).join(path.delimiter);
  }
  return { command, args: [...prefix, "-m", "torchpit", "server"], env };
}
