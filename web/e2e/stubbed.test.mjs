// The Errors and Checkpoints tabs with data in them. The engine does not
// record checkpoints yet and a healthy job has no errors, so this test
// runs the real console against a real pipeline but answers those two
// endpoints in the browser with data of the API's shapes.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { apiJson, ensureOutDir, startBrowser, startServer } from "./harness.mjs";

const SQL =
  "CREATE TABLE impulse WITH (connector='impulse', event_rate='100');\n" +
  "CREATE TABLE sink WITH (connector='blackhole');\n" +
  "INSERT INTO sink SELECT counter * 2 AS doubled FROM impulse;";

let server;
let browser;
let page;
let pipeline;
const out = ensureOutDir();

function checkpoints(now) {
  const list = [];
  for (let epoch = 1; epoch <= 6; epoch++) {
    const start = now - (7 - epoch) * 10_000_000;
    const ms = 40 + ((epoch * 37) % 140);
    const finish = start + ms * 1000;
    list.push({
      epoch,
      backend: "parquet",
      checkpoint_type: epoch === 6 ? "stopping" : "scheduled",
      start_time: start,
      finish_time: finish,
      events: [
        { event: "Checkpointing", description: "The entire checkpointing process", start_time: start, finish_time: finish },
        { event: "CheckpointingOperators", description: "The time spent checkpointing operator states", start_time: start + 1000, finish_time: finish - 12_000 },
        { event: "WritingMetadata", description: "Writing the final checkpoint metadata", start_time: finish - 12_000, finish_time: finish - 2000 },
      ],
    });
  }
  return list;
}

function operatorGroups(cp) {
  const ops = ["impulse_source_1", "value_project_2", "blackhole_sink_3"];
  const total = cp.finish_time - cp.start_time;
  return ops.map((operator_id, o) => {
    const subtasks = [0, 1].map((index) => {
      const s = cp.start_time + 1000 + o * 4000 + index * 1500;
      const align = o === 0 ? 0 : 2500 + index * 1200;
      const sync = 3000 + o * 1000;
      const asyncD = Math.round(total * 0.35) - o * 3000;
      const spans = [];
      if (align) spans.push({ event: "Alignment", description: "Time spent waiting for alignment barriers", start_time: s, finish_time: s + align });
      spans.push({ event: "Sync", description: "The synchronous part of checkpointing", start_time: s + align, finish_time: s + align + sync });
      spans.push({ event: "Async", description: "The asynchronous part of checkpointing", start_time: s + align + sync, finish_time: s + align + sync + asyncD });
      if (o === 2) spans.push({ event: "Committing", description: "Committing the checkpoint", start_time: s + align + sync + asyncD, finish_time: s + align + sync + asyncD + 4000 });
      return { index, bytes: o === 1 ? 0 : 12_000 * (o + 1) + index * 3000 + cp.epoch * 100, event_spans: spans };
    });
    return {
      operator_id,
      bytes: subtasks.reduce((a, s) => a + s.bytes, 0),
      started_metadata_write: null,
      finish_time: cp.finish_time - 12_000,
      subtasks,
    };
  });
}

function errors(now) {
  return Array.from({ length: 27 }, (_, i) => ({
    id: `jlm_stub${String(i).padStart(6, "0")}`,
    created_at: now - i * 7_000_000,
    operator_id: i % 3 === 2 ? null : i % 3 === 0 ? "value_project_2" : "blackhole_sink_3",
    task_index: i % 3 === 2 ? null : i % 2,
    level: "error",
    message:
      i % 3 === 0
        ? `failed to evaluate (counter * 2): integer overflow in row ${1_000 + i}`
        : i % 3 === 1
          ? "sink write failed: connection reset by peer"
          : "task restarted after a failure",
    details:
      i % 3 === 0
        ? `evaluating projection 'doubled' on batch ${i}\n  at value_project_2 subtask ${i % 2}\n  caused by: integer overflow: 9223372036854775807 * 2`
        : `io error: connection reset by peer (os error 104)\n  while flushing batch ${i} to sink`,
    error_domain: i % 3 === 0 ? "user" : i % 3 === 1 ? "external" : "internal",
  }));
}

