package connectors_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"github.com/runnel-dev/runnel/internal/connectors"
	_ "github.com/runnel-dev/runnel/internal/connectors/all"
	"github.com/runnel-dev/runnel/internal/connectors/impulse"
)

func TestListIsSortedAndComplete(t *testing.T) {
	list := connectors.List()
	var ids []string
	for _, d := range list {
		ids = append(ids, d.ID)
		if d.Name == "" || d.Description == "" || d.Icon == "" || !d.Enabled || d.Source == d.Sink && !d.Source {
			t.Errorf("incomplete descriptor %+v", d)
		}
		var schema map[string]any
		if err := json.Unmarshal([]byte(d.TableConfig), &schema); err != nil {
			t.Errorf("%s: table_config is not JSON: %v", d.ID, err)
		}
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("ids not sorted: %v", ids)
	}
	for _, want := range []string{"blackhole", "impulse", "preview"} {
		if _, ok := connectors.Default().Lookup(want); !ok {
			t.Errorf("%s is not registered", want)
		}
	}
}

func TestDescriptorJSON(t *testing.T) {
	b, err := json.Marshal(connectors.Descriptor{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"connection_config", "custom_schemas", "description", "enabled", "hidden", "icon", "id", "name", "sink", "source", "table_config", "testing"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if m["connection_config"] != nil {
		t.Errorf("connection_config = %v, want null", m["connection_config"])
	}
}

func TestRegistry(t *testing.T) {
	r := connectors.NewRegistry()
	if err := r.Register(impulse.Connector{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(impulse.Connector{}); err == nil {
		t.Error("duplicate registration accepted")
	}
	c := r.Clone()
	if _, ok := c.Lookup("impulse"); !ok || len(c.IDs()) != 1 {
		t.Errorf("clone lost connectors: %v", c.IDs())
	}
}

func TestOptions(t *testing.T) {
	o := connectors.NewOptions(map[string]string{"Rate": " 2.5 ", "n": "x", "unused": "1"})
	if f, ok, err := o.Float("rate"); f != 2.5 || !ok || err != nil {
		t.Errorf("Float = %v %v %v", f, ok, err)
	}
	if _, ok, err := o.Int("n"); !ok || err == nil {
		t.Errorf("Int of a non-number: %v %v", ok, err)
	}
	if _, ok, _ := o.Int("absent"); ok {
		t.Error("absent option found")
	}
	if u := o.Unused(); !reflect.DeepEqual(u, []string{"unused"}) {
		t.Errorf("Unused = %v", u)
	}
}
