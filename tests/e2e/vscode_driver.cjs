// Drives VS Code (code-server) in headless Chromium through playwright-core, as a user would:
// opens the workspace's .py file and notebook, reads the Problems panel, hovers, applies a quick
// fix, types a new pitfall and runs every command the extension contributes.
// Called by tests/e2e/test_vscode.py with:
//   PLAYWRIGHT_CORE (the module's path), TORCHPIT_URL (code-server with ?folder=), TORCHPIT_ARTIFACTS
//   (screenshots go here), TORCHPIT_RESULT (a JSON file: the steps done, and the error if any),
//   TORCHPIT_COMMANDS (JSON: the commands package.json contributes, [{command, title, category}]).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const URL = process.env.TORCHPIT_URL;
const ARTIFACTS = process.env.TORCHPIT_ARTIFACTS;
const RESULT = process.env.TORCHPIT_RESULT;
const COMMANDS = JSON.parse(process.env.TORCHPIT_COMMANDS || "[]");
const WAIT = Number(process.env.TORCHPIT_WAIT_MS || 60000);

const result = { steps: [], problems: {}, notifications: [], console_errors: [] };
let page;
let shot = 0;

function save() {
  fs.writeFileSync(RESULT, JSON.stringify(result, null, 2));
}

async function screenshot(name) {
  shot += 1;
  const file = path.join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file }).catch(() => undefined);
  return file;
}

async function step(name, body) {
  const started = Date.now();
  try {
    const detail = await body();
    result.steps.push({ name, ok: true, ms: Date.now() - started, detail: detail ?? null });
    await screenshot(name);
    save();
  } catch (error) {
    const file = await screenshot(`FAILED-${name}`);
    result.steps.push({ name, ok: false, ms: Date.now() - started, screenshot: file });
    result.error = `${name}: ${error && error.stack ? error.stack : String(error)}`;
    result.notifications = await notificationTexts().catch(() => []);
    save();
    throw error;
  }
}

