package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeployRender(t *testing.T) {
	out, err := runCmd(t, "deploy", "render")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: runnel-api", "name: runnel-controller", "kind: RoleBinding", "image: \"runnel:latest\""} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered manifests lack %q", want)
		}
	}
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("image: my-runnel:1.2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err = runCmd(t, "deploy", "render", "-f", values); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "my-runnel:1.2") {
		t.Error("the values file's image is not in the manifests")
	}
	for name, body := range map[string]string{"empty image": "image: \"\"\n", "unknown key": "imagee: x\n"} {
		if err := os.WriteFile(values, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var ue usageError
		if _, err := runCmd(t, "deploy", "render", "-f", values); !errors.As(err, &ue) {
			t.Errorf("%s: err %v, want a usage error", name, err)
		}
	}
	var ue usageError
	if _, err := runCmd(t, "deploy", "render", "-f", filepath.Join(t.TempDir(), "missing.yaml")); !errors.As(err, &ue) {
		t.Errorf("missing values file: err %v, want a usage error", err)
	}
}
