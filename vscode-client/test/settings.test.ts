import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import {
  type ConfigurationReader,
  expandVariables,
  needsRestart,
  readLaunchSettings,
  readServerSettings,
} from "../src/settings";

/** A `torchpit` configuration section holding the given (dotted) keys, like VS Code's. */
function section(values: Record<string, unknown>): ConfigurationReader {
  return {
    get<T>(key: string, defaultValue: T): T {
      return key in values ? (values[key] as T) : defaultValue;
    },
  };
}

const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as {
  contributes: { configuration: { properties: Record<string, { default: unknown }> } };
};
const properties = manifest.contributes.configuration.properties;

test("defaults are the server's defaults", () => {
  assert.deepEqual(readServerSettings(section({})), {
    enable: true,
    select: [],
    ignore: [],
    severity: {},
    run: "onType",
    debounce: 150,
    jedi: true,
    pythonPath: null,
    probe: { enable: false, device: "auto", timeout: 60 },
    diagnosticMode: "openFilesOnly",
    maxFileSize: 1000000,
  });
});

test("package.json declares every server setting with the same default", () => {
  const defaults = readServerSettings(section({}));
  const flat: Record<string, unknown> = {
    enable: defaults.enable,
    select: defaults.select,
    ignore: defaults.ignore,
    severity: defaults.severity,
    run: defaults.run,
    debounce: defaults.debounce,
    jedi: defaults.jedi,
    "probe.enable": defaults.probe.enable,
    "probe.device": defaults.probe.device,
    "probe.timeout": defaults.probe.timeout,
    diagnosticMode: defaults.diagnosticMode,
    maxFileSize: defaults.maxFileSize,
  };
  for (const [key, value] of Object.entries(flat)) {
    assert.deepEqual(properties[`torchpit.${key}`]?.default, value, `torchpit.${key}`);
  }
  for (const key of ["interpreter", "importStrategy", "trace.server"]) {
    assert.ok(properties[`torchpit.${key}`], `torchpit.${key} is declared`);
  }
});

test("user values become the server's settings object", () => {
  const settings = readServerSettings(
    section({
      enable: false,
      select: ["PIT1", 3],
      ignore: ["PIT301"],
      severity: { PIT1: "error" },
      run: "onSave",
      debounce: 400,
      jedi: false,
      "probe.enable": true,
      "probe.device": "cuda",
      "probe.timeout": 5,
      diagnosticMode: "workspace",
      maxFileSize: 0,
    }),
  );
  assert.deepEqual(settings, {
    enable: false,
    select: ["PIT1"],
    ignore: ["PIT301"],
    severity: { PIT1: "error" },
    run: "onSave",
    debounce: 400,
    jedi: false,
    pythonPath: null,
    probe: { enable: true, device: "cuda", timeout: 5 },
    diagnosticMode: "workspace",
    maxFileSize: 0,
  });
});

test("invalid values fall back to defaults", () => {
  const settings = readServerSettings(section({ run: "sometimes", debounce: -5, select: "PIT1", severity: null, diagnosticMode: "everything" }));
  assert.equal(settings.run, "onType");
  assert.equal(settings.diagnosticMode, "openFilesOnly");
  assert.equal(settings.debounce, 0);
  assert.deepEqual(settings.select, []);
  assert.deepEqual(settings.severity, {});
});

test("launch settings expand variables in the interpreter", () => {
  const launch = readLaunchSettings(
    section({ interpreter: ["${workspaceFolder}/.venv/bin/python", "-X", "utf8"], importStrategy: "fromEnvironment" }),
    { workspaceFolder: "/proj", userHome: "/home/me" },
  );
  assert.deepEqual(launch, { interpreter: ["/proj/.venv/bin/python", "-X", "utf8"], importStrategy: "fromEnvironment" });
  assert.deepEqual(readLaunchSettings(section({ importStrategy: "bogus" }), { userHome: "/h" }), {
    interpreter: [],
    importStrategy: "useBundled",
  });
});

test("expandVariables leaves unknown and unavailable variables alone", () => {
  assert.equal(expandVariables("${userHome}/py", { userHome: "/home/me" }), "/home/me/py");
  assert.equal(expandVariables("${workspaceFolder}/py", { userHome: "/h" }), "${workspaceFolder}/py");
  assert.equal(expandVariables("${env:HOME}", { userHome: "/h" }), "${env:HOME}");
});

test("only launch settings need a restart", () => {
  const changed = (...sections: string[]) => (s: string) => sections.some((c) => c === s || c.startsWith(`${s}.`));
  assert.equal(needsRestart(changed("torchpit.interpreter")), true);
  assert.equal(needsRestart(changed("torchpit.importStrategy")), true);
  assert.equal(needsRestart(changed("torchpit.select")), false);
  assert.equal(needsRestart(changed("torchpit.probe.enable")), false);
});

test("Restricted Mode: limited support, the workspace's interpreter setting restricted", () => {
  const { capabilities } = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as {
    capabilities?: { untrustedWorkspaces?: { supported: unknown; restrictedConfigurations?: string[] } };
  };
  assert.equal(capabilities?.untrustedWorkspaces?.supported, "limited");
  assert.deepEqual(capabilities?.untrustedWorkspaces?.restrictedConfigurations, ["torchpit.interpreter"]);
});