describe("web console with recorded errors and checkpoints", { timeout: 120_000 }, () => {
  before(async () => {
    server = await startServer();
    browser = await startBrowser();
    page = await browser.context.newPage();
    page.setDefaultTimeout(30_000);
    pipeline = await apiJson(server, "POST", "/pipelines", { name: "orders_enriched", query: SQL, parallelism: 2 });
    const now = Date.now() * 1000;
    const cps = checkpoints(now);
    const errs = errors(now);
    await page.route(/\/api\/v1\/pipelines\/[^/]+\/jobs\/[^/]+\/checkpoints$/, (r) => r.fulfill({ json: { data: cps } }));
    await page.route(/\/api\/v1\/pipelines\/[^/]+\/jobs\/[^/]+\/checkpoints\/(\d+)\/operator_checkpoint_groups$/, (r) => {
      const epoch = Number(/checkpoints\/(\d+)\//.exec(r.request().url())[1]);
      r.fulfill({ json: { data: operatorGroups(cps[epoch - 1]) } });
    });
    await page.route(/\/api\/v1\/pipelines\/[^/]+\/jobs\/[^/]+\/errors/, (r) => {
      const u = new URL(r.request().url());
      const limit = Number(u.searchParams.get("limit") ?? 10);
      const after = u.searchParams.get("starting_after");
      const from = after ? errs.findIndex((e) => e.id === after) + 1 : 0;
      r.fulfill({ json: { data: errs.slice(from, from + limit), hasMore: from + limit < errs.length } });
    });
  });

  it("offers Restart for a failed job and shows why it failed", async () => {
    // The job is made to look Failed in the browser; the restart goes to the real API.
    const jobsRe = new RegExp(`/api/v1/pipelines/${pipeline.id}/jobs$`);
    const pipelineRe = new RegExp(`/api/v1/pipelines/${pipeline.id}$`);
    await page.route(jobsRe, async (r) => {
      const res = await r.fetch();
      const body = await res.json();
      for (const j of body.data) {
        Object.assign(j, {
          state: "Failed",
          running_desired: true,
          finish_time: Date.now() * 1000,
          action: null,
          action_text: "Failed",
          action_in_progress: false,
          failure_reason: { error: "sink write failed: connection reset by peer (os error 104)", domain: "external" },
        });
      }
      await r.fulfill({ response: res, json: body });
    });
    await page.route(pipelineRe, async (r) => {
      if (r.request().method() !== "GET") return r.fallback();
      const res = await r.fetch();
      await r.fulfill({ response: res, json: { ...(await res.json()), action: null, action_text: "Failed", action_in_progress: false } });
    });
    await page.goto(`${server.url}/pipelines/${pipeline.id}`);
    await page.waitForSelector('.title-line [data-state="Failed"]');
    await page.getByTestId("failure-reason").waitFor();
    assert.match(await page.getByTestId("failure-reason").textContent(), /connection reset by peer.*|external error/);
    assert.equal(await page.getByTestId("action-button").textContent(), "Restart");
    await page.screenshot({ path: join(out, "16-detail-failed.png") });
    await page.getByTestId("action-button").click();
    const restart = page.waitForResponse((res) => res.url().endsWith(`/pipelines/${pipeline.id}/restart`) && res.request().method() === "POST");
    await page.getByTestId("confirm-dialog").getByRole("button", { name: "Restart", exact: true }).click();
    const res = await restart;
    assert.equal(res.status(), 200);
    assert.equal(res.request().postData(), "{}");
    await page.unroute(jobsRe);
    await page.unroute(pipelineRe);
  });

  after(async () => {
    await browser?.stop();
    await server?.stop();
  });

  it("pages through errors newest first and expands one", async () => {
    await page.goto(`${server.url}/pipelines/${pipeline.id}?tab=errors`);
    await page.getByTestId("errors-list").waitFor();
    assert.equal(await page.getByTestId("error-item").count(), 20);
    assert.equal((await page.getByTestId("tab-errors").textContent()).trim(), "Errors20+");
    await page.getByTestId("error-item").first().getByRole("button").click();
    assert.match(await page.getByTestId("error-details").textContent(), /integer overflow/);
    await page.screenshot({ path: join(out, "14-detail-errors-list.png") });
    await page.getByTestId("errors-older").click();
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=error-item]").length === 7);
    assert.equal(await page.getByTestId("errors-older").isDisabled(), true);
  });

  it("lists checkpoints and draws a chosen epoch's per-subtask timeline", async () => {
    await page.getByTestId("tab-checkpoints").click();
    await page.getByTestId("checkpoints-list").waitFor();
    const rows = page.locator("[data-testid=checkpoints-list] tbody tr");
    assert.equal(await rows.count(), 6);
    await page.waitForFunction(() => /KiB/.test(document.querySelector("[data-testid=checkpoints-list] tbody tr")?.textContent ?? ""));
    await rows.nth(2).click();
    await page.getByTestId("epoch-detail").getByText("Epoch 4").waitFor();
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=epoch-detail] [data-testid=timeline-row]").length === 3 + 3 * 3);
    assert.ok((await page.locator('.tl-span[data-event="Alignment"]').count()) > 0);
    await page.screenshot({ path: join(out, "15-detail-checkpoint-timeline.png"), fullPage: true });
  });
});
