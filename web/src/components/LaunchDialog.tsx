import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/client";
import type { Pipeline } from "../api/types";
import { Dialog, Spinner } from "./ui";
import { InlineError } from "./ErrorView";
import { Rocket } from "./icons";

const MIN_INTERVAL_S = 1;
const MAX_INTERVAL_S = 86400;

export function LaunchDialog({
  query,
  onClose,
  onLaunched,
}: {
  query: string;
  onClose: () => void;
  onLaunched: (p: Pipeline) => void;
}) {
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [parallelism, setParallelism] = useState("1");
  const [interval, setIntervalS] = useState("10");
  const [touched, setTouched] = useState(false);
  const create = useMutation({
    mutationFn: () =>
      api.createPipeline({
        name: name.trim(),
        query,
        parallelism: Number(parallelism),
        checkpoint_interval_micros: Math.round(Number(interval) * 1_000_000),
      }),
    onSuccess: (p) => {
      qc.setQueryData(["pipeline", p.id], p);
      void qc.invalidateQueries({ queryKey: ["pipelines"] });
      onLaunched(p);
    },
  });
  const par = Number(parallelism);
  const iv = Number(interval);
  const nameErr = touched && !name.trim() ? "Give the pipeline a name" : null;
  const parErr = !Number.isInteger(par) || par < 1 ? "A whole number, 1 or more" : null;
  const ivErr = !Number.isFinite(iv) || iv < MIN_INTERVAL_S || iv > MAX_INTERVAL_S ? "Between 1 second and 1 day (86,400 s)" : null;
  const ok = name.trim() && !parErr && !ivErr;
  const submit = () => {
    setTouched(true);
    if (ok && !create.isPending) create.mutate();
  };
  return (
    <Dialog
      title="Launch pipeline"
      onClose={onClose}
      testId="launch-dialog"
      footer={
        <>
          <button className="btn" onClick={onClose} disabled={create.isPending}>
            Cancel
          </button>
          <button className="btn primary" onClick={submit} disabled={create.isPending || (touched && !ok)} data-testid="launch-submit">
            {create.isPending ? <Spinner /> : <Rocket className="icon" />}
            Launch
          </button>
        </>
      }
    >
      <form
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div className="field">
          <label htmlFor="launch-name">Name</label>
          <input
            id="launch-name"
            className={`input${nameErr ? " invalid" : ""}`}
            value={name}
            onChange={(e) => setName(e.target.value)}
            onBlur={() => setTouched(true)}
            placeholder="e.g. orders_enriched"
            autoComplete="off"
          />
          {nameErr && <span className="error">{nameErr}</span>}
        </div>
        <div className="row-2">
          <div className="field">
            <label htmlFor="launch-par">Parallelism</label>
            <div className="input-group">
              <input
                id="launch-par"
                className={`input${parErr ? " invalid" : ""}`}
                type="number"
                min={1}
                step={1}
                value={parallelism}
                onChange={(e) => setParallelism(e.target.value)}
              />
              <span className="suffix">subtasks</span>
            </div>
            {parErr ? <span className="error">{parErr}</span> : <span className="hint">Per operator</span>}
          </div>
          <div className="field">
            <label htmlFor="launch-interval">Checkpoint interval</label>
            <div className="input-group">
              <input
                id="launch-interval"
                className={`input${ivErr ? " invalid" : ""}`}
                type="number"
                min={MIN_INTERVAL_S}
                max={MAX_INTERVAL_S}
                step="any"
                value={interval}
                onChange={(e) => setIntervalS(e.target.value)}
              />
              <span className="suffix">seconds</span>
            </div>
            {ivErr ? <span className="error">{ivErr}</span> : <span className="hint">1 s to 1 day</span>}
          </div>
        </div>
        <button type="submit" hidden />
      </form>
      {create.isError && <InlineError error={create.error} prefix="Couldn't launch:" />}
    </Dialog>
  );
}
