// Whether an interpreter can run the server: it exists and is Python 3.10 or newer.
// Asked before the server starts, so that an old Python gets one clear message instead of an
// ImportError from the bundled libraries, five times. No `vscode` import.
import { execFile } from "node:child_process";

export const MIN_PYTHON: readonly [number, number] = [3, 10];

const PRINT_VERSION = "import sys; print('%d.%d.%d' % sys.version_info[:3])";

/** `3.9.18` -> [3, 9, 18]; undefined when the output is not a version. */
export function parseVersion(output: string): [number, number, number] | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)\s*$/.exec(output.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

export function supported(version: readonly number[]): boolean {
  const [major, minor] = version;
  return major > MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor >= MIN_PYTHON[1]);
}

/** Runs `<interpreter...> -c <print the version>`; undefined when it is fine, else what is wrong. */
export function interpreterProblem(
  command: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 20_000,
): Promise<string | undefined> {
  const [executable, ...prefix] = command;
  const shown = command.join(" ");
  return new Promise((resolve) => {
    execFile(
      executable,
      [...prefix, "-c", PRINT_VERSION],
      { env, timeout: timeoutMs, windowsHide: true },
      (error, stdout, stderr) => {
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          const why =
            code === "ENOENT"
              ? "was not found"
              : code === "EACCES"
                ? "cannot be run (permission denied)"
                : `failed: ${(stderr || error.message).trim().split("\n").pop()}`;
          resolve(`torchpit: the Python interpreter ${shown} ${why}. Set torchpit.interpreter to a Python 3.10+ interpreter.`);
          return;
        }
        const version = parseVersion(stdout);
        if (!version) {
          resolve(`torchpit: ${shown} did not report a Python version (${stdout.trim() || "no output"}).`);
        } else if (!supported(version)) {
          resolve(
            `torchpit needs Python ${MIN_PYTHON.join(".")} or newer; ${shown} is Python ${version.join(".")}. ` +
              "Set torchpit.interpreter (or pick another interpreter in the Python extension).",
          );
        } else {
          resolve(undefined);
        }
      },
    );
  });
}
