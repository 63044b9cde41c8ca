package webui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

type want struct {
	path   string
	status int
	body   string // substring of the body
	cache  string // Cache-Control, "" to skip
}

func check(t *testing.T, h http.Handler, cases []want) {
	t.Helper()
	for _, c := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("GET %s = %d %.200q, want %d containing %q", c.path, rec.Code, rec.Body.String(), c.status, c.body)
		}
		if got := rec.Header().Get("Cache-Control"); c.cache != "" && got != c.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", c.path, got, c.cache)
		}
	}
}

// TestHandler checks whatever this binary embeds: the built console or,
// without a web build, the placeholder.
func TestHandler(t *testing.T) {
	body := "Runnel"
	if !Built() {
		body = "make web-build"
	}
	check(t, Handler(), []want{
		{"/", 200, body, "no-cache"},
		{"/pipelines/pl_123", 200, body, "no-cache"}, // client-side route falls back
		{"/missing.js", 404, "", ""},
		{"/.gitkeep", 404, "", ""},
	})
}

func TestBuiltConsole(t *testing.T) {
	root := fstest.MapFS{
		"index.html":          {Data: []byte(`<!doctype html><div id="root"></div><script src="/assets/index-abc.js"></script>`)},
		"assets/index-abc.js": {Data: []byte("console.log('runnel')")},
		"favicon.svg":         {Data: []byte("<svg/>")},
		".gitkeep":            {Data: nil},
	}
	h := handler(root, []byte("placeholder"))
	check(t, h, []want{
		{"/", 200, `id="root"`, "no-cache"},
		{"/pipelines", 200, `id="root"`, "no-cache"},
		{"/pipelines/pl_123", 200, `id="root"`, "no-cache"},
		{"/pipelines/new?x=1", 200, `id="root"`, "no-cache"},
		{"/assets/index-abc.js", 200, "runnel", "public, max-age=31536000, immutable"},
		{"/favicon.svg", 200, "<svg/>", "no-cache"},
		{"/assets", 200, `id="root"`, ""}, // a folder is not listed
		{"/assets/missing-123.js", 404, "", ""},
		{"/missing.css", 404, "", ""},
		{"/.gitkeep", 404, "", ""},
	})
}

func TestPlaceholderWithoutBuild(t *testing.T) {
	page, err := fs.ReadFile(embedded, "placeholder.html")
	if err != nil {
		t.Fatal(err)
	}
	// Exactly what an unbuilt dist/ holds.
	h := handler(fstest.MapFS{".gitkeep": {Data: nil}}, page)
	check(t, h, []want{
		{"/", 200, "make web-build", "no-cache"},
		{"/pipelines/pl_123", 200, "npm ci", "no-cache"},
		{"/assets/index-abc.js", 404, "", ""},
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("placeholder Content-Type %q", ct)
	}
	if !strings.Contains(string(page), "/api/v1") {
		t.Error("placeholder does not point at the API")
	}
}
