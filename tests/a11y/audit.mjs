// The accessibility audit of rendered HTML pages: axe-core's WCAG 2.0/2.1/2.2 A and AA
// rules in the system's headless Chromium (playwright-core drives it; no browser is
// downloaded). Every request that leaves the page's own folder is blocked and reported,
// so a page that needs the network to be read fails too.
//
//   node audit.mjs CHROMIUM PAGE.html...   → JSON on stdout: one entry per page
//
// Used by tests/test_e2e_accessibility.py; pinned by package-lock.json (`npm ci`).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

const [executablePath, ...pages] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const results = [];
try {
  for (const page_path of pages) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const network = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
      network.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(page_path).href, { waitUntil: "load" });
    await page.addScriptTag({ content: AXE });
    const axe = await page.evaluate(
      (tags) =>
        window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] }),
      TAGS,
    );
    results.push({
      page: page_path,
      network,
      violations: axe.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary, html: n.html.slice(0, 300) })),
      })),
    });
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results, null, 1));
