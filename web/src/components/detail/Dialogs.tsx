import { useState } from "react";
import type { Pipeline } from "../../api/types";
import { usePipelineOp } from "../../api/hooks";
import { Dialog, Spinner } from "../ui";
import { InlineError } from "../ErrorView";
import { formatInterval } from "../../lib/format";

export function RescaleDialog({ pipeline, jobId, onClose }: { pipeline: Pipeline; jobId?: string; onClose: () => void }) {
  const current = Math.max(1, ...pipeline.graph.nodes.map((n) => n.parallelism));
  const [value, setValue] = useState(String(current));
  const op = usePipelineOp(pipeline.id, jobId);
  const n = Number(value);
  const invalid = !Number.isInteger(n) || n < 1;
  const submit = () => {
    if (invalid || op.isPending) return;
    op.mutate({ kind: "patch", body: { parallelism: n }, label: `Rescale to ${n} requested` }, { onSuccess: onClose });
  };
  return (
    <Dialog
      title="Rescale"
      onClose={onClose}
      testId="rescale-dialog"
      footer={
        <>
          <button className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn primary" onClick={submit} disabled={invalid || op.isPending || n === current}>
            {op.isPending && <Spinner />}
            Rescale
          </button>
        </>
      }
    >
      <p>Run every operator with this many parallel subtasks. A running job is rescaled from a checkpoint.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div className="field">
          <label htmlFor="rescale-par">Parallelism</label>
          <div className="input-group">
            <input id="rescale-par" className={`input${invalid ? " invalid" : ""}`} type="number" min={1} step={1} value={value} onChange={(e) => setValue(e.target.value)} />
            <span className="suffix">subtasks</span>
          </div>
          {invalid ? <span className="error">A whole number, 1 or more</span> : <span className="hint">Now {current}</span>}
        </div>
      </form>
      {op.isError && <InlineError error={op.error} prefix="Couldn't rescale:" />}
    </Dialog>
  );
}

export function IntervalDialog({ pipeline, jobId, onClose }: { pipeline: Pipeline; jobId?: string; onClose: () => void }) {
  const currentS = pipeline.checkpoint_interval_micros / 1_000_000;
  const [value, setValue] = useState(String(currentS));
  const op = usePipelineOp(pipeline.id, jobId);
  const s = Number(value);
  const invalid = !Number.isFinite(s) || s < 1 || s > 86400;
  const submit = () => {
    if (invalid || op.isPending) return;
    op.mutate(
      {
        kind: "patch",
        body: { checkpoint_interval_micros: Math.round(s * 1_000_000) },
        label: `Checkpoint interval → ${formatInterval(s * 1_000_000)}`,
      },
      { onSuccess: onClose },
    );
  };
  return (
    <Dialog
      title="Checkpoint interval"
      onClose={onClose}
      testId="interval-dialog"
      footer={
        <>
          <button className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn primary" onClick={submit} disabled={invalid || op.isPending}>
            {op.isPending && <Spinner />}
            Save
          </button>
        </>
      }
    >
      <p>How often the job checkpoints its state. Shorter intervals replay less data after a failure but write more.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div className="field">
          <label htmlFor="interval-s">Interval</label>
          <div className="input-group">
            <input id="interval-s" className={`input${invalid ? " invalid" : ""}`} type="number" min={1} max={86400} step="any" value={value} onChange={(e) => setValue(e.target.value)} />
            <span className="suffix">seconds</span>
          </div>
          {invalid ? (
            <span className="error">Between 1 second and 1 day (86,400 s)</span>
          ) : (
            <span className="hint">Now {formatInterval(pipeline.checkpoint_interval_micros)}</span>
          )}
        </div>
      </form>
      {op.isError && <InlineError error={op.error} prefix="Couldn't change the interval:" />}
    </Dialog>
  );
}
