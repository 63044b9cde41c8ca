// End-to-end test of the web console: a real `runnel cluster` (built with
// the console embedded) driven through Debian's chromium. It walks the
// flow of issue P4 and saves a screenshot of each page under
// web/test-output/.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { apiJson, ensureOutDir, startBrowser, startServer } from "./harness.mjs";

const PREVIEW_SQL_WITH_TYPO =
  "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20');\n" +
  "SELECT countr, counter % 3 AS bucket FROM impulse WHERE counter % 2 = 0;";
const PIPELINE_SQL =
  "CREATE TABLE impulse WITH (connector='impulse', event_rate='100');\n" +
  "CREATE TABLE sink WITH (connector='blackhole');\n" +
  "INSERT INTO sink SELECT counter * 2 AS doubled FROM impulse;";
const NAME = "e2e_doubled";
const T = 30_000; // ms to wait for any one thing

let server;
let browser;
let page;
let pipelineId;
const pageErrors = [];
const out = ensureOutDir();

async function shot(name, opts = {}) {
  await page.screenshot({ path: join(out, name), ...opts });
}

/** Records every state the header badge and action button go through. */
async function recordStates() {
  await page.evaluate(() => {
    window.__seen = [];
    const note = () => {
      const badge = document.querySelector(".title-line [data-state]");
      const button = document.querySelector("[data-testid=action-button]");
      const v = `${badge?.getAttribute("data-state")}|${button?.textContent}`;
      if (window.__seen[window.__seen.length - 1] !== v) window.__seen.push(v);
    };
    note();
    window.__observer?.disconnect();
    window.__observer = new MutationObserver(note);
    window.__observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

async function headerState(state) {
  await page.waitForSelector(`.title-line [data-state="${state}"]`, { timeout: T });
}

async function confirm(label) {
  const dialog = page.getByTestId("confirm-dialog");
  await dialog.waitFor({ timeout: T });
  await dialog.getByRole("button", { name: label, exact: true }).click();
  await dialog.waitFor({ state: "detached", timeout: T });
}

describe("web console", { timeout: 240_000 }, () => {
  before(async () => {
    server = await startServer();
    browser = await startBrowser();
    page = await browser.context.newPage();
    page.setDefaultTimeout(T);
    page.on("pageerror", (e) => pageErrors.push(e.message));
  });

  after(async () => {
    await browser?.stop();
    await server?.stop();
  });

  it("serves the console, not the placeholder, with an empty pipelines list", async () => {
    await page.goto(server.url + "/");
    await page.getByTestId("pipelines-empty").waitFor();
    await page.waitForSelector("[data-testid=api-status].ok");
    assert.equal(await page.title(), "Runnel");
    await shot("01-pipelines-empty.png");
  });

  it("underlines a validation error as you type, then clears it when fixed", async () => {
    await page.getByTestId("new-pipeline").click();
    await page.waitForURL("**/pipelines/new");
    const editor = page.locator(".cm-content");
    await editor.click();
    await page.keyboard.type(PREVIEW_SQL_WITH_TYPO);
    const underline = page.locator(".cm-lintRange-error");
    await underline.waitFor();
    assert.equal(await underline.textContent(), "countr");
    await page.waitForSelector('[data-testid=validity][data-status="invalid"]');
    assert.match(await page.getByTestId("diagnostics").textContent(), /Line 2, col 8.*countr/);
    await underline.hover();
    await page.locator(".cm-tooltip-lint").waitFor();
    await shot("02-create-validation-error.png");

    // Fix the typo where it is underlined.
    await underline.dblclick();
    await page.keyboard.type("counter");
    await page.waitForSelector('[data-testid=validity][data-status="valid"]');
    assert.equal(await page.locator(".cm-lintRange-error").count(), 0);
    await page.getByTestId("graph-node-1").waitFor({ state: "visible" });
    assert.match(await page.getByTestId("graph-node-1").textContent(), /impulse source → preview sink/);
  });

  it("previews the query and shows rows arriving live", async () => {
    await page.getByTestId("preview-button").click();
    await page.waitForSelector('[data-testid=preview-status][data-phase="live"]');
    await page.waitForFunction(() => Number(document.querySelector("[data-testid=row-count]")?.getAttribute("data-count")) >= 5);
    const first = await page.locator("[data-testid=output-table] tbody tr").first().locator("td").allTextContents();
    // #, event time, counter, bucket, filler
    assert.equal(first.length, 5);
    const counter = Number(first[2]);
    assert.ok(counter % 2 === 0, `counter ${counter} should be even (WHERE counter % 2 = 0)`);
    assert.equal(Number(first[3]), counter % 3);

    // Pause freezes the table while rows keep arriving.
    await page.getByTestId("pause-button").click();
    const frozen = await page.locator("[data-testid=output-table] tbody tr").count();
    const countAtPause = Number(await page.getByTestId("row-count").getAttribute("data-count"));
    await page.waitForFunction((n) => Number(document.querySelector("[data-testid=row-count]")?.getAttribute("data-count")) > n + 2, countAtPause);
    assert.equal(await page.locator("[data-testid=output-table] tbody tr").count(), frozen);
    assert.match(await page.getByTestId("row-count").textContent(), /new while paused/);
    await page.getByTestId("pause-button").click();
    await page.waitForFunction((n) => document.querySelectorAll("[data-testid=output-table] tbody tr").length > n, frozen);
    await shot("03-create-preview-live.png");

    await page.getByTestId("stop-preview").click();
    await page.waitForSelector('[data-testid=preview-status][data-phase="done"]');
  });

  it("launches a pipeline and shows it Running with throughput", async () => {
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type(PIPELINE_SQL);
    await page.waitForSelector('[data-testid=validity][data-status="valid"]');
    await page.getByTestId("launch-button").click();
    const dialog = page.getByTestId("launch-dialog");
    await dialog.getByLabel("Name").fill(NAME);
    await dialog.getByLabel("Parallelism").fill("2");
    await dialog.getByLabel("Checkpoint interval").fill("10");
    await shot("04-launch-dialog.png");
    await page.getByTestId("launch-submit").click();
    await page.waitForURL(/\/pipelines\/pl_/);
    pipelineId = new URL(page.url()).pathname.split("/").pop();
    assert.equal(await page.getByTestId("pipeline-name").textContent(), NAME);
    await headerState("Running");
    // Throughput from operator_metric_groups reaches the graph node.
    await page.waitForFunction(() => /in [\d.,]+k? msg\/s/.test(document.querySelector("[data-testid=node-metrics]")?.textContent ?? ""));
    await page.getByTestId("graph-node-1").waitFor({ state: "visible" });
    // Let the charts collect a few samples.
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=metric-chart] path").length >= 4, null, { timeout: T });
    await page.waitForTimeout(4000);
    await shot("05-detail-overview.png");
    await shot("05-detail-overview-full.png", { fullPage: true });
    const p = await apiJson(server, "GET", `/pipelines/${pipelineId}`);
    assert.equal(p.graph.nodes[0].parallelism, 2);
    assert.equal(p.checkpoint_interval_micros, 10_000_000);
  });

  it("opens the Errors, Checkpoints and Query tabs", async () => {
    await page.getByTestId("tab-errors").click();
    await page.getByTestId("errors-empty").waitFor();
    await shot("06-detail-errors.png");
    await page.getByTestId("tab-checkpoints").click();
    await page.locator("[data-testid=checkpoints-empty], [data-testid=checkpoints-list]").first().waitFor();
    await shot("07-detail-checkpoints.png");
    await page.getByTestId("tab-query").click();
    await page.getByTestId("query-view").locator(".cm-content").waitFor();
    assert.match(await page.getByTestId("query-view").textContent(), /INSERT INTO sink/);
    await shot("08-detail-query.png");
    await page.getByTestId("tab-overview").click();
  });

  it("stops (Stopping, then Stopped) and starts again", async () => {
    await recordStates();
    await page.getByTestId("action-button").click();
    await page.getByTestId("confirm-dialog").waitFor();
    await shot("09-confirm-stop.png");
    await confirm("Stop");
    await headerState("Stopped");
    await page.waitForFunction(() => document.querySelector("[data-testid=action-button]")?.textContent === "Start");
    const seen = await page.evaluate(() => window.__seen);
    const stopping = seen.findIndex((s) => /^(CheckpointStopping|Stopping)\||\|Stopping$/.test(s));
    const stopped = seen.findIndex((s) => s.startsWith("Stopped|"));
    assert.ok(stopping >= 0 && stopped > stopping, `expected a stopping state before Stopped, saw ${JSON.stringify(seen)}`);
    const job = (await apiJson(server, "GET", `/pipelines/${pipelineId}/jobs`)).data[0];
    assert.equal(job.state, "Stopped");
    await shot("10-detail-stopped.png");

    await page.getByTestId("action-button").click();
    await confirm("Start");
    await headerState("Running");
  });

  it("lists the pipeline, stops it from the list and deletes it", async () => {
    await page.getByRole("link", { name: "Pipelines", exact: true }).first().click();
    const row = page.getByTestId(`pipeline-row-${NAME}`);
    await row.locator('[data-state="Running"]').waitFor();
    assert.match(await row.getByTestId("uptime").textContent(), /^\d+ s$/);
    // A second pipeline makes the list look like a list.
    await apiJson(server, "POST", "/pipelines", { name: "e2e_second", query: PIPELINE_SQL, parallelism: 1 });
    await page.getByTestId("pipeline-row-e2e_second").locator('[data-state="Running"]').waitFor();
    await shot("11-pipelines-list.png");

    assert.equal(await row.getByTestId("delete-button").isDisabled(), true);
    await row.getByTestId("action-button").click();
    await confirm("Stop");
    await row.locator('[data-state="Stopped"]').waitFor();
    await row.getByTestId("delete-button").click();
    await confirm("Delete");
    await row.waitFor({ state: "detached" });
    const left = await apiJson(server, "GET", "/pipelines");
    assert.deepEqual(
      left.data.map((p) => p.name),
      ["e2e_second"],
    );
  });

  it("shows a not-found view for a pipeline that does not exist", async () => {
    await page.goto(`${server.url}/pipelines/${pipelineId}`);
    await page.getByTestId("error-notfound").waitFor();
    assert.match(await page.getByTestId("error-notfound").textContent(), /Pipeline not found/);
    await shot("12-pipeline-not-found.png");
  });

  it("says the API is unreachable when the server goes away", async () => {
    await page.goto(server.url + "/pipelines");
    await page.getByTestId("pipeline-row-e2e_second").waitFor();
    await server.stop();
    await page.getByTestId("offline-banner").waitFor({ timeout: T });
    await page.waitForSelector("[data-testid=api-status].down");
    await shot("13-api-unreachable.png");
  });

  it("raised no uncaught errors in the page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
