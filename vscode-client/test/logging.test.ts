import assert from "node:assert/strict";
import { test } from "node:test";
import { type Level, StderrClassifier, tracing } from "../src/logging";

function run(lines: string[]): [Level, string][] {
  const classifier = new StderrClassifier();
  return lines.map((line) => {
    const { level, message } = classifier.classify(line);
    return [level, message];
  });
}

test("stderr records keep the level the server logged them at", () => {
  assert.deepEqual(
    run([
      "2026-12-01 07:53:51,168 INFO torchpit.server: debug info: {}",
      "2026-12-01 07:53:51,169 WARNING torchpit.server: malformed hover request: bad",
      "2026-12-01 07:53:51,170 ERROR torchpit.server: analysis of file:///a.py failed",
      "Traceback (most recent call last):",
      '  File "x.py", line 1',
      "2026-12-01 07:53:51,171 DEBUG torchpit.server: parsed",
    ]),
    [
      ["info", "torchpit.server: debug info: {}"],
      ["warn", "torchpit.server: malformed hover request: bad"],
      ["error", "torchpit.server: analysis of file:///a.py failed"],
      ["error", "Traceback (most recent call last):"],
      ["error", '  File "x.py", line 1'],
      ["debug", "torchpit.server: parsed"],
    ],
  );
});

test("a cancel for a request already answered is routine, not an error", () => {
  const line = '2026-12-01 07:53:51,168 WARNING pygls.protocol.json_rpc: Cancel notification for unknown message id "12"';
  assert.deepEqual(run([line]), [["debug", 'pygls.protocol.json_rpc: Cancel notification for unknown message id "12"']]);
});

test("continuation lines follow their record; the interpreter's own output is an error", () => {
  assert.deepEqual(
    run([
      "ImportError: cannot import name 'get_annotations' from 'inspect'",
      "2026-12-01 07:53:51,168 INFO torchpit.server: line one",
      "line two of the same message",
      "Traceback (most recent call last):",
    ]).map(([level]) => level),
    ["error", "info", "info", "error"],
  );
});

test("write sends each line to the sink method of its level", () => {
  const seen: string[] = [];
  const sink = Object.fromEntries(
    (["trace", "debug", "info", "warn", "error"] as const).map((level) => [level, (m: string) => void seen.push(`${level}:${m}`)]),
  ) as Record<Level, (m: string) => void>;
  new StderrClassifier().write("2026-12-01 07:53:51,168 INFO torchpit.server: hello", sink);
  assert.deepEqual(seen, ["info:torchpit.server: hello"]);
});

test("tracing is on for messages and verbose only", () => {
  assert.equal(tracing("verbose"), true);
  assert.equal(tracing("messages"), true);
  assert.equal(tracing("off"), false);
  assert.equal(tracing(undefined), false);
});
