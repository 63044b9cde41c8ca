// Package deploy renders the Kubernetes manifests in kubernetes/ from
// Values. The templates and the default values are embedded, so the runnel
// binary can print manifests that match its own version.
package deploy

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

//go:embed kubernetes/*.tmpl kubernetes/values.yaml
var files embed.FS

// Values are the settings the templates take. The field comments in
// kubernetes/values.yaml say what each one does.
type Values struct {
	Namespace       string `json:"namespace"`
	CreateNamespace bool   `json:"createNamespace"`
	Image           string `json:"image"`
	ImagePullPolicy string `json:"imagePullPolicy"`
	LogLevel        string `json:"logLevel"`
	LogFormat       string `json:"logFormat"`

	Database      Database `json:"database"`
	CheckpointURL string   `json:"checkpointURL"`
	// CheckpointSecret is a Secret whose keys (AWS_ACCESS_KEY_ID, …) become
	// environment of the controller and of every worker pod.
	CheckpointSecret string `json:"checkpointSecret"`

	API        Component `json:"api"`
	Controller Component `json:"controller"`
	Worker     Worker    `json:"worker"`

	TLS TLS `json:"tls"`
}

// TLS turns on TLS for gRPC between the API, the controller and the
// workers. SecretName is a Secret with the keys tls.crt, tls.key and
// ca.crt (what cert-manager writes); empty leaves gRPC in plaintext.
// ServerName is the DNS name in the certificate that every component
// checks, since the parts dial each other by pod IP.
type TLS struct {
	SecretName string `json:"secretName"`
	ServerName string `json:"serverName"`
}

// Database names the Secret with the PostgreSQL URL.
type Database struct {
	SecretName string `json:"secretName"`
	// URL, when set, renders the Secret as well.
	URL string `json:"url"`
}

// Component is a Deployment's size.
type Component struct {
	Replicas  int       `json:"replicas"`
	Resources Resources `json:"resources"`
}

// Worker holds the resources of worker pods, per subtask slot.
type Worker struct {
	Resources Resources `json:"resources"`
}

// Resources are a container's requests and limits.
type Resources struct {
	Requests ResourceList `json:"requests"`
	Limits   ResourceList `json:"limits"`
}

// ResourceList holds quantities such as "500m" or "1Gi"; empty is unset.
type ResourceList struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// DefaultValues returns the values in kubernetes/values.yaml.
func DefaultValues() Values {
	data, err := files.ReadFile("kubernetes/values.yaml")
	if err != nil {
		panic(err) // embedded; the tests read it
	}
	var v Values
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		panic(fmt.Sprintf("deploy: embedded values.yaml: %v", err))
	}
	return v
}

// LoadValues returns the defaults overridden by the YAML in data. Unknown
// keys are an error, so a misspelt setting does not go unnoticed.
func LoadValues(data []byte) (Values, error) {
	v := DefaultValues()
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		return Values{}, fmt.Errorf("deploy values: %w", err)
	}
	return v, nil
}

// Validate reports every value the manifests cannot be rendered with.
func (v Values) Validate() error {
	var errs []error
	dnsLabel := func(what, s string) {
		if msgs := validation.IsDNS1123Label(s); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: %s", what, s, strings.Join(msgs, "; ")))
		}
	}
	dnsLabel("namespace", v.Namespace)
	if msgs := validation.IsDNS1123Subdomain(v.Database.SecretName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("database.secretName %q: %s", v.Database.SecretName, strings.Join(msgs, "; ")))
	}
	if v.CheckpointSecret != "" {
		if msgs := validation.IsDNS1123Subdomain(v.CheckpointSecret); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("checkpointSecret %q: %s", v.CheckpointSecret, strings.Join(msgs, "; ")))
		}
	}
	if strings.TrimSpace(v.Image) == "" {
		errs = append(errs, errors.New("image is required"))
	}
	if !slices.Contains([]string{"Always", "IfNotPresent", "Never"}, v.ImagePullPolicy) {
		errs = append(errs, fmt.Errorf("imagePullPolicy %q: want Always, IfNotPresent or Never", v.ImagePullPolicy))
	}
	if v.API.Replicas < 1 {
		errs = append(errs, fmt.Errorf("api.replicas %d: want at least 1", v.API.Replicas))
	}
	if v.Controller.Replicas < 1 {
		errs = append(errs, fmt.Errorf("controller.replicas %d: want at least 1", v.Controller.Replicas))
	}
	errs = append(errs, v.API.Resources.validate("api.resources"))
	errs = append(errs, v.Controller.Resources.validate("controller.resources"))
	errs = append(errs, v.Worker.Resources.validate("worker.resources"))
	errs = append(errs, v.TLS.validate())
	return errors.Join(errs...)
}

