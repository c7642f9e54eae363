// Drives the impact map in Debian's Chromium (headless, through playwright-core) the way a
// responder would, and prints what the page showed as JSON on stdout; tests/test_web.py compares
// it with the GraphQL answers it fetches itself. Screenshots go to $IMPACT_MAP_ARTIFACTS.
//
//   IMPACT_MAP_URL        the service, e.g. http://127.0.0.1:8123/
//   IMPACT_MAP_KEY        an API key
//   IMPACT_MAP_SCENARIO   "demo" (search, impact, root cause, change, continuity) or "large"
//   IMPACT_MAP_PLAN       JSON: what to search and pick (chosen by the Python side)
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const URL_ = process.env.IMPACT_MAP_URL;
const KEY = process.env.IMPACT_MAP_KEY;
const SCENARIO = process.env.IMPACT_MAP_SCENARIO ?? 'demo';
const PLAN = JSON.parse(process.env.IMPACT_MAP_PLAN ?? '{}');
const ARTIFACTS = process.env.IMPACT_MAP_ARTIFACTS ?? 'test-artifacts/web';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = 60_000;

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

async function launch() {
  const profile = await mkdtemp(join(tmpdir(), 'impact-map-chromium-'));
  // a fresh profile each run (playwright passes it to Chromium as --user-data-dir)
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1600, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { context, profile };
}

async function shot(page, name, report) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  report.screenshots[name] = path;
}

async function signIn(page) {
  await page.goto(URL_);
  const dialog = byTestId(page, 'key-dialog');
  await dialog.waitFor({ state: 'visible' });
  await byTestId(page, 'api-key-input').fill(KEY);
  await byTestId(page, 'api-key-submit').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="status"]').textContent.startsWith('Signed in'));
}

async function layoutDone(page) {
  await page.waitForFunction(() => document.body.dataset.layout === 'done', null, { timeout: TIMEOUT });
}

// Types like a person (one key at a time) and picks the hit for `ciId` from the type-ahead.
async function searchAndPick(page, text, ciId, report = null) {
  const input = byTestId(page, 'search-input');
  await input.fill('');
  await input.pressSequentially(text, { delay: 40 });
  const hit = page.locator(`[data-testid="search-result"][data-ci-id="${ciId}"]`);
  await hit.waitFor({ state: 'visible' });
  const hits = await page.locator('[data-testid="search-result"]').evaluateAll((els) => els.map((e) => e.dataset.ciId));
  if (report) await shot(page, 'search', report);
  await hit.click();
  await layoutDone(page);
  return hits;
}

async function graphFacts(page) {
  return page.evaluate(() => {
    const { cy } = window.impactMap.graph;
    const ids = (selector) => cy.$(selector).map((n) => n.id()).sort();
    return {
      nodes: cy.nodes().length,
      edges: cy.edges().length,
      failed: ids('node.failed'), down: ids('node.down'), degraded: ids('node.degraded'), path: ids('node.path'),
      rootTop: ids('node.root-top'), targets: ids('node.target'), spofs: ids('node.spof'), cut: ids('node.cut'),
      withIncidents: ids('node.has-incident'), withChanges: ids('node.has-change'), collapsed: ids('node.collapsed'),
      layout: window.impactMap.graph.lastLayout,
    };
  });
}

// Where the canvas draws a node, in page coordinates, once the map is centred on it.
async function nodePoint(page, ciId) {
  await page.evaluate((id) => window.impactMap.graph.focus(id), ciId);
  await page.waitForTimeout(300);
  return page.evaluate((id) => {
    const { cy } = window.impactMap.graph;
    const box = cy.container().getBoundingClientRect();
    const p = cy.getElementById(id).renderedPosition();
    return { x: box.left + p.x, y: box.top + p.y };
  }, ciId);
}

async function clickNode(page, ciId) {
  const point = await nodePoint(page, ciId);
  await page.mouse.click(point.x, point.y);
}

// Shift-clicks a node where the canvas draws it (what a person does to mark a CI).
async function shiftClickNode(page, ciId) {
  const point = await nodePoint(page, ciId);
  await page.keyboard.down('Shift');
  await page.mouse.click(point.x, point.y);
  await page.keyboard.up('Shift');
}

