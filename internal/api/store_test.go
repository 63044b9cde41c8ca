package api

import "github.com/runnel-dev/runnel/internal/store/sqlite"

// openSQLite is the store the API tests run against.
var openSQLite = sqlite.Open