// validate insists on both names or neither: the components dial each other
// by pod IP, which no certificate can list in advance, so without a server
// name to check instead every handshake would fail.
func (t TLS) validate() error {
	var errs []error
	switch {
	case t.SecretName == "" && t.ServerName != "":
		errs = append(errs, fmt.Errorf("tls.serverName %q needs tls.secretName: without a certificate Secret gRPC runs without TLS", t.ServerName))
	case t.SecretName != "" && t.ServerName == "":
		errs = append(errs, fmt.Errorf("tls.secretName %q needs tls.serverName, the DNS name in the certificate: the components dial each other by pod IP, which a certificate cannot name", t.SecretName))
	}
	if t.SecretName != "" {
		if msgs := validation.IsDNS1123Subdomain(t.SecretName); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("tls.secretName %q: %s", t.SecretName, strings.Join(msgs, "; ")))
		}
	}
	if t.ServerName != "" {
		if msgs := validation.IsDNS1123Subdomain(t.ServerName); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("tls.serverName %q: want a DNS name: %s", t.ServerName, strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
}

// validate insists on requests, so that the scheduler can place every pod,
// and on limits no lower than them.
func (r Resources) validate(what string) error {
	var errs []error
	parse := func(name, s string) *resource.Quantity {
		if s == "" {
			return nil
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%s %q: %w", what, name, s, err))
			return nil
		}
		if q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s.%s %q: must be positive", what, name, s))
			return nil
		}
		return &q
	}
	for _, kind := range []string{"cpu", "memory"} {
		req, lim := r.Requests.CPU, r.Limits.CPU
		if kind == "memory" {
			req, lim = r.Requests.Memory, r.Limits.Memory
		}
		if req == "" {
			errs = append(errs, fmt.Errorf("%s.requests.%s is required", what, kind))
		}
		rq, lq := parse("requests."+kind, req), parse("limits."+kind, lim)
		if rq != nil && lq != nil && lq.Cmp(*rq) < 0 {
			errs = append(errs, fmt.Errorf("%s.limits.%s %s is below the request %s", what, kind, lim, req))
		}
	}
	return errors.Join(errs...)
}

// Render returns the manifests for v as one multi-document YAML stream.
func Render(v Values) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("deploy values: %w", err)
	}
	tmpl, err := template.New("").Option("missingkey=error").Funcs(template.FuncMap{
		// JSON strings are YAML strings, quoted so that no value can
		// change the document's structure.
		"json": func(s string) (string, error) {
			b, err := json.Marshal(s)
			return string(b), err
		},
	}).ParseFS(files, "kubernetes/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("deploy templates: %w", err)
	}
	names, err := fs.Glob(files, "kubernetes/*.yaml.tmpl")
	if err != nil {
		return nil, err
	}
	slices.Sort(names) // numbered so that a namespace comes before its contents
	var out bytes.Buffer
	for _, name := range names {
		var doc bytes.Buffer
		base := name[strings.LastIndex(name, "/")+1:]
		if err := tmpl.ExecuteTemplate(&doc, base, v); err != nil {
			return nil, fmt.Errorf("deploy: render %s: %w", base, err)
		}
		body := bytes.TrimSpace(doc.Bytes())
		if len(body) == 0 {
			continue
		}
		if out.Len() > 0 {
			out.WriteString("---\n")
		}
		fmt.Fprintf(&out, "# Source: %s\n", base)
		out.Write(body)
		out.WriteString("\n")
	}
	return out.Bytes(), nil
}