async function demo(page, report) {
  await signIn(page);
  await shot(page, 'signed-in', report);
  // the key is kept while the tab is open: a reload signs in again without asking
  await page.reload();
  await page.waitForFunction(() => document.querySelector('[data-testid="status"]').textContent.startsWith('Signed in'));
  report.keyKeptOnReload = !(await byTestId(page, 'key-dialog').isVisible());
  await byTestId(page, 'change-window-days').fill(String(PLAN.changeWindowDays ?? 30));
  await byTestId(page, 'upstream-depth').fill(String(PLAN.upstreamDepth ?? 3));
  await byTestId(page, 'downstream-depth').fill(String(PLAN.downstreamDepth ?? 2));

  // 1. search a database by typing, draw its neighbourhood with badges
  report.searchHits = await searchAndPick(page, PLAN.searchText, PLAN.database, report);
  report.neighbourhood = {
    ...(await graphFacts(page)),
    badges: await page.locator('[data-testid="badge"]').evaluateAll((els) => els.map((e) => ({
      id: e.dataset.ciId, incidents: e.dataset.incidents.split(' ').filter(Boolean), changes: e.dataset.changes.split(' ').filter(Boolean),
    }))),
    stats: await byTestId(page, 'map-stats').textContent(),
    detail: await byTestId(page, 'ci-detail').textContent(),
  };
  await shot(page, 'neighbourhood', report);

  // 2. mark it failed and run impact
  await byTestId(page, 'mark-failed').click();
  await byTestId(page, 'tab-impact').click();
  await byTestId(page, 'run-impact').click();
  await byTestId(page, 'impact-severity').waitFor();
  report.impact = {
    marked: await page.locator('[data-testid="marked-ci"]').evaluateAll((els) => els.map((e) => e.dataset.ciId)),
    services: await page.locator('[data-testid="impacted-service"]').evaluateAll((rows) => rows.map((r) => ({
      id: r.dataset.ciId, state: r.dataset.state,
      criticality: r.querySelector('[data-testid="service-criticality"]').textContent,
      sla: r.querySelector('[data-testid="service-sla"]').textContent,
      path: r.querySelector('[data-testid="service-path"]').textContent,
    }))),
    severity: await byTestId(page, 'impact-severity').getAttribute('data-level'),
    severityText: await byTestId(page, 'impact-severity').textContent(),
  };
  const first = page.locator('[data-testid="impacted-service"]').first();
  if (await first.count()) await first.click();
  report.impact.graph = await graphFacts(page);
  await shot(page, 'impact', report);

  // 3. root cause: mark the symptoms on the map and rank the candidates
  await byTestId(page, 'clear-marks').click();
  for (const symptom of PLAN.symptoms) await shiftClickNode(page, symptom);
  await byTestId(page, 'tab-root-cause').click();
  report.rootCause = { marked: await page.locator('[data-testid="marked-ci"]').evaluateAll((els) => els.map((e) => e.dataset.ciId)) };
  await byTestId(page, 'run-root-cause').click();
  await page.locator('[data-testid="root-cause-candidate"]').first().waitFor();
  await layoutDone(page);
  report.rootCause.candidates = await page.locator('[data-testid="root-cause-candidate"]').evaluateAll((rows) => rows.map((r) => ({
    id: r.dataset.ciId, top: r.classList.contains('top'),
    score: r.querySelector('[data-testid="candidate-score"]').textContent,
    evidence: r.querySelector('[data-testid="candidate-evidence"]').textContent,
  })));
  report.rootCause.graph = await graphFacts(page);
  await shot(page, 'root-cause', report);

  // 4. a change: impact, risk, route, window and blackout warnings, conflicts
  await byTestId(page, 'tab-change').click();
  await byTestId(page, 'change-select').selectOption(PLAN.change);
  await byTestId(page, 'run-change-impact').click();
  await byTestId(page, 'change-risk').waitFor();
  await layoutDone(page);
  report.change = {
    risk: await byTestId(page, 'change-risk').getAttribute('data-score'),
    route: await byTestId(page, 'change-route').getAttribute('data-route'),
    factors: await page.locator('[data-testid="risk-factor"]').evaluateAll((rows) => rows.map((r) => r.dataset.name)),
    warnings: await page.locator('[data-testid="change-warning"]').evaluateAll((els) => els.map((e) => e.dataset.kind)),
    window: await byTestId(page, 'change-window').textContent(),
    conflicts: await page.locator('[data-testid="change-conflict"]').evaluateAll((els) => els.map((e) => e.dataset.changeId)),
    services: await page.locator('[data-testid="change-service"]').evaluateAll((els) => els.map((e) => e.dataset.ciId)),
    graph: await graphFacts(page),
  };
  await shot(page, 'change', report);

  // 5. continuity of a business service
  await byTestId(page, 'tab-continuity').click();
  await byTestId(page, 'service-select').selectOption(PLAN.service);
  await byTestId(page, 'run-continuity').click();
  await byTestId(page, 'continuity-availability').waitFor();
  await layoutDone(page);
  report.continuity = {
    spofs: await page.locator('[data-testid="spof"]').evaluateAll((els) => els.map((e) => e.dataset.ciId)),
    cutSets: await page.locator('[data-testid="cut-set"]').evaluateAll((els) => els.map((e) => e.dataset.ciIds.split(' '))),
    rto: await page.locator('[data-testid="rto-violation"]').evaluateAll((els) => els.map((e) => e.dataset.ciId)),
    rpo: await page.locator('[data-testid="rpo-violation"]').evaluateAll((els) => els.map((e) => e.dataset.ciId)),
    meetsSla: await byTestId(page, 'continuity-availability').getAttribute('data-meets-sla'),
    availability: await byTestId(page, 'continuity-availability').textContent(),
    graph: await graphFacts(page),
  };
  await shot(page, 'continuity', report);

  // forgetting the key asks for one again, and nothing is kept for the next visit
  await byTestId(page, 'forget-key').click();
  await byTestId(page, 'key-dialog').waitFor({ state: 'visible' });
  report.keyForgotten = await page.evaluate(() => sessionStorage.length === 0);
}

