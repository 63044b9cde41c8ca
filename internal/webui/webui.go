// Package webui serves the web console: the built single-page app embedded
// in the binary, with every unknown path that is not a file falling back to
// index.html so that client-side routes survive a reload.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed dist
var dist embed.FS

// Handler serves the console.
func Handler() http.Handler {
	root, _ := fs.Sub(dist, "dist") // "dist" is embedded, so Sub cannot fail
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if _, err := fs.Stat(root, name); err != nil {
			if strings.Contains(path.Base(name), ".") {
				// A missing asset is a real 404, not a route.
				http.NotFound(w, r)
				return
			}
			r = r.Clone(r.Context())
			r.URL.Path = "/"
		}
		if strings.HasPrefix(name, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}
