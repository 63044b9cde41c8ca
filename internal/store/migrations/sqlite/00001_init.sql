-- Runnel metadata schema, SQLite flavour. Times are BIGINT microseconds
-- since the Unix epoch; JSON columns are TEXT checked with json_valid.

-- +goose Up
CREATE TABLE pipelines (
    id           TEXT    NOT NULL PRIMARY KEY,
    org_id       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    query        TEXT    NOT NULL,
    udfs         TEXT    CHECK (udfs IS NULL OR json_valid(udfs)),
    preview      BOOLEAN NOT NULL DEFAULT FALSE,
    enable_sinks BOOLEAN NOT NULL DEFAULT FALSE,
    parallelism  INTEGER NOT NULL,
    graph        TEXT    CHECK (graph IS NULL OR json_valid(graph)),
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
-- ListPipelines: org, non-preview, newest first.
CREATE INDEX pipelines_org_preview_created ON pipelines (org_id, preview, created_at DESC, id DESC);
-- DeleteTerminalPreviews.
CREATE INDEX pipelines_preview_created ON pipelines (created_at) WHERE preview;

CREATE TABLE jobs (
    id                         TEXT    NOT NULL PRIMARY KEY,
    org_id                     TEXT    NOT NULL,
    pipeline_id                TEXT    NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    stop                       TEXT    NOT NULL DEFAULT 'none',
    checkpoint_interval_micros BIGINT  NOT NULL,
    parallelism_overrides      TEXT    CHECK (parallelism_overrides IS NULL OR json_valid(parallelism_overrides)),
    restart_nonce              BIGINT  NOT NULL DEFAULT 0,
    restart_mode               TEXT    NOT NULL DEFAULT 'safe',
    ttl_micros                 BIGINT,
    created_at                 BIGINT  NOT NULL,
    updated_at                 BIGINT  NOT NULL
);
-- A pipeline has exactly one job; the index also serves the join and the cascade.
CREATE UNIQUE INDEX jobs_pipeline ON jobs (pipeline_id);
-- ListJobs and the running-jobs count.
CREATE INDEX jobs_org_created ON jobs (org_id, created_at DESC, id DESC);

CREATE TABLE job_statuses (
    job_id          TEXT    NOT NULL PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    org_id          TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'Created',
    run_id          BIGINT  NOT NULL DEFAULT 0,
    start_time      BIGINT,
    finish_time     BIGINT,
    tasks           INTEGER,
    failure_message TEXT,
    failure_domain  TEXT,
    restarts        INTEGER NOT NULL DEFAULT 0,
    restart_nonce   BIGINT  NOT NULL DEFAULT 0,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE job_log_messages (
    id           TEXT    NOT NULL PRIMARY KEY,
    org_id       TEXT    NOT NULL,
    job_id       TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    operator_id  TEXT,
    task_index   INTEGER,
    created_at   BIGINT  NOT NULL,
    level        TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    details      TEXT    NOT NULL DEFAULT '',
    error_domain TEXT
);
-- ListLogMessages: one job, one level, newest first; also serves the cascade.
CREATE INDEX job_log_messages_job_level_created ON job_log_messages (job_id, level, created_at DESC, id DESC);
CREATE INDEX job_log_messages_job_created ON job_log_messages (job_id, created_at DESC, id DESC);

CREATE TABLE checkpoints (
    id          TEXT    NOT NULL PRIMARY KEY,
    org_id      TEXT    NOT NULL,
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch       BIGINT  NOT NULL,
    backend     TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'inprogress',
    is_stopping BOOLEAN NOT NULL DEFAULT FALSE,
    start_time  BIGINT  NOT NULL,
    finish_time BIGINT,
    event_spans TEXT    CHECK (event_spans IS NULL OR json_valid(event_spans)),
    operators   TEXT    CHECK (operators IS NULL OR json_valid(operators)),
    UNIQUE (job_id, epoch)
);

-- +goose Down
DROP TABLE checkpoints;
DROP TABLE job_log_messages;
DROP TABLE job_statuses;
DROP TABLE jobs;
DROP TABLE pipelines;