async function large(page, report) {
  await signIn(page);
  await byTestId(page, 'upstream-depth').fill(String(PLAN.upstreamDepth));
  await byTestId(page, 'downstream-depth').fill(String(PLAN.downstreamDepth));
  await byTestId(page, 'node-limit').fill(String(PLAN.limit));
  // main-thread tasks over 50 ms while the large map is read, drawn and laid out
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => list.getEntries().forEach((e) => window.longTasks.push(e.duration)))
      .observe({ type: 'longtask', buffered: false });
  });
  const started = Date.now();
  report.searchHits = await searchAndPick(page, PLAN.searchText, PLAN.centre);
  report.large = { ...(await graphFacts(page)), millisToLaidOut: Date.now() - started };
  report.large.longTasks = await page.evaluate(() => window.longTasks.map(Math.round));
  report.large.show = await page.evaluate(() => window.impactMap.graph.lastShow);
  // a click on a CI of the drawn map shows its details: the canvas answers at this size
  const clicked = Date.now();
  await clickNode(page, PLAN.clickCi);
  await page.waitForFunction((id) => document.querySelector('[data-testid="ci-detail"]').textContent.includes(id),
    PLAN.clickCi, { timeout: TIMEOUT });
  report.large.millisClickAnswered = Date.now() - clicked;
  report.large.selected = await page.evaluate(() => window.impactMap.state.selected);
  // the page answers while and after a large map is drawn: a search round trip, timed
  const typed = Date.now();
  await byTestId(page, 'search-input').fill('');
  await byTestId(page, 'search-input').pressSequentially(PLAN.searchText.slice(0, 4), { delay: 20 });
  await page.locator('[data-testid="search-result"]').first().waitFor({ state: 'visible' });
  report.large.millisSearchAnswered = Date.now() - typed;
  await page.keyboard.press('Escape');
  await shot(page, 'large', report);

  // over the limit: classes collapse with a count, and one expands
  await byTestId(page, 'node-limit').fill(String(PLAN.collapseLimit));
  await byTestId(page, 'node-limit').press('Tab'); // leaving the field commits it, as a person does
  await page.waitForFunction((limit) => Number(document.querySelector('[data-testid="map-stats"]').dataset.nodes) <= limit,
    PLAN.collapseLimit, { timeout: TIMEOUT });
  await layoutDone(page);
  report.collapsed = {
    ...(await graphFacts(page)),
    classes: await page.locator('[data-testid="collapsed-class"]').evaluateAll((els) => els.map((e) => ({ ciClass: e.dataset.class, text: e.textContent }))),
  };
  await shot(page, 'collapsed', report);
  const smallest = PLAN.expandClass;
  if (smallest) {
    await byTestId(page, `expand-${smallest}`).click();
    await page.waitForFunction((cls) => !document.querySelector(`[data-testid="expand-${cls}"]`), smallest, { timeout: TIMEOUT });
    await layoutDone(page);
    report.expanded = { ...(await graphFacts(page)),
      classes: await page.locator('[data-testid="collapsed-class"]').evaluateAll((els) => els.map((e) => e.dataset.class)) };
  }
}

const report = { scenario: SCENARIO, screenshots: {}, consoleErrors: [], pageErrors: [], requests: [] };
await mkdir(ARTIFACTS, { recursive: true });
const { context, profile } = await launch();
let failure = null;
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (message) => { if (message.type() === 'error') report.consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => report.pageErrors.push(String(error)));
  page.on('request', (request) => report.requests.push(new URL(request.url()).host));
  if (SCENARIO === 'large') await large(page, report);
  else await demo(page, report);
} catch (error) {
  failure = error;
  report.error = String(error.stack ?? error);
} finally {
  report.requests = [...new Set(report.requests)];
  await context.close();
  await rm(profile, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(failure ? 1 : 0);
