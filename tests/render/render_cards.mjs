// Render gallery cards to PNG with the official Adaptive Cards renderer and the Teams
// light host config, in headless Debian Chromium (playwright-core). No network.
//
//   node tests/render/render_cards.mjs --in GALLERY_DIR --out PNG_DIR [--only a.json,b.json]
//
// Prints one JSON object: {"cards": {"name.json": {"errors": [...], "warnings": [...],
// "width": W, "height": H, "png": path}}}. Exit status 1 when any card reports an error.

import { chromium } from "playwright-core";
import { mkdirSync, readdirSync, readFileSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const modules = join(root, "node_modules");
const rendererJs = join(modules, "adaptivecards", "dist", "adaptivecards.min.js");
const hostConfigPath = join(
  modules, "adaptivecards-designer", "lib", "hostConfigs", "microsoft-teams-light.json",
);
const teamsCss = join(
  modules, "adaptivecards-designer", "dist", "containers", "teams-container-light.css",
);

function parseArgs(argv) {
  const args = { in: null, out: null, only: null, width: 480 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    args[key] = argv[i + 1];
  }
  if (!args.in || !args.out) {
    console.error("usage: render_cards.mjs --in GALLERY_DIR --out PNG_DIR [--only a.json,b.json]");
    process.exit(2);
  }
  args.width = Number(args.width);
  return args;
}

// The page: a Teams-like chat background, a message bubble with the bot's name, and a
// minimal markdown processor (bold, italics, bullet lists, links) as Teams renders them.
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><style>
  body { margin: 0; background: #F5F5F5; font-family: 'Segoe UI', 'Liberation Sans', 'DejaVu Sans', sans-serif; }
  #stage { padding: 16px; display: inline-block; }
  .bubble { background: white; border-radius: 6px; padding: 12px 16px 16px 16px;
            box-shadow: 0 1px 2px rgba(0,0,0,0.12); }
  .who { font-size: 12px; color: #616161; margin-bottom: 8px; }
  .who b { color: #242424; font-weight: 600; margin-right: 8px; }
  .teams-card { box-sizing: border-box; }
  .ac-pushButton { font-family: inherit; font-weight: 600; }
  .ac-pushButton.ac-primary, .ac-pushButton.primary { background-color: #6264A7; color: white; border-color: #6264A7; }
  .ac-pushButton.ac-style-destructive, .ac-pushButton.style-destructive { color: #C4314B; border-color: #E6A5B0; }
  .ac-textBlock p { margin: 0; }
  .ac-textBlock ul { margin: 0; padding-left: 20px; }
</style></head><body><div id="stage"></div></body></html>`;

function renderInPage({ card, hostConfig, width }) {
  /* global AdaptiveCards, document */
  const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const inline = (s) => escape(s)
    .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*(?!\s)(.+?)\*/g, "$1<em>$2</em>")
    .replace(/\[([^\]]+)\]\(([^)]+)\)/g, '<a class="ac-anchor" href="$2">$1</a>');
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
    const lines = text.split("\n");
    const html = [];
    let list = false;
    for (const line of lines) {
      const m = /^\s*[-*]\s+(.*)$/.exec(line);
      if (m) {
        if (!list) { html.push("<ul>"); list = true; }
        html.push(`<li>${inline(m[1])}</li>`);
      } else {
        if (list) { html.push("</ul>"); list = false; }
        html.push(line === "" ? "<p>&nbsp;</p>" : `<p>${inline(line)}</p>`);
      }
    }
    if (list) html.push("</ul>");
    result.outputHtml = html.join("");
    result.didProcess = true;
  };
  const stage = document.getElementById("stage");
  stage.innerHTML = "";
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.style.width = `${width}px`;
  const who = document.createElement("div");
  who.className = "who";
  who.innerHTML = "<b>Whoknows</b>2:36 PM";
  bubble.appendChild(who);
  const host = document.createElement("div");
  host.className = "teams-card";
  bubble.appendChild(host);
  stage.appendChild(bubble);

  const errors = [];
  const warnings = [];
  const ac = new AdaptiveCards.AdaptiveCard();
  ac.hostConfig = new AdaptiveCards.HostConfig(hostConfig);
  const context = new AdaptiveCards.SerializationContext();
  context.targetVersion = AdaptiveCards.Versions.v1_5;
  try {
    ac.parse(card, context);
  } catch (e) {
    errors.push(`parse threw: ${e}`);
  }
  for (let i = 0; i < context.eventCount; i++) {
    const ev = context.getEventAt(i);
    const item = `${AdaptiveCards.ValidationEvent[ev.event]}: ${ev.message}`;
    // Hints and deprecations are advice; everything else means the card isn't what we meant.
    if (ev.event === AdaptiveCards.ValidationEvent.Hint) warnings.push(item);
    else errors.push(item);
  }
  const results = ac.validateProperties();
  for (const ev of results.validationEvents) {
    errors.push(`${AdaptiveCards.ValidationEvent[ev.event]}: ${ev.message}`);
  }
  let element;
  try {
    element = ac.render();
  } catch (e) {
    errors.push(`render threw: ${e}`);
  }
  if (!element) errors.push("render returned nothing");
  else host.appendChild(element);
  const rect = bubble.getBoundingClientRect();
  return { errors, warnings, width: Math.round(rect.width), height: Math.round(rect.height) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const inDir = resolve(args.in);
  const outDir = resolve(args.out);
  mkdirSync(outDir, { recursive: true });
  let names = readdirSync(inDir).filter((n) => n.endsWith(".json")).sort();
  if (args.only) {
    const wanted = new Set(args.only.split(","));
    names = names.filter((n) => wanted.has(n));
  }
  const hostConfig = JSON.parse(readFileSync(hostConfigPath, "utf8"));
  const profile = mkdtempSync(join(tmpdir(), "whoknows-render-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: args.width + 80, height: 800 },
    deviceScaleFactor: 1,
  });
  const report = { cards: {} };
  let failed = false;
  try {
    const page = context.pages()[0] || (await context.newPage());
    // Nothing leaves the machine: block every request that isn't the page itself.
    await page.route("**/*", (route) => route.abort());
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.setContent(PAGE);
    await page.addStyleTag({ path: teamsCss });
    await page.addScriptTag({ path: rendererJs });
    for (const name of names) {
      pageErrors.length = 0;
      const card = JSON.parse(readFileSync(join(inDir, name), "utf8"));
      const result = await page.evaluate(renderInPage, { card, hostConfig, width: args.width });
      result.errors.push(...pageErrors);
      const png = join(outDir, name.replace(/\.json$/, ".png"));
      await page.locator("#stage").screenshot({ path: png });
      result.png = png;
      report.cards[name] = result;
      if (result.errors.length) failed = true;
    }
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(3);
});
