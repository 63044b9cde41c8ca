// Wire types of Runnel's REST API (/api/v1), as internal/api/wire.go and
// the OpenAPI document define them. Times are microseconds since the epoch.

export type StopMode = "none" | "checkpoint" | "graceful" | "immediate" | "force";

export type JobState =
  | "Created"
  | "Compiling"
  | "Scheduling"
  | "Running"
  | "Rescaling"
  | "CheckpointStopping"
  | "Recovering"
  | "Restarting"
  | "Stopping"
  | "Stopped"
  | "Finishing"
  | "Finished"
  | "Failing"
  | "Failed";

export interface Collection<T> {
  data: T[];
}

export interface PaginatedCollection<T> {
  data: T[];
  hasMore: boolean;
}

export interface Udf {
  definition: string;
  language?: "rust" | "python";
}

export interface GraphNode {
  node_id: number;
  operator: string;
  description: string;
  parallelism: number;
}

export interface GraphEdge {
  src_id: number;
  dest_id: number;
  key_type: string;
  value_type: string;
  edge_type: string;
}

export interface PipelineGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface Pipeline {
  id: string;
  name: string;
  query: string;
  udfs: Udf[];
  checkpoint_interval_micros: number;
  stop: StopMode;
  created_at: number;
  action: StopMode | null;
  action_text: string;
  action_in_progress: boolean;
  graph: PipelineGraph;
  preview: boolean;
}

export interface FailureReason {
  error: string;
  domain: "user" | "external" | "internal";
}

export interface Job {
  id: string;
  pipeline_id: string;
  running_desired: boolean;
  state: JobState | string;
  run_id: number;
  start_time: number | null;
  finish_time: number | null;
  tasks: number | null;
  failure_reason: FailureReason | null;
  created_at: number;
  action: StopMode | null;
  action_text: string;
  action_in_progress: boolean;
}

export interface JobLogMessage {
  id: string;
  created_at: number;
  operator_id: string | null;
  task_index: number | null;
  level: "info" | "warn" | "error";
  message: string;
  details: string;
  error_domain: "user" | "external" | "internal" | null;
}

export interface CheckpointEventSpan {
  start_time: number;
  finish_time: number; // 0 while the phase is still running
  event: string;
  description: string;
}

export interface Checkpoint {
  epoch: number;
  backend: string;
  checkpoint_type: "scheduled" | "stopping";
  start_time: number;
  finish_time: number | null;
  events: CheckpointEventSpan[];
}

export interface SubtaskCheckpointGroup {
  index: number;
  bytes: number;
  event_spans: CheckpointEventSpan[];
}

export interface OperatorCheckpointGroup {
  operator_id: string;
  bytes: number;
  started_metadata_write: number | null;
  finish_time: number | null;
  subtasks: SubtaskCheckpointGroup[];
}

export type MetricName =
  | "bytes_recv"
  | "bytes_sent"
  | "messages_recv"
  | "messages_sent"
  | "backpressure"
  | "tx_queue_size"
  | "tx_queue_rem";

export interface MetricPoint {
  time: number;
  value: number;
}

export interface SubtaskMetrics {
  index: number;
  metrics: MetricPoint[];
}

export interface MetricGroup {
  name: MetricName | string;
  subtasks: SubtaskMetrics[];
}

export interface OperatorMetricGroup {
  node_id: number;
  metric_groups: MetricGroup[];
}

export interface Position {
  line: number;
  column: number;
}

export interface SqlDiagnostic {
  message: string;
  span?: { start: Position; end: Position };
}

export interface QueryValidationResult {
  graph: PipelineGraph | null;
  errors: SqlDiagnostic[];
}

export interface PipelinePost {
  name: string;
  query: string;
  udfs?: Udf[];
  parallelism: number;
  checkpoint_interval_micros?: number;
}

export interface PipelinePatch {
  stop?: StopMode;
  parallelism?: number;
  checkpoint_interval_micros?: number;
}

/** One event of a preview job's output stream (OutputData). */
export interface OutputData {
  operator_id: string;
  subtask_idx: number;
  timestamps: number[];
  start_id: number;
  batch: string; // a JSON array of row objects, as a string
}
