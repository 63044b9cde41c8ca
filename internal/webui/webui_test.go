package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", 200, "Runnel"},
		{"/pipelines/pl_123", 200, "Runnel"}, // client-side route falls back
		{"/missing.js", 404, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("GET %s = %d %q", c.path, rec.Code, rec.Body.String())
		}
	}
}
