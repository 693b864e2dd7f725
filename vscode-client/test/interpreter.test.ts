import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { interpreterProblem, parseVersion, supported } from "../src/interpreter";

const dir = mkdtempSync(path.join(os.tmpdir(), "torchpit-interp-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An executable that answers `-c ...` like a Python of the given version. */
function fakePython(version: string): string {
  const file = path.join(dir, `python${version}`);
  writeFileSync(file, `#!/bin/sh\necho ${version}\n`);
  chmodSync(file, 0o755);
  return file;
}

test("versions are parsed and 3.10 is the oldest supported", () => {
  assert.deepEqual(parseVersion("3.9.18\n"), [3, 9, 18]);
  assert.equal(parseVersion("Python 3.9"), undefined);
  assert.equal(supported([3, 9, 18]), false);
  assert.equal(supported([3, 10, 0]), true);
  assert.equal(supported([3, 13, 1]), true);
  assert.equal(supported([4, 0, 0]), true);
  assert.equal(supported([2, 7, 18]), false);
});

test("Python 3.9 is refused with the reason", { skip: process.platform === "win32" }, async () => {
  const python = fakePython("3.9.18");
  const problem = await interpreterProblem([python], process.env);
  assert.match(problem ?? "", /torchpit needs Python 3\.10 or newer; .*python3\.9\.18 is Python 3\.9\.18/);
});

test("a missing interpreter is named", async () => {
  const problem = await interpreterProblem([path.join(dir, "no-such-python")], process.env);
  assert.match(problem ?? "", /no-such-python was not found/);
});

test("a real interpreter passes", async () => {
  const python = process.env.TORCHPIT_PYTHON ?? "python3";
  assert.equal(await interpreterProblem([python], process.env), undefined);
  assert.equal(await interpreterProblem([python, "-X", "utf8"], process.env), undefined);
});
