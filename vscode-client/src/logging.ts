// Where the server's stderr lines go in the log: at the level the server logged them.
// Pure: no `vscode` import.

export type Level = "trace" | "debug" | "info" | "warn" | "error";

/** The sink of leveled lines: VS Code's LogOutputChannel has these methods. */
export type LevelSink = Record<Level, (message: string) => void>;

/** The server's log record: `2026-12-01 07:53:51,168 WARNING pygls.protocol: message` (server/__init__.py). */
const RECORD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$/;

const LEVELS: Record<string, Level> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warn",
  ERROR: "error",
  CRITICAL: "error",
};

/**
 * Records that say nothing went wrong although their logger chose a warning. pygls warns when
 * a `$/cancelRequest` names a request it has already answered, which happens on every
 * keystroke that outruns a hover or code-action request.
 */
const ROUTINE = [/^pygls\.[\w.]+: Cancel notification for unknown message id/];

/**
 * Splits the server's stderr into leveled messages. A line that is not a log record (a
 * traceback's lines, a multi-line message) belongs to the record before it; before any record,
 * and from a `Traceback` on, such lines are the interpreter's own complaint (an import error
 * at start, a crash) and are errors.
 */
export class StderrClassifier {
  private current: Level = "error";

  classify(line: string): { level: Level; message: string } {
    const match = RECORD.exec(line);
    if (match) {
      const message = match[2];
      this.current = ROUTINE.some((pattern) => pattern.test(message)) ? "debug" : LEVELS[match[1]];
      return { level: this.current, message };
    }
    if (line.startsWith("Traceback (most recent call last)")) {
      this.current = "error";
    }
    return { level: this.current, message: line };
  }

  /** Classifies the line and writes it to the sink at its level. */
  write(line: string, sink: LevelSink): void {
    const { level, message } = this.classify(line);
    sink[level](message);
  }
}

/** The trace channel's log level for a `torchpit.trace.server` value: tracing is on unless `off`. */
export function tracing(setting: string | undefined): boolean {
  return setting === "messages" || setting === "verbose";
}
