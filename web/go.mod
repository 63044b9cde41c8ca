// This file only keeps the Go tool out of web/ (node_modules may ship .go
// files): `go vet ./...` and `go test ./...` from the repository root do
// not descend into another module. The console is not Go.
module github.com/runnel-dev/runnel/web

go 1.22
