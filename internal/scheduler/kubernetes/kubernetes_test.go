package kubernetes

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/runnel-dev/runnel/internal/scheduler"
)

func testConfig() Config {
	return Config{
		Namespace:       "runnel",
		Image:           "runnel:test",
		ImagePullPolicy: corev1.PullIfNotPresent,
		ServiceAccount:  "runnel-worker",
		Resources: Resources{
			CPURequest:    "250m",
			CPULimit:      "1",
			MemoryRequest: "512Mi",
			MemoryLimit:   "1Gi",
		},
		Env:    []corev1.EnvVar{{Name: "RUNNEL_LOG_FORMAT", Value: "json"}},
		Labels: map[string]string{"team": "data"},
		Owner:  &Owner{APIVersion: "v1", Kind: "Pod", Name: "runnel-controller-abc", UID: "uid-1"},
	}
}

func newTest(t *testing.T) (*fake.Clientset, *Scheduler) {
	t.Helper()
	client := fake.NewClientset()
	s, err := New(client, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	return client, s
}

func TestStartWorkersCreatesPods(t *testing.T) {
	client, s := newTest(t)
	req := scheduler.StartRequest{JobID: "job_Ab", RunID: 3, Workers: 2, Slots: 2, ControllerAddr: "runnel-controller:9190"}
	if err := s.StartWorkers(context.Background(), req); err != nil {
		t.Fatal(err)
	}

	want := func(i int, workerID string) *corev1.Pod {
		name := PodName("job_Ab", 3, i)
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:      name,
				Namespace: "runnel",
				Labels: map[string]string{
					"team":                        "data",
					"app.kubernetes.io/name":      "runnel",
					"app.kubernetes.io/component": "worker",
					"runnel.dev/job-id":           "job_Ab",
					"runnel.dev/run-id":           "3",
					"runnel.dev/worker-id":        workerID,
				},
				Annotations: map[string]string{
					"runnel.dev/job-id":    "job_Ab",
					"runnel.dev/run-id":    "3",
					"runnel.dev/worker-id": workerID,
				},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "runnel-controller-abc", UID: "uid-1"}},
			},
			Spec: corev1.PodSpec{
				RestartPolicy:      corev1.RestartPolicyNever,
				ServiceAccountName: "runnel-worker",
				Containers: []corev1.Container{{
					Name:            "worker",
					Image:           "runnel:test",
					ImagePullPolicy: corev1.PullIfNotPresent,
					Command:         []string{"runnel"},
					Args: []string{
						"worker",
						"--controller-addr", "runnel-controller:9190",
						"--job-id", "job_Ab",
						"--run-id", "3",
						"--worker-id", workerID,
						"--slots", "2",
						"--listen-addr", "0.0.0.0:6902",
					},
					Env: []corev1.EnvVar{
						{Name: "RUNNEL_LOG_FORMAT", Value: "json"},
						{Name: "RUNNEL_WORKER__ADVERTISE_HOST", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"},
						}},
					},
					Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: 6902, Protocol: corev1.ProtocolTCP}},
					// Two slots: twice the per-slot settings.
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("500m"),
							corev1.ResourceMemory: resource.MustParse("1Gi"),
						},
						Limits: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("2"),
							corev1.ResourceMemory: resource.MustParse("2Gi"),
						},
					},
				}},
			},
		}
	}

	actions := client.Actions()
	if len(actions) != 2 {
		t.Fatalf("got %d actions, want 2 creates: %v", len(actions), actions)
	}
	for i, a := range actions {
		create, ok := a.(k8stesting.CreateAction)
		if !ok || a.GetVerb() != "create" || a.GetResource().Resource != "pods" || a.GetNamespace() != "runnel" {
			t.Fatalf("action %d: got %s %s in %q, want create pods in runnel", i, a.GetVerb(), a.GetResource().Resource, a.GetNamespace())
		}
		got := create.GetObject().(*corev1.Pod)
		w := want(i, scheduler.WorkerID("job_Ab", 3, i))
		if !apiequality.Semantic.DeepEqual(got, w) {
			t.Errorf("pod %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	if n := PodName("job_Ab", 3, 0); !strings.HasPrefix(n, "runnel-job-ab-") || !strings.HasSuffix(n, "-3-0") {
		t.Errorf("pod name %q", n)
	}
	// The scaled quantities print as an operator would write them.
	res := actions[0].(k8stesting.CreateAction).GetObject().(*corev1.Pod).Spec.Containers[0].Resources
	if cpu, mem := res.Requests.Cpu().String(), res.Limits.Memory().String(); cpu != "500m" || mem != "2Gi" {
		t.Errorf("cpu request %s, memory limit %s; want 500m, 2Gi", cpu, mem)
	}
}

// onePod starts one worker with cfg on a fake clientset and returns its pod.
func onePod(t *testing.T, cfg Config) *corev1.Pod {
	t.Helper()
	client := fake.NewClientset()
	s, err := New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := scheduler.StartRequest{JobID: "j", RunID: 1, Workers: 1, Slots: 4, ControllerAddr: "c:9190"}
	if err := s.StartWorkers(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	pod, err := client.CoreV1().Pods(cfg.Namespace).Get(context.Background(), "runnel-j-1-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func TestStartWorkersMinimalConfig(t *testing.T) {
	pod := onePod(t, Config{Namespace: "default", Image: "runnel:1"})
	c := pod.Spec.Containers[0]
	if pod.OwnerReferences != nil || pod.Spec.ServiceAccountName != "" || c.Resources.Requests != nil || c.Resources.Limits != nil || len(c.Env) != 1 || pod.Spec.Volumes != nil || c.VolumeMounts != nil || c.EnvFrom != nil {
		t.Errorf("unset settings leaked into the pod: %+v", pod)
	}
}

func TestStartWorkersMountsTLSSecret(t *testing.T) {
	pod := onePod(t, Config{Namespace: "default", Image: "runnel:1", TLSSecret: "runnel-tls"})
	wantVol := []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "runnel-tls"}}}}
	wantMount := []corev1.VolumeMount{{Name: "tls", MountPath: TLSMountPath, ReadOnly: true}}
	if !reflect.DeepEqual(pod.Spec.Volumes, wantVol) || !reflect.DeepEqual(pod.Spec.Containers[0].VolumeMounts, wantMount) {
		t.Errorf("volumes %+v mounts %+v, want %+v %+v", pod.Spec.Volumes, pod.Spec.Containers[0].VolumeMounts, wantVol, wantMount)
	}
}

