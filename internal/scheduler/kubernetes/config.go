package kubernetes

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Environment variables the controller's manifests set through the
// downward API; OwnerFromEnv reads them.
const (
	EnvPodName = "POD_NAME"
	EnvPodUID  = "POD_UID"
)

// EnvAdvertiseHost is the worker setting that carries the pod IP, so that
// the worker tells the controller and its peers an address they can dial.
const EnvAdvertiseHost = "RUNNEL_WORKER__ADVERTISE_HOST"

// DefaultWorkerPort is the port a worker pod listens on.
const DefaultWorkerPort = 6902

// Config is how worker pods are made.
type Config struct {
	Namespace       string            // required
	Image           string            // required; must contain the runnel binary
	ImagePullPolicy corev1.PullPolicy // empty: the cluster's default
	ServiceAccount  string            // empty: the namespace's default
	// Command is the runnel binary in the image; default "runnel".
	Command string
	// Port is the worker's listen port; default DefaultWorkerPort.
	Port int
	// Resources are per subtask slot; a worker with n slots asks for n
	// times as much (see the package doc).
	Resources Resources
	// Env is added to every worker container. It may not set
	// EnvAdvertiseHost, which the scheduler owns.
	Env []corev1.EnvVar
	// Labels are added to every worker pod; the runnel.dev/ and
	// app.kubernetes.io/ labels the scheduler sets cannot be overridden.
	Labels map[string]string
	// Owner, when set, becomes the owner of every worker pod, so that
	// Kubernetes deletes the workers when their owner goes.
	Owner *Owner
	// TLSSecret, when set, names a Secret mounted read-only at
	// TLSMountPath in every worker, so that the tls.* file settings the
	// controller passes on (mount the same Secret there in the controller)
	// name files that exist in the pod.
	TLSSecret string
	// EnvSecret, when set, names a Secret whose keys become environment
	// variables of every worker: how checkpoint storage credentials (the
	// AWS_* variables of s3://) reach workers without appearing in the
	// pod spec.
	EnvSecret string
}

// TLSMountPath is where TLSSecret is mounted in worker pods.
const TLSMountPath = "/etc/runnel/tls"

// Resources are Kubernetes quantities such as "500m" or "1Gi"; an empty
// string leaves that request or limit unset.
type Resources struct {
	CPURequest    string
	CPULimit      string
	MemoryRequest string
	MemoryLimit   string
}

// Owner identifies the object that owns the worker pods, normally the
// controller's own Pod.
type Owner struct {
	APIVersion string
	Kind       string
	Name       string
	UID        types.UID
}

// OwnerFromEnv returns the controller's Pod as owner from POD_NAME and
// POD_UID, or nil when either is unset (not running in a pod). getenv is
// os.Getenv in production.
func OwnerFromEnv(getenv func(string) string) *Owner {
	name, uid := getenv(EnvPodName), getenv(EnvPodUID)
	if name == "" || uid == "" {
		return nil
	}
	return &Owner{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid)}
}

// resources are the parsed per-slot Resources.
type resources struct {
	requests, limits corev1.ResourceList
}

func (c *Config) validate() (resources, error) {
	var errs []error
	if c.Namespace == "" {
		errs = append(errs, errors.New("namespace is required"))
	} else if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q: %s", c.Namespace, strings.Join(msgs, "; ")))
	}
	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, errors.New("image is required"))
	}
	switch c.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("image pull policy %q: want Always, IfNotPresent or Never", c.ImagePullPolicy))
	}
	if c.ServiceAccount != "" {
		if msgs := validation.IsDNS1123Subdomain(c.ServiceAccount); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("service account %q: %s", c.ServiceAccount, strings.Join(msgs, "; ")))
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", c.Port))
	}
	for _, e := range c.Env {
		if e.Name == EnvAdvertiseHost {
			errs = append(errs, fmt.Errorf("env %s is set by the scheduler", EnvAdvertiseHost))
		} else if msgs := validation.IsEnvVarName(e.Name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("env %q: %s", e.Name, strings.Join(msgs, "; ")))
		}
	}
	for k, v := range c.Labels {
		if reservedLabel(k) {
			errs = append(errs, fmt.Errorf("label %q is set by the scheduler", k))
			continue
		}
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("label key %q: %s", k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("label %q value %q: %s", k, v, strings.Join(msgs, "; ")))
		}
	}
	if o := c.Owner; o != nil && (o.APIVersion == "" || o.Kind == "" || o.Name == "" || o.UID == "") {
		errs = append(errs, errors.New("owner needs apiVersion, kind, name and uid"))
	}
	res, err := c.Resources.parse()
	if err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

func (r Resources) parse() (resources, error) {
	out := resources{requests: corev1.ResourceList{}, limits: corev1.ResourceList{}}
	var errs []error
	set := func(list corev1.ResourceList, name corev1.ResourceName, what, s string) {
		if s == "" {
			return
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", what, s, err))
			return
		}
		if q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: must be positive", what, s))
			return
		}
		list[name] = q
	}
	set(out.requests, corev1.ResourceCPU, "cpu request", r.CPURequest)
	set(out.limits, corev1.ResourceCPU, "cpu limit", r.CPULimit)
	set(out.requests, corev1.ResourceMemory, "memory request", r.MemoryRequest)
	set(out.limits, corev1.ResourceMemory, "memory limit", r.MemoryLimit)
	for name, lim := range out.limits {
		if req, ok := out.requests[name]; ok && lim.Cmp(req) < 0 {
			errs = append(errs, fmt.Errorf("%s limit %s is below the request %s", name, lim.String(), req.String()))
		}
	}
	return out, errors.Join(errs...)
}

// scaled returns the resources of a worker with slots slots.
func (r resources) scaled(slots int) corev1.ResourceRequirements {
	scale := func(list corev1.ResourceList) corev1.ResourceList {
		if len(list) == 0 {
			return nil
		}
		out := make(corev1.ResourceList, len(list))
		for name, q := range list {
			// Millis are exact for CPU and for memory in bytes; keep the
			// format so "1Gi" per slot stays binary.
			out[name] = *resource.NewMilliQuantity(q.MilliValue()*int64(slots), q.Format)
		}
		return out
	}
	return corev1.ResourceRequirements{Requests: scale(r.requests), Limits: scale(r.limits)}
}
