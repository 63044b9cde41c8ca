package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/go-chi/chi/v5"
)

func TestOpenAPIDocumentCoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	doc := e.doc() // loads and validates

	h := New(Config{Store: e.store, Planner: fakePlanner})
	mux, ok := h.(*chi.Mux)
	if !ok {
		t.Fatalf("handler is %T", h)
	}
	registered := 0
	err := chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		registered++
		item := doc.Paths.Value(route)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s %s is served but not documented", method, route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented++
			if op.OperationID == "" || op.Responses.Status(http.StatusOK) == nil {
				t.Errorf("%s %s lacks an operation id or a 200 response", method, path)
			}
		}
	}
	if registered != documented || registered < 17 {
		t.Errorf("%d routes served, %d documented", registered, documented)
	}

	// The spec's route table, spelled out once more, so that a route
	// dropped from both the router and the document is still noticed.
	for _, want := range []string{
		"GET /api/v1/ping", "GET /api/v1/connectors", "POST /api/v1/pipelines", "POST /api/v1/pipelines/preview",
		"POST /api/v1/pipelines/validate_query", "GET /api/v1/pipelines", "GET /api/v1/pipelines/{id}",
		"PATCH /api/v1/pipelines/{id}", "DELETE /api/v1/pipelines/{id}", "POST /api/v1/pipelines/{id}/restart",
		"GET /api/v1/pipelines/{id}/jobs", "GET /api/v1/jobs", "GET /api/v1/pipelines/{id}/jobs/{job_id}/errors",
		"GET /api/v1/pipelines/{id}/jobs/{job_id}/checkpoints",
		"GET /api/v1/pipelines/{id}/jobs/{job_id}/checkpoints/{epoch}/operator_checkpoint_groups",
		"GET /api/v1/pipelines/{id}/jobs/{job_id}/operator_metric_groups",
		"GET /api/v1/pipelines/{id}/jobs/{job_id}/output", "GET /api/v1/api-docs/openapi.json",
	} {
		method, path, _ := strings.Cut(want, " ")
		if item := doc.Paths.Value(path); item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s missing from the document", want)
		}
	}

	// Request schemas are closed and name their required fields.
	post := doc.Paths.Value("/api/v1/pipelines").Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	if strings.Join(post.Required, ",") != "name,parallelism,query" {
		t.Errorf("PipelinePost required %v", post.Required)
	}
	if post.AdditionalProperties.Has == nil || *post.AdditionalProperties.Has {
		t.Error("PipelinePost accepts unknown properties")
	}
}

// TestOpenAPIValidationCatchesDrift makes sure the response check used by
// every test has teeth: a body missing a required field fails it.
func TestOpenAPIValidationCatchesDrift(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/pipelines/pl_x", nil)
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	check := func(body string) error {
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 http.StatusOK,
			Header:                 http.Header{"Content-Type": {"application/json"}},
		}
		in.SetBodyBytes([]byte(body))
		return openapi3filter.ValidateResponse(context.Background(), in)
	}
	p := e.create("p", 1)
	r := e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines/"+p.ID, "", nil)
	if err := check(string(r.body)); err != nil {
		t.Fatalf("real response rejected: %v", err)
	}
	broken := strings.Replace(string(r.body), `"action_text"`, `"actionText"`, 1)
	if err := check(broken); err == nil {
		t.Error("a camelCase field slipped through")
	}
	wrongType := strings.Replace(string(r.body), `"preview":false`, `"preview":"no"`, 1)
	if err := check(wrongType); err == nil {
		t.Error("a wrongly typed field slipped through")
	}
}