/** Polls `probe` until it returns a truthy value; fails with `what` and the last value. */
async function until(what, probe, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await probe().catch((e) => `(${e.message})`);
    if (last && !(typeof last === "string" && last.startsWith("("))) {
      return last;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

async function runCommand(label) {
  const input = page.locator(".quick-input-widget input");
  for (let attempt = 0; ; attempt++) {
    await page.keyboard.press("Escape");
    await page.keyboard.press("F1");
    try {
      await input.waitFor({ state: "visible", timeout: 3000 });
      break;
    } catch (error) {
      if (attempt === 3) {
        throw error;
      }
      // The keyboard focus is in a webview (the markdown preview): give it back to the workbench.
      await page.locator(".part.sidebar .title-label").first().click();
    }
  }
  await input.fill(`>${label}`);
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first();
  await row.waitFor({ state: "visible", timeout: 10000 });
  await page.waitForTimeout(200);
  await input.press("Enter");
}

/** The Problems panel as {resource label: [codes...]}, with every row expanded. */
async function problems() {
  return page.evaluate(() => {
    const out = {};
    let resource = null;
    for (const row of document.querySelectorAll(".markers-panel .monaco-list-row")) {
      const label = row.getAttribute("aria-label") || "";
      if (row.querySelector(".marker-resource, .resource-label, .file-icon") && !row.querySelector(".marker-code, .marker-source")) {
        resource = (row.innerText || "").split("\n")[0].trim();
        out[resource] = out[resource] || [];
        continue;
      }
      const codes = (row.innerText || label).match(/PIT\d{3}/g);
      if (resource && codes) {
        out[resource].push(...codes);
      }
    }
    return out;
  });
}

async function notificationTexts() {
  return page.evaluate(() =>
    [...document.querySelectorAll(".notifications-toasts .notification-list-item, .notifications-center .notification-list-item")].map(
      (n) => n.innerText.replace(/\s+/g, " ").trim(),
    ),
  );
}

/** Waits for a notification matching `pattern` in the notification center (toasts hide older ones). */
async function waitNotification(what, pattern) {
  await runCommand("Notifications: Show Notifications");
  try {
    return await until(what, async () => (await notificationTexts()).find((t) => pattern.test(t)) ?? null);
  } finally {
    await page.keyboard.press("Escape"); // closes the center
  }
}

async function editorText() {
  return editorTextIn(".editor-instance");
}

/** The visible lines of the editor inside `selector`, in order. */
async function editorTextIn(selector) {
  return page.evaluate((selector) => {
    const lines = [...document.querySelectorAll(`${selector} .view-lines .view-line`)];
    lines.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
    return lines.map((l) => l.innerText.replace(/\u00a0/g, " ")).join("\n");
  }, selector);
}

/** In the open Quick Fix menu, moves to the action whose label matches and applies it. */
async function chooseAction(pattern) {
  const rows = page.locator(".action-widget .monaco-list-row.action");
  await rows.first().waitFor({ state: "visible", timeout: 15000 });
  const offered = (await rows.evaluateAll((els) => els.map((e) => e.getAttribute("aria-label") || e.innerText))).filter(Boolean);
  for (let i = 0; i < offered.length + 1; i++) {
    const focused = await page.locator(".action-widget .monaco-list-row.action.focused").getAttribute("aria-label").catch(() => "");
    if (focused && pattern.test(focused)) {
      await page.keyboard.press("Enter");
      return offered;
    }
    await page.keyboard.press("ArrowDown");
  }
  throw new Error(`no action matching ${pattern} among ${JSON.stringify(offered)}`);
}

async function goTo(line, column) {
  await runCommand("Go to Line/Column");
  await page.keyboard.type(`${line}:${column}`);
  await page.keyboard.press("Enter");
  await page.waitForTimeout(200);
}

(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.TORCHPIT_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1500, height: 1000 } });
    page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" && result.console_errors.length < 50) {
        result.console_errors.push(m.text().slice(0, 300));
      }
    });

    await step("workbench", async () => {
      await page.goto(URL);
      await page.locator(".monaco-workbench").waitFor({ timeout: WAIT });
      await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "train.py" }).waitFor({ timeout: WAIT });
    });

    await step("file-problems", async () => {
      await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "train.py" }).click();
      await runCommand("View: Focus Problems");
      const found = await until("PIT101 and PIT301 for train.py in the Problems panel", async () => {
        const p = await problems();
        const codes = p["train.py"] || [];
        return codes.includes("PIT101") && codes.includes("PIT301") ? p : null;
      });
      result.problems.file = found;
      return found;
    });

    await step("file-squiggles", async () => {
      const squiggles = page.locator(".editor-instance .squiggly-warning, .editor-instance .squiggly-error, .editor-instance .squiggly-info");
      return until("two squiggles in train.py", async () => ((await squiggles.count()) >= 2 ? await squiggles.count() : null));
    });

    await step("hover", async () => {
      await goTo(7, 30);
      await runCommand("Show or Focus Hover");
      const hover = page.locator(".monaco-hover:not(.hidden)").first();
      const text = await until("a hover with PIT101's documentation", async () => {
        const t = (await hover.innerText()).trim();
        return /PIT101/.test(t) ? t : null;
      });
      return text.slice(0, 300);
    });

    await step("quick-fix", async () => {
      await page.keyboard.press("Escape");
      await goTo(7, 30);
      await runCommand("Quick Fix...");
      const offered = await chooseAction(/^Fix PIT101/);
      const line = await until("line 7 without the softmax", async () => {
        const text = await editorText();
        const l = text.split("\n")[6] || "";
        return l.includes("F.cross_entropy(logits, y)") ? l : null;
      });
      await until("PIT101 gone from train.py", async () => {
        const codes = (await problems())["train.py"] || [];
        return codes.includes("PIT301") && !codes.includes("PIT101");
      });
      return { offered, line };
    });

    await step("type-new-pitfall", async () => {
      await goTo(8, 16);
      await page.keyboard.press("End");
      await page.keyboard.press("Enter");
      await page.keyboard.type("bad = F.cross_entropy(F.softmax(logits, dim=1), y");
      await until("PIT101 again, for the typed line", async () => {
        const codes = (await problems())["train.py"] || [];
        return codes.includes("PIT101") ? codes : null;
      });
      const squiggles = page.locator(".editor-instance .squiggly-warning, .editor-instance .squiggly-error, .editor-instance .squiggly-info");
      return until("a squiggle on the typed line", async () => ((await squiggles.count()) >= 2 ? await editorText() : null));
    });

    await step("notebook-problems", async () => {
      await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "explore.ipynb" }).click();
      await page.locator(".notebook-editor:visible .cell-editor-container").first().waitFor({ timeout: WAIT });
      await runCommand("View: Focus Problems");
      const found = await until("PIT101 and PIT301 for the notebook's cells in the Problems panel", async () => {
        const p = await problems();
        const codes = Object.entries(p)
          .filter(([k]) => k.includes("explore.ipynb"))
          .flatMap(([, v]) => v);
        return codes.includes("PIT101") && codes.includes("PIT301") ? p : null;
      });
      result.problems.notebook = found;
      return found;
    });

    await step("notebook-cell-squiggle-and-quick-fix", async () => {
      const squiggles = page.locator(".notebook-editor:visible .cell-editor-container .squiggly-warning");
      await until("squiggles in the notebook's cells", async () => ((await squiggles.count()) >= 2 ? true : null));
      const box = await squiggles.first().boundingBox();
      const x = box.x + box.width / 2;
      const y = box.y + box.height / 2;
      await page.mouse.move(x, y);
      const hover = await until("a hover over the cell's PIT101", async () => {
        const t = await page.locator(".monaco-hover:not(.hidden)").first().innerText();
        return /PIT101/.test(t) ? t.slice(0, 200) : null;
      });
      await page.mouse.click(x, y);
      await page.keyboard.press("Escape");
      await runCommand("Quick Fix...");
      await chooseAction(/^Fix PIT101/);
      await until("PIT101 gone from the notebook", async () => {
        const codes = Object.entries(await problems())
          .filter(([k]) => k.includes("explore.ipynb"))
          .flatMap(([, v]) => v);
        return codes.includes("PIT301") && !codes.includes("PIT101");
      });
      const errors = (await notificationTexts()).filter((t) => /not analysed|failed/i.test(t));
      if (errors.length) {
        throw new Error(`error notifications: ${errors.join(" | ")}`);
      }
      return { hover };
    });

    await step("trace-output", async () => {
      // The workspace sets torchpit.trace.server to verbose; the window stays at the info level.
      await runCommand("Output: Show Output Channels");
      const input = page.locator(".quick-input-widget input");
      await input.fill("torchpit Trace");
      await page.locator(".quick-input-list .monaco-list-row", { hasText: "torchpit Trace" }).first().waitFor({ timeout: 10000 });
      await input.press("Enter");
      return until("the protocol trace", async () => {
        const t = await editorTextIn('[id="workbench.panel.output"]');
        return /Sending (request|notification) '/.test(t) && /Params:|Result:/.test(t) ? t.slice(0, 600) : null;
      });
    });

    for (const { command, title, category } of COMMANDS) {
      const label = `${category}: ${title}`;
      await step(`command-${command}`, async () => {
        await page.keyboard.press("Escape");
        await runCommand(label.replace(/…$/, ""));
        if (command === "torchpit.restart") {
          // the server comes back: the notebook's findings are published again
          await page.waitForTimeout(1000);
          await runCommand("View: Focus Problems");
          return until("findings after the restart", async () => {
            const codes = Object.values(await problems()).flat();
            return codes.includes("PIT301") ? codes : null;
          });
        }
        if (command === "torchpit.showLogs") {
          // Started twice: at activation and by the Restart Server command before.
          const log = await until("the torchpit log with both starts of the server", async () => {
            const t = await editorTextIn('[id="workbench.panel.output"]');
            return (t.match(/Starting the server/g) || []).length >= 2 ? t : null;
          });
          // Ordinary server output is not an error (stderr used to land at [error]).
          const errors = log.split("\n").filter((l) => /\[error\]/.test(l));
          if (errors.length) {
            throw new Error(`errors in the torchpit log: ${errors.join(" | ")}`);
          }
          return log.slice(0, 1500);
        }
        if (command === "torchpit.explainRule") {
          const input = page.locator(".quick-input-widget input");
          await input.waitFor({ state: "visible", timeout: 10000 });
          await input.fill("PIT301");
          await input.press("Enter");
          const tab = page.locator(".tabs-container .tab", { hasText: "PIT301" }).first();
          await tab.waitFor({ timeout: 20000 });
          const tabs = await page.locator(".tabs-container .tab").allInnerTexts();
          const dirty = await page.locator(".tabs-container .tab.dirty").count();
          if (dirty > 0 || tabs.some((t) => /Untitled/.test(t))) {
            throw new Error(`Explain Rule left an unsaved tab: ${JSON.stringify(tabs)}`);
          }
          const shown = await until("PIT301's documentation rendered in the preview", async () => {
            for (const frame of page.frames().filter((f) => f !== page.mainFrame())) {
              const text = await frame.evaluate(() => (document.body ? document.body.innerText : "")).catch(() => "");
              if (/PIT301/.test(text) && /dropout/i.test(text)) {
                return text.slice(0, 300);
              }
            }
            return null;
          });
          return { tabs, shown };
        }
        if (command === "torchpit.confirmWithProbe") {
          return until("the probe-is-off message", async () => {
            const texts = await notificationTexts();
            return texts.find((t) => /probe is off/.test(t)) ?? null;
          });
        }
        throw new Error(`no check for the contributed command ${command}: add one`);
      });
    }
    // The interpreter setting: a server that fails to start, then Python 3.9, then the good one
    // again. The server must come back without reloading the window.
    const settingsFile = process.env.TORCHPIT_SETTINGS_FILE;
    const settings = JSON.parse(fs.readFileSync(settingsFile, "utf8"));
    const setInterpreter = (command) =>
      fs.writeFileSync(settingsFile, JSON.stringify({ ...settings, "torchpit.interpreter": command }, null, 2));
    const codesShown = async () => Object.values(await problems()).flat();

    await step("failed-start", async () => {
      await runCommand("Notifications: Clear All Notifications");
      await runCommand("View: Focus Problems");
      setInterpreter([process.env.TORCHPIT_BROKEN_PYTHON]);
      await until("no findings while the server is down", async () => ((await codesShown()).length === 0 ? true : null));
      return waitNotification("the did-not-start message", /the server did not start/);
    });

    await step("old-python", async () => {
      setInterpreter([process.env.TORCHPIT_OLD_PYTHON]);
      return waitNotification("the Python 3.10 message", /needs Python 3\.10 or newer; .* is Python 3\.9\.18/);
    });

    await step("recovered", async () => {
      setInterpreter(settings["torchpit.interpreter"]);
      await runCommand("View: Focus Problems");
      return until("findings again once the interpreter is fixed", async () => {
        const codes = await codesShown();
        return codes.includes("PIT301") ? codes : null;
      });
    });

    await step("restart-after-failed-start", async () => {
      setInterpreter([process.env.TORCHPIT_BROKEN_PYTHON]);
      await until("no findings while the server is down", async () => ((await codesShown()).length === 0 ? true : null));
      // Back to the good interpreter in the file, but the restart is what brings it back here:
      // the settings change and the command race, both must end with one running server.
      setInterpreter(settings["torchpit.interpreter"]);
      await runCommand("torchpit: Restart Server");
      return until("findings after Restart Server", async () => {
        const codes = await codesShown();
        return codes.includes("PIT301") ? codes : null;
      });
    });

    result.notifications = await notificationTexts();
    result.ok = true;
    save();
  } finally {
    await browser.close();
  }
})().catch((error) => {
  result.ok = false;
  result.error = result.error || String(error && error.stack ? error.stack : error);
  save();
  console.error(result.error);
  process.exit(1);
});
