// Pure helpers behind the commands. No `vscode` import.

/** The parts of a VS Code diagnostic read here. */
export interface DiagnosticLike {
  source?: string;
  code?: string | number | { value: string | number };
}

export function ruleCode(diagnostic: DiagnosticLike): string | undefined {
  if (diagnostic.source !== "torchpit" || diagnostic.code === undefined) {
    return undefined;
  }
  return String(typeof diagnostic.code === "object" ? diagnostic.code.value : diagnostic.code);
}

/** The distinct torchpit rule codes among the diagnostics, sorted. */
export function ruleCodes(diagnostics: Iterable<DiagnosticLike>): string[] {
  const codes = new Set<string>();
  for (const diagnostic of diagnostics) {
    const code = ruleCode(diagnostic);
    if (code) {
      codes.add(code);
    }
  }
  return [...codes].sort();
}

/** A rule as typed in the quick pick: a code (`pit101` -> `PIT101`) or a rule name, as is. */
export function normalizeRule(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === "") {
    return undefined;
  }
  return /^pit\d+$/i.test(trimmed) ? trimmed.toUpperCase() : trimmed;
}

/** The text of a command's answer (`torchpit.explain`, `torchpit.runProbe`): a string or a MarkupContent. */
export function answerText(result: unknown): string | undefined {
  if (typeof result === "string") {
    return result;
  }
  if (typeof result === "object" && result !== null && typeof (result as { value?: unknown }).value === "string") {
    return (result as { value: string }).value;
  }
  return undefined;
}

/** The URI scheme of the read-only rule documentation ("Explain Rule"). */
export const RULE_DOC_SCHEME = "torchpit-rule";

/** The path of a rule's documentation: `PIT101` -> `PIT101.md` (the `.md` makes it markdown). */
export function ruleDocPath(rule: string): string {
  return `${encodeURIComponent(rule)}.md`;
}

/** The rule of a documentation path: `PIT101.md` -> `PIT101`; undefined for any other path. */
export function ruleOfDocPath(docPath: string): string | undefined {
  const match = /^\/?([^/]+)\.md$/.exec(docPath);
  return match ? decodeURIComponent(match[1]) : undefined;
}
