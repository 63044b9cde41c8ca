// Package kubernetes is a scheduler.Scheduler that runs each worker as a
// Pod through client-go.
//
// One Pod per worker, not a ReplicaSet per run: every worker of a run needs
// its own worker id on its command line, and a ReplicaSet's pods are
// identical. Pods are named deterministically from the worker id, so a
// repeated StartWorkers finds the pods it made before (AlreadyExists) and
// creates nothing twice. Restart policy is Never: a worker that dies is
// restarted by the controller as a new run from the last checkpoint, never
// by the kubelet under the old run.
//
// The owner reference (Config.Owner, normally the controller's own Pod from
// the downward API) lets Kubernetes remove the workers of a controller that
// is gone; a new leader restarts their jobs from checkpoints anyway. The
// Deployment would outlive a fail-over, but the downward API cannot tell a
// pod its Deployment's UID.
//
// Config.Resources are per subtask slot and scaled by StartRequest.Slots,
// because a worker runs its slots' subtasks side by side; one setting then
// fits jobs of every parallelism.
//
// The scheduler uses these verbs on pods, which the controller's Role must
// grant: create, get (on AlreadyExists), list and delete.
package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/runnel-dev/runnel/internal/scheduler"
)

// Labels on every worker pod. The id labels hold the ids made safe as
// label values (see LabelValue); the annotations of the same names hold
// them exactly.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelJobID     = "runnel.dev/job-id"
	LabelRunID     = "runnel.dev/run-id"
	LabelWorkerID  = "runnel.dev/worker-id"
)

// ContainerName is the name of the worker container in each pod.
const ContainerName = "worker"

func reservedLabel(k string) bool {
	return strings.HasPrefix(k, "runnel.dev/") || k == LabelName || k == LabelComponent
}

// Scheduler starts workers as pods in one namespace.
type Scheduler struct {
	client kubernetes.Interface
	cfg    Config
	res    resources
}

var _ scheduler.Scheduler = (*Scheduler)(nil)

// New returns a Scheduler that makes pods with client as cfg says.
func New(client kubernetes.Interface, cfg Config) (*Scheduler, error) {
	if client == nil {
		return nil, errors.New("kubernetes scheduler: no client")
	}
	if cfg.Command == "" {
		cfg.Command = "runnel"
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultWorkerPort
	}
	res, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("kubernetes scheduler config: %w", err)
	}
	return &Scheduler{client: client, cfg: cfg, res: res}, nil
}

// StartWorkers creates one pod per worker of the run. Pods that exist
// already for the same worker are kept, so a retried call is harmless. On
// error some pods may exist; StopWorkers removes them.
func (s *Scheduler) StartWorkers(ctx context.Context, req scheduler.StartRequest) error {
	if err := checkRequest(req); err != nil {
		return err
	}
	pods := s.client.CoreV1().Pods(s.cfg.Namespace)
	for i := range req.Workers {
		pod := s.Pod(req, i)
		_, err := pods.Create(ctx, pod, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = s.checkExisting(ctx, pod)
		}
		if err != nil {
			return fmt.Errorf("start worker %s: %w", scheduler.WorkerID(req.JobID, req.RunID, i), err)
		}
	}
	return nil
}

func checkRequest(req scheduler.StartRequest) error {
	switch {
	case req.JobID == "":
		return errors.New("start workers: no job id")
	case req.RunID <= 0:
		return fmt.Errorf("start workers of job %s: run id %d is not positive", req.JobID, req.RunID)
	case req.Workers <= 0 || req.Slots <= 0:
		return fmt.Errorf("start workers of job %s: need at least one worker and slot, got %d workers with %d slots", req.JobID, req.Workers, req.Slots)
	case req.ControllerAddr == "":
		return fmt.Errorf("start workers of job %s: no controller address", req.JobID)
	}
	return nil
}

// checkExisting accepts an existing pod of the same name only if it is the
// same worker; a different one means two worker ids shortened to one name.
func (s *Scheduler) checkExisting(ctx context.Context, want *corev1.Pod) error {
	got, err := s.client.CoreV1().Pods(s.cfg.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("pod %s exists but cannot be read: %w", want.Name, err)
	}
	if id := got.Annotations[LabelWorkerID]; id != want.Annotations[LabelWorkerID] {
		return fmt.Errorf("pod %s exists for worker %q", want.Name, id)
	}
	return nil
}

// StopWorkers deletes the pods of one run of a job, or of all its runs when
// runID is 0. Pods already gone are not an error.
func (s *Scheduler) StopWorkers(ctx context.Context, jobID string, runID int64) error {
	if jobID == "" || runID < 0 {
		return fmt.Errorf("stop workers: bad job %q or run %d", jobID, runID)
	}
	sel := RunSelector(jobID, runID)
	pods := s.client.CoreV1().Pods(s.cfg.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return fmt.Errorf("stop workers of job %s run %d: %w", jobID, runID, err)
	}
	// Background propagation: the call returns at once and dependents, if
	// any, are collected afterwards.
	bg := metav1.DeletePropagationBackground
	var errs []error
	for _, p := range list.Items {
		// The label value may be shortened; the annotation is exact.
		if p.Annotations[LabelJobID] != jobID {
			continue
		}
		err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete pod %s: %w", p.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop workers of job %s run %d: %w", jobID, runID, err)
	}
	return nil
}

