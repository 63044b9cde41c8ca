import { useState } from "react";
import type { Pipeline } from "../api/types";
import { useDeletePipeline } from "../api/hooks";
import { isTerminal } from "../lib/states";
import { ConfirmDialog } from "./ui";
import { describeError } from "./ErrorView";
import { Trash } from "./icons";

export function DeleteButton({
  pipeline,
  state,
  size,
  onDeleted,
}: {
  pipeline: Pipeline;
  state: string | undefined;
  size?: "sm";
  onDeleted?: () => void;
}) {
  const del = useDeletePipeline(pipeline.id);
  const [open, setOpen] = useState(false);
  const allowed = isTerminal(state);
  return (
    <>
      <button
        className={`btn danger-outline${size === "sm" ? " sm" : ""}`}
        disabled={!allowed}
        title={allowed ? "Delete this pipeline" : "Stop the pipeline before deleting it"}
        aria-label={`Delete ${pipeline.name}`}
        data-testid="delete-button"
        onClick={() => {
          del.reset();
          setOpen(true);
        }}
      >
        <Trash className="icon" />
        {size !== "sm" && "Delete"}
      </button>
      {open && (
        <ConfirmDialog
          title={`Delete ${pipeline.name}?`}
          body="The pipeline, its job, its error log and its checkpoint records are deleted. This cannot be undone."
          confirmLabel="Delete"
          danger
          busy={del.isPending}
          error={del.error ? describeError(del.error).message : null}
          onCancel={() => setOpen(false)}
          onConfirm={() =>
            del.mutate(undefined, {
              onSuccess: () => {
                setOpen(false);
                onDeleted?.();
              },
            })
          }
        />
      )}
    </>
  );
}
