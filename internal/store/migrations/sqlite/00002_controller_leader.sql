-- The controller leader record (see the PostgreSQL flavour). SQLite runs a
-- single controller and never elects one; the table is here so that both
-- schemas stay alike.

-- +goose Up
CREATE TABLE controller_leader (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    holder  TEXT    NOT NULL,
    address TEXT    NOT NULL,
    since   BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE controller_leader;
