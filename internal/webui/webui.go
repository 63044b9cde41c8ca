// Package webui serves the web console: the single-page app that
// `make web-build` (cd web && npm run build) writes into dist/, embedded in
// the binary, with every unknown path that is not a file falling back to
// index.html so that client-side routes survive a reload.
//
// Built assets are not committed. A binary built without the web build
// embeds only dist/.gitkeep; it then serves placeholder.html, which says
// how to build the console, on every page route.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist placeholder.html
var embedded embed.FS

// Handler serves the console embedded in the binary, or the placeholder
// page when the binary was built without it.
func Handler() http.Handler {
	root, _ := fs.Sub(embedded, "dist") // "dist" is embedded, so Sub cannot fail
	placeholder, _ := embedded.ReadFile("placeholder.html")
	return handler(root, placeholder)
}

// Built reports whether the binary embeds a built console.
func Built() bool {
	_, err := fs.Stat(embedded, "dist/index.html")
	return err == nil
}

// handler serves the app in root, or placeholder when root has no
// index.html.
func handler(root fs.FS, placeholder []byte) http.Handler {
	if _, err := fs.Stat(root, "index.html"); err != nil {
		return placeholderHandler(placeholder)
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if st, err := fs.Stat(root, name); err != nil || st.IsDir() || strings.HasPrefix(path.Base(name), ".") {
			if strings.Contains(path.Base(name), ".") {
				// A missing asset is a real 404, not a route.
				http.NotFound(w, r)
				return
			}
			name = "index.html"
			r = r.Clone(r.Context())
			r.URL.Path = "/"
		}
		if strings.HasPrefix(name, "assets/") {
			// Vite puts a content hash in every asset's name.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			// index.html names the current assets: always revalidate it.
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

func placeholderHandler(page []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(path.Base(r.URL.Path), ".") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(page)
	})
}