func TestStartWorkersIdempotent(t *testing.T) {
	client, s := newTest(t)
	ctx := context.Background()
	req := scheduler.StartRequest{JobID: "job", RunID: 1, Workers: 2, Slots: 1, ControllerAddr: "c:9190"}
	if err := s.StartWorkers(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := s.StartWorkers(ctx, req); err != nil {
		t.Fatalf("second start: %v", err)
	}
	pods, _ := client.CoreV1().Pods("runnel").List(ctx, metav1.ListOptions{})
	if len(pods.Items) != 2 {
		t.Errorf("got %d pods, want 2", len(pods.Items))
	}
	wantVerbs := []string{"create", "create", "create", "get", "create", "get", "list"}
	if got := verbs(client.Actions()); strings.Join(got, " ") != strings.Join(wantVerbs, " ") {
		t.Errorf("actions %v, want %v", got, wantVerbs)
	}
}

func TestStartWorkersRejectsForeignPod(t *testing.T) {
	ctx := context.Background()
	_, s := newTest(t)
	// Another worker's pod under the name worker 0 of job/1 would get.
	squatter := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: PodName("job", 1, 0), Namespace: "runnel",
		Annotations: map[string]string{LabelWorkerID: "other-1-0"},
	}}
	client := fake.NewClientset(squatter)
	s.client = client
	err := s.StartWorkers(ctx, scheduler.StartRequest{JobID: "job", RunID: 1, Workers: 1, Slots: 1, ControllerAddr: "c:9190"})
	if err == nil || !strings.Contains(err.Error(), `exists for worker "other-1-0"`) {
		t.Errorf("got %v, want an error naming the other worker", err)
	}
}

func TestStartWorkersCreateError(t *testing.T) {
	client, s := newTest(t)
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("no"))
	})
	err := s.StartWorkers(context.Background(), scheduler.StartRequest{JobID: "job", RunID: 1, Workers: 1, Slots: 1, ControllerAddr: "c:9190"})
	if !apierrors.IsForbidden(err) {
		t.Errorf("got %v, want the Forbidden error wrapped", err)
	}
}

