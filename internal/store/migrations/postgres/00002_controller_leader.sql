-- The controller that holds the leader advisory lock (internal/leader)
-- records itself here so that API servers can find it. At most one row;
-- it may name a leader that has just died until the next one takes over.
-- since is BIGINT microseconds since the Unix epoch, like every time here.

-- +goose Up
CREATE TABLE controller_leader (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    holder  TEXT    NOT NULL,
    address TEXT    NOT NULL,
    since   BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE controller_leader;
