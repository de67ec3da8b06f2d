// Open facetex report pages in headless Chromium and report on their 3D viewer as JSON.
//
// usage: node viewer_check.mjs OUT_DIR URL [URL ...]
// For each URL: waits for window.__viewerReady (or __viewerError), screenshots the viewer's
// canvas to OUT_DIR/viewer-<i>.png and collects console errors, page errors and failed
// requests. Prints one JSON object {pages: [...]} on stdout. Exits 0 unless Chromium itself
// could not be driven (the Python test judges the results). With FULL_PAGE=1 it also saves a
// full-page screenshot as OUT_DIR/page-<i>.png (for looking at the layout by hand). With
// SLIDER=<input id> it then sets that expression slider to 1, and screenshots the canvas again as
// OUT_DIR/viewer-<i>-slider.png; each page's result lists the expression controls found.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [outDir, ...urls] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const profile = mkdtempSync(join(tmpdir(), 'facetex-chromium-'));
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args, viewport: { width: 1100, height: 900 },
  });
  const pages = [];
  for (const [index, url] of urls.entries()) {
    const page = await context.newPage();
    const consoleErrors = [];
    const pageErrors = [];
    const failedRequests = [];
    page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('requestfailed', (req) => failedRequests.push(req.url().slice(0, 200)));
    page.on('response', (res) => { if (res.status() >= 400) failedRequests.push(`${res.status()} ${res.url().slice(0, 200)}`); });
    const result = { url, ready: false, error: null, consoleErrors, pageErrors, failedRequests };
    try {
      await page.goto(url, { waitUntil: 'load', timeout: 60000 });
      await page.waitForFunction(() => window.__viewerReady === true || window.__viewerError !== undefined,
        null, { timeout: 90000 });
      result.ready = await page.evaluate(() => window.__viewerReady === true);
      result.error = await page.evaluate(() => window.__viewerError ?? null);
      result.webgl = await page.evaluate(() => {
        const gl = document.createElement('canvas').getContext('webgl2');
        return gl ? gl.getParameter(gl.VERSION) : null;
      });
      result.sections = await page.evaluate(() => Array.from(document.querySelectorAll('section')).map((s) => s.id));
      const brokenImages = await page.evaluate(() => Array.from(document.images)
        .filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.getAttribute('src')));
      result.brokenImages = brokenImages;
      if (result.ready) {
        result.screenshot = join(outDir, `viewer-${index}.png`);
        await page.locator('#viewer canvas').screenshot({ path: result.screenshot });
        result.expressions = await page.evaluate(() => Array.from(
          document.querySelectorAll('#viewer-expressions input, #viewer-expressions button')).map((e) => e.id));
        const slider = process.env.SLIDER;
        if (slider && result.expressions.includes(slider)) {
          const before = await page.evaluate(() => window.__viewerFrames);
          await page.locator(`#${slider}`).fill('1');  // sets the value and fires 'input'
          await page.waitForFunction((n) => window.__viewerFrames > n, before, { timeout: 30000 });
          result.sliderScreenshot = join(outDir, `viewer-${index}-slider.png`);
          await page.locator('#viewer canvas').screenshot({ path: result.sliderScreenshot });
        }
      }
      if (process.env.FULL_PAGE === '1') {
        await page.screenshot({ path: join(outDir, `page-${index}.png`), fullPage: true });
      }
    } catch (err) {
      result.error = result.error || String(err);
    }
    pages.push(result);
    await page.close();
  }
  process.stdout.write(JSON.stringify({ pages }) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ fatal: String(err) }) + '\n');
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
