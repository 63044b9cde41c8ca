package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	_ "github.com/runnel-dev/runnel/internal/connectors/all" // built-in connectors for the real planner
)

// TestRealPlanner runs the API on internal/sql and the built-in connectors.
func TestRealPlanner(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Planner = SQLPlanner(nil)
		c.Connectors = ConnectorList(nil)
	})
	const query = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');
SELECT counter FROM impulse WHERE counter % 2 = 0`

	var cs Collection[Connector]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/connectors", "", &cs)
	ids := map[string]bool{}
	for _, c := range cs.Data {
		ids[c.ID] = true
	}
	if !ids["impulse"] || !ids["preview"] {
		t.Errorf("connectors %v", ids)
	}

	quoted, _ := json.Marshal(query)
	body := func(fields string) string { return `{"query":` + string(quoted) + fields + `}` }
	var ok QueryValidationResult
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/validate_query", body(""), &ok)
	if ok.Graph == nil || len(ok.Graph.Nodes) == 0 || len(ok.Errors) != 0 {
		t.Fatalf("valid query: %+v", ok)
	}

	var bad QueryValidationResult
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/validate_query", `{"query":"SELECT nope FROM nowhere"}`, &bad)
	if bad.Graph != nil || len(bad.Errors) == 0 || bad.Errors[0].Message == "" {
		t.Fatalf("invalid query: %+v", bad)
	}
	r := e.req(http.MethodPost, "/api/v1/pipelines", `{"name":"x","query":"SELECT nope FROM nowhere","parallelism":1}`)
	if r.status != 400 || !strings.HasPrefix(r.errMsg(t), "Failed to plan query:\n * ") {
		t.Errorf("create with bad SQL: %d %s", r.status, r.body)
	}

	var p Pipeline
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines", body(`,"name":"evens","parallelism":2`), &p)
	for _, n := range p.Graph.Nodes {
		if n.Parallelism != 2 {
			t.Errorf("node %+v", n)
		}
	}
	var pv Pipeline
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/preview", body(""), &pv)
	if !pv.Preview {
		t.Errorf("preview %+v", pv)
	}
	// The planned preview sink is what the output route looks for.
	j := e.jobOf(pv)
	e.ctrl.start(j.ID)
	e.ctrl.stop(j.ID)
	if r := e.req(http.MethodGet, "/api/v1/pipelines/"+pv.ID+"/jobs/"+j.ID+"/output", ""); r.status != 400 || r.errMsg(t) == "Job does not have a preview sink" {
		t.Errorf("output of a stopped preview: %d %s", r.status, r.body)
	}
}