// RunSelector selects the worker pods of a job's run, or of all its runs
// when runID is 0.
func RunSelector(jobID string, runID int64) labels.Selector {
	set := labels.Set{
		LabelName:      "runnel",
		LabelComponent: "worker",
		LabelJobID:     LabelValue(jobID),
	}
	if runID != 0 {
		set[LabelRunID] = strconv.FormatInt(runID, 10)
	}
	return labels.SelectorFromSet(set)
}

// Pod is the pod StartWorkers creates for worker i of req.
func (s *Scheduler) Pod(req scheduler.StartRequest, i int) *corev1.Pod {
	workerID := scheduler.WorkerID(req.JobID, req.RunID, i)
	runID := strconv.FormatInt(req.RunID, 10)

	lbl := make(map[string]string, len(s.cfg.Labels)+5)
	for k, v := range s.cfg.Labels {
		lbl[k] = v
	}
	lbl[LabelName] = "runnel"
	lbl[LabelComponent] = "worker"
	lbl[LabelJobID] = LabelValue(req.JobID)
	lbl[LabelRunID] = runID
	lbl[LabelWorkerID] = LabelValue(workerID)

	env := append([]corev1.EnvVar(nil), s.cfg.Env...)
	env = append(env, corev1.EnvVar{
		Name: EnvAdvertiseHost,
		ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"},
		},
	})

	args := scheduler.WorkerArgs(req, i)
	args = append(args, "--listen-addr", net.JoinHostPort("0.0.0.0", strconv.Itoa(s.cfg.Port)))

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PodName(req.JobID, req.RunID, i),
			Namespace: s.cfg.Namespace,
			Labels:    lbl,
			Annotations: map[string]string{
				LabelJobID:    req.JobID,
				LabelRunID:    runID,
				LabelWorkerID: workerID,
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: s.cfg.ServiceAccount,
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           s.cfg.Image,
				ImagePullPolicy: s.cfg.ImagePullPolicy,
				Command:         []string{s.cfg.Command},
				Args:            args,
				Env:             env,
				Ports: []corev1.ContainerPort{{
					Name:          "grpc",
					ContainerPort: int32(s.cfg.Port),
					Protocol:      corev1.ProtocolTCP,
				}},
				Resources: s.res.scaled(req.Slots),
			}},
		},
	}
	if name := s.cfg.EnvSecret; name != "" {
		pod.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}
	}
	if name := s.cfg.TLSSecret; name != "" {
		pod.Spec.Volumes = []corev1.Volume{{
			Name:         "tls",
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}},
		}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "tls", MountPath: TLSMountPath, ReadOnly: true}}
	}
	if o := s.cfg.Owner; o != nil {
		pod.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: o.APIVersion,
			Kind:       o.Kind,
			Name:       o.Name,
			UID:        o.UID,
		}}
	}
	return pod
}

// maxName is the longest DNS-1123 label, and so the longest pod name that
// is also a valid hostname.
const maxName = 63

// PodName is the deterministic name of worker i's pod: "runnel-" and the
// worker id, lower-cased with other characters than [a-z0-9-] replaced.
// When that loses information (upper case, underscores, length) a hash of
// the exact job id keeps names of different jobs apart.
func PodName(jobID string, runID int64, i int) string {
	suffix := fmt.Sprintf("-%d-%d", runID, i)
	job := dnsLabel(jobID)
	if job != jobID || len("runnel-")+len(job)+len(suffix) > maxName {
		h := shortHash(jobID)
		room := maxName - len("runnel-") - len(suffix) - len(h) - 1
		job = strings.Trim(job[:min(len(job), room)], "-")
		if job == "" {
			job = h
		} else {
			job += "-" + h
		}
	}
	return "runnel-" + job + suffix
}

// LabelValue makes s a valid label value: characters other than
// [A-Za-z0-9_.-] are replaced and the ends are alphanumeric. When that
// changes s, or s is longer than 63 characters, it is shortened and a hash
// of s appended, so different ids stay different.
func LabelValue(s string) string {
	v := strings.Map(func(r rune) rune {
		if isAlnum(r) || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if v == s && len(v) <= maxName && (v == "" || isAlnum(rune(v[0])) && isAlnum(rune(v[len(v)-1]))) {
		return v
	}
	h := shortHash(s)
	v = trimNonAlnum(v[:min(len(v), maxName-len(h)-1)])
	if v == "" {
		return h
	}
	return v + "-" + h
}

func dnsLabel(s string) string {
	v := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, s)
	return strings.Trim(v, "-")
}

func trimNonAlnum(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return !isAlnum(r) })
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// shortHash is 8 hex digits of the SHA-256 of s: enough to keep the ids
// of one controller apart, short enough to leave room in a name.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
