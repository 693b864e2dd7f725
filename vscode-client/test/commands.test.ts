import assert from "node:assert/strict";
import { test } from "node:test";
import { answerText, normalizeRule, ruleCode, ruleCodes, ruleDocPath, ruleOfDocPath } from "../src/commands";

test("rule codes come from torchpit diagnostics only", () => {
  assert.equal(ruleCode({ source: "torchpit", code: "PIT101" }), "PIT101");
  assert.equal(ruleCode({ source: "torchpit", code: { value: "PIT301" } }), "PIT301");
  assert.equal(ruleCode({ source: "Pylance", code: "reportMissingImports" }), undefined);
  assert.equal(ruleCode({ source: "torchpit" }), undefined);
  assert.deepEqual(
    ruleCodes([
      { source: "torchpit", code: "PIT301" },
      { source: "torchpit", code: { value: "PIT101" } },
      { source: "torchpit", code: "PIT101" },
      { source: "flake8", code: "E501" },
    ]),
    ["PIT101", "PIT301"],
  );
});

test("typed rules are normalized", () => {
  assert.equal(normalizeRule(" pit101 "), "PIT101");
  assert.equal(normalizeRule("softmax-before-cross-entropy"), "softmax-before-cross-entropy");
  assert.equal(normalizeRule("   "), undefined);
});

test("command answers: a string or a MarkupContent", () => {
  assert.equal(answerText("# PIT101"), "# PIT101");
  assert.equal(answerText({ kind: "markdown", value: "# PIT101" }), "# PIT101");
  assert.equal(answerText(null), undefined);
  assert.equal(answerText({ kind: "markdown" }), undefined);
});

test("rule documentation paths round-trip", () => {
  assert.equal(ruleDocPath("PIT101"), "PIT101.md");
  assert.equal(ruleOfDocPath("PIT101.md"), "PIT101");
  assert.equal(ruleOfDocPath("/PIT101.md"), "PIT101");
  assert.equal(ruleOfDocPath(`/${ruleDocPath("softmax before/after")}`), "softmax before/after");
  assert.equal(ruleOfDocPath("/a/b.txt"), undefined);
});