func TestStartWorkersBadRequest(t *testing.T) {
	_, s := newTest(t)
	ok := scheduler.StartRequest{JobID: "job", RunID: 1, Workers: 1, Slots: 1, ControllerAddr: "c:9190"}
	for name, mod := range map[string]func(*scheduler.StartRequest){
		"no job":        func(r *scheduler.StartRequest) { r.JobID = "" },
		"zero run":      func(r *scheduler.StartRequest) { r.RunID = 0 },
		"no workers":    func(r *scheduler.StartRequest) { r.Workers = 0 },
		"no slots":      func(r *scheduler.StartRequest) { r.Slots = 0 },
		"no controller": func(r *scheduler.StartRequest) { r.ControllerAddr = "" },
	} {
		req := ok
		mod(&req)
		if err := s.StartWorkers(context.Background(), req); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestStopWorkers(t *testing.T) {
	ctx := context.Background()
	client, s := newTest(t)
	start := func(job string, run int64) {
		t.Helper()
		req := scheduler.StartRequest{JobID: job, RunID: run, Workers: 2, Slots: 1, ControllerAddr: "c:9190"}
		if err := s.StartWorkers(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	start("a", 1)
	start("a", 2)
	start("b", 1)
	// Different job ids whose label values could be confused must not be.
	start("A", 1)
	client.ClearActions()

	if err := s.StopWorkers(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	wantActions(t, client.Actions(), "list", "delete runnel-a-1-0", "delete runnel-a-1-1")
	for _, a := range client.Actions()[1:] {
		opts := a.(k8stesting.DeleteAction).GetDeleteOptions()
		if opts.PropagationPolicy == nil || *opts.PropagationPolicy != metav1.DeletePropagationBackground {
			t.Errorf("delete without background propagation: %+v", opts)
		}
	}
	list := client.Actions()[0].(k8stesting.ListAction).GetListRestrictions().Labels.String()
	if want := "app.kubernetes.io/component=worker,app.kubernetes.io/name=runnel,runnel.dev/job-id=a,runnel.dev/run-id=1"; list != want {
		t.Errorf("list selector %q, want %q", list, want)
	}
	wantPods(t, client, PodName("A", 1, 0), PodName("A", 1, 1), "runnel-a-2-0", "runnel-a-2-1", "runnel-b-1-0", "runnel-b-1-1")

	// Gone already: not an error, nothing deleted.
	client.ClearActions()
	if err := s.StopWorkers(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	wantActions(t, client.Actions(), "list")

	// Run 0: every run of the job.
	if err := s.StopWorkers(ctx, "A", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.StopWorkers(ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	wantPods(t, client, "runnel-b-1-0", "runnel-b-1-1")
}

func TestStopWorkersBadArgs(t *testing.T) {
	client, s := newTest(t)
	for _, tc := range []struct {
		job string
		run int64
	}{{"", 1}, {"a", -1}} {
		if err := s.StopWorkers(context.Background(), tc.job, tc.run); err == nil {
			t.Errorf("StopWorkers(%q, %d): no error", tc.job, tc.run)
		}
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d calls to the API, want none", n)
	}
}

func TestStopWorkersRace(t *testing.T) {
	// A pod deleted between the list and the delete is not an error.
	ctx := context.Background()
	client, s := newTest(t)
	if err := s.StartWorkers(ctx, scheduler.StartRequest{JobID: "a", RunID: 1, Workers: 1, Slots: 1, ControllerAddr: "c:9190"}); err != nil {
		t.Fatal(err)
	}
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(corev1.Resource("pods"), a.(k8stesting.DeleteAction).GetName())
	})
	if err := s.StopWorkers(ctx, "a", 1); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no namespace", func(c *Config) { c.Namespace = "" }, "namespace is required"},
		{"bad namespace", func(c *Config) { c.Namespace = "Runnel_NS" }, `namespace "Runnel_NS"`},
		{"no image", func(c *Config) { c.Image = " " }, "image is required"},
		{"pull policy", func(c *Config) { c.ImagePullPolicy = "Sometimes" }, `image pull policy "Sometimes"`},
		{"service account", func(c *Config) { c.ServiceAccount = "Bad Name" }, `service account "Bad Name"`},
		{"port", func(c *Config) { c.Port = 70000 }, "port 70000 out of range"},
		{"cpu", func(c *Config) { c.Resources.CPURequest = "lots" }, `cpu request "lots"`},
		{"memory", func(c *Config) { c.Resources.MemoryLimit = "1GB!" }, `memory limit "1GB!"`},
		{"negative", func(c *Config) { c.Resources.CPULimit = "-1" }, `cpu limit "-1": must be positive`},
		{"limit below request", func(c *Config) { c.Resources.MemoryLimit = "256Mi" }, "memory limit 256Mi is below the request 512Mi"},
		{"reserved env", func(c *Config) { c.Env = append(c.Env, corev1.EnvVar{Name: EnvAdvertiseHost}) }, "set by the scheduler"},
		{"bad env", func(c *Config) { c.Env = []corev1.EnvVar{{Name: "A=B"}} }, `env "A=B"`},
		{"reserved label", func(c *Config) { c.Labels = map[string]string{LabelJobID: "x"} }, `label "runnel.dev/job-id" is set by the scheduler`},
		{"bad label value", func(c *Config) { c.Labels = map[string]string{"team": "a b"} }, `label "team" value "a b"`},
		{"owner", func(c *Config) { c.Owner = &Owner{Kind: "Pod", Name: "x"} }, "owner needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.mod(&cfg)
			_, err := New(fake.NewClientset(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(nil, testConfig()); err == nil {
		t.Error("nil client: no error")
	}
}

func TestOwnerFromEnv(t *testing.T) {
	env := map[string]string{"POD_NAME": "ctl-0", "POD_UID": "u-1"}
	got := OwnerFromEnv(func(k string) string { return env[k] })
	if want := (Owner{APIVersion: "v1", Kind: "Pod", Name: "ctl-0", UID: "u-1"}); got == nil || *got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	delete(env, "POD_UID")
	if got := OwnerFromEnv(func(k string) string { return env[k] }); got != nil {
		t.Errorf("without POD_UID: got %+v, want nil", got)
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("Very_Long_Job_", 10)
	for _, tc := range []struct {
		job  string
		run  int64
		i    int
		want string // "" when only validity and distinctness are checked
	}{
		{"abc", 1, 0, "runnel-abc-1-0"},
		{"job-7", 12, 3, "runnel-job-7-12-3"},
		{"Job_A", 1, 0, ""},
		{"job-a", 1, 0, "runnel-job-a-1-0"},
		{"job_a", 1, 0, ""},
		{"___", 1, 0, ""},
		{long, 1234567890, 99, ""},
		{long + "x", 1234567890, 99, ""},
	} {
		name := PodName(tc.job, tc.run, tc.i)
		if tc.want != "" && name != tc.want {
			t.Errorf("PodName(%q) = %q, want %q", tc.job, name, tc.want)
		}
		if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
			t.Errorf("PodName(%q) = %q: %v", tc.job, name, msgs)
		}
		if PodName(tc.job, tc.run, tc.i) != name {
			t.Errorf("PodName(%q) not deterministic", tc.job)
		}
		for _, v := range []string{LabelValue(tc.job), LabelValue(scheduler.WorkerID(tc.job, tc.run, tc.i))} {
			if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
				t.Errorf("LabelValue %q: %v", v, msgs)
			}
		}
	}
	distinct := map[string]string{}
	for _, job := range []string{"Job_A", "job-a", "job_a", "JOB-A", long, long + "x"} {
		for _, v := range []string{PodName(job, 1, 0), "label:" + LabelValue(job)} {
			if prev, ok := distinct[v]; ok {
				t.Errorf("jobs %q and %q both map to %q", prev, job, v)
			}
			distinct[v] = job
		}
	}
	if v := LabelValue("job_Ab"); v != "job_Ab" {
		t.Errorf("a valid label value changed: %q", v)
	}
}

func verbs(actions []k8stesting.Action) []string {
	var out []string
	for _, a := range actions {
		out = append(out, a.GetVerb())
	}
	return out
}

// wantActions checks the verbs of actions and, for deletes, the pod name.
func wantActions(t *testing.T, actions []k8stesting.Action, want ...string) {
	t.Helper()
	var got []string
	for _, a := range actions {
		s := a.GetVerb()
		if d, ok := a.(k8stesting.DeleteAction); ok {
			s += " " + d.GetName()
		}
		if a.GetResource().Resource != "pods" || a.GetNamespace() != "runnel" {
			t.Errorf("action %s on %s in %q", s, a.GetResource().Resource, a.GetNamespace())
		}
		got = append(got, s)
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("actions [%s], want [%s]", strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

func wantPods(t *testing.T, client *fake.Clientset, want ...string) {
	t.Helper()
	list, err := client.CoreV1().Pods("runnel").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range list.Items {
		got = append(got, p.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pods %v, want %v", got, want)
	}
}

func TestStartWorkersTakesEnvFromSecret(t *testing.T) {
	pod := onePod(t, Config{Namespace: "default", Image: "runnel:1", EnvSecret: "runnel-checkpoints"})
	want := []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "runnel-checkpoints"}}}}
	if got := pod.Spec.Containers[0].EnvFrom; !reflect.DeepEqual(got, want) {
		t.Errorf("envFrom %+v, want %+v", got, want)
	}
}
