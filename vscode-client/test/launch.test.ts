import assert from "node:assert/strict";
import * as path from "node:path";
import { test } from "node:test";
import { bundledLibsPath, chooseInterpreter, serverCommand } from "../src/launch";

test("the setting wins over the Python extension", () => {
  assert.deepEqual(chooseInterpreter(["/venv/bin/python"], "/conda/bin/python", "linux"), {
    command: ["/venv/bin/python"],
    source: "setting",
  });
});

test("the Python extension's interpreter when the setting is empty", () => {
  assert.deepEqual(chooseInterpreter([], "/conda/bin/python", "linux"), {
    command: ["/conda/bin/python"],
    source: "pythonExtension",
  });
  assert.deepEqual(chooseInterpreter([""], "/conda/bin/python", "linux").source, "pythonExtension");
});

test("python3, or python on Windows, when nothing else is known", () => {
  assert.deepEqual(chooseInterpreter([], undefined, "linux"), { command: ["python3"], source: "default" });
  assert.deepEqual(chooseInterpreter([], undefined, "win32"), { command: ["python"], source: "default" });
});

test("fromEnvironment runs the environment's torchpit and leaves PYTHONPATH alone", () => {
  const command = serverCommand(
    { command: ["/venv/bin/python", "-X", "utf8"], source: "setting" },
    "fromEnvironment",
    "/ext/bundled/libs",
    { PATH: "/usr/bin", PYTHONPATH: "/mine" },
  );
  assert.equal(command.command, "/venv/bin/python");
  assert.deepEqual(command.args, ["-X", "utf8", "-m", "torchpit", "server"]);
  assert.equal(command.env.PYTHONPATH, "/mine");
  assert.equal(command.env.PATH, "/usr/bin");
  assert.equal(command.env.PYTHONUNBUFFERED, "1");
});

test("useBundled puts the bundled libraries first on PYTHONPATH", () => {
  const libs = bundledLibsPath("/ext");
  assert.equal(libs, path.join("/ext", "bundled", "libs"));
  const withPath = serverCommand({ command: ["python3"], source: "default" }, "useBundled", libs, {
    PYTHONPATH: "/mine",
  });
  assert.equal(withPath.env.PYTHONPATH, `${libs}${path.delimiter}/mine`);
  assert.deepEqual(withPath.args, ["-m", "torchpit", "server"]);
  const without = serverCommand({ command: ["python3"], source: "default" }, "useBundled", libs, {});
  assert.equal(without.env.PYTHONPATH, libs);
});

test("the base environment is not modified", () => {
  const base = { PYTHONPATH: "/mine" };
  serverCommand({ command: ["python3"], source: "default" }, "useBundled", "/libs", base);
  assert.deepEqual(base, { PYTHONPATH: "/mine" });
});
