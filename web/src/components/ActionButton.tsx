// The pipeline's main action button (Stop / Start / Restart / Force stop…)
// with its confirmation dialog.
import { useState } from "react";
import type { Pipeline } from "../api/types";
import { planAction } from "../lib/actions";
import { usePipelineOp } from "../api/hooks";
import { ConfirmDialog, Spinner } from "./ui";
import { useToasts } from "./Toasts";
import { describeError } from "./ErrorView";

export function ActionButton({
  pipeline,
  state,
  jobId,
  size,
}: {
  pipeline: Pipeline;
  state: string | undefined;
  jobId?: string;
  size?: "sm";
}) {
  const plan = planAction(pipeline, state);
  const op = usePipelineOp(pipeline.id, jobId);
  const toasts = useToasts();
  const [confirming, setConfirming] = useState(false);

  const run = () => {
    if (plan.kind === "none") return;
    const label = plan.kind === "restart" ? "Restart requested" : `${plan.label} requested`;
    op.mutate(plan.kind === "restart" ? { kind: "restart", label } : { kind: "patch", body: { stop: plan.stop }, label }, {
      onSuccess: () => setConfirming(false),
      onError: (e) => {
        setConfirming(false);
        toasts.show({ kind: "error", title: `Couldn't ${plan.label.toLowerCase()} ${pipeline.name}`, body: describeError(e).message });
      },
    });
  };

  const tone =
    plan.kind === "restart" || plan.stop === "none" ? "tone-start" : plan.kind === "patch" ? "tone-stop" : "";
  return (
    <>
      <button
        className={`btn action-btn ${tone}${size === "sm" ? " sm" : ""}`}
        disabled={!plan.enabled || op.isPending}
        title={plan.hint}
        data-testid="action-button"
        data-action={plan.kind === "patch" ? plan.stop : plan.kind}
        onClick={() => (plan.confirm ? setConfirming(true) : run())}
      >
        {(plan.spinner || op.isPending) && <Spinner label={`${plan.label} in progress`} />}
        {plan.label}
      </button>
      {confirming && plan.confirm && (
        <ConfirmDialog
          {...plan.confirm}
          busy={op.isPending}
          onConfirm={run}
          onCancel={() => setConfirming(false)}
        />
      )}
    </>
  );
}
