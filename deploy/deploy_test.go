package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/runnel-dev/runnel/internal/scheduler"
	"github.com/runnel-dev/runnel/internal/scheduler/kubernetes"
)

// strictDecoder decodes YAML into the typed objects of client-go's scheme
// and fails on unknown or duplicate fields.
var strictDecoder = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// manifests is a rendered stream, decoded.
type manifests struct {
	namespaces  []*corev1.Namespace
	accounts    []*corev1.ServiceAccount
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	services    []*corev1.Service
	deployments []*appsv1.Deployment
	roles       []*rbacv1.Role
	bindings    []*rbacv1.RoleBinding
}

func decode(t *testing.T, stream []byte) manifests {
	t.Helper()
	var m manifests
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for n := 0; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("document %d: %v", n, err)
		}
		if isEmptyYAML(doc) {
			t.Errorf("document %d is empty:\n%s", n, doc)
			continue
		}
		obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("document %d does not decode: %v\n%s", n, err, doc)
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			m.namespaces = append(m.namespaces, o)
		case *corev1.ServiceAccount:
			m.accounts = append(m.accounts, o)
		case *corev1.ConfigMap:
			m.configMaps = append(m.configMaps, o)
		case *corev1.Secret:
			m.secrets = append(m.secrets, o)
		case *corev1.Service:
			m.services = append(m.services, o)
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, o)
		case *rbacv1.Role:
			m.roles = append(m.roles, o)
		case *rbacv1.RoleBinding:
			m.bindings = append(m.bindings, o)
		default:
			t.Fatalf("document %d: unexpected kind %s", n, gvk)
		}
	}
	return m
}

func isEmptyYAML(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

func (m manifests) objects() []metav1.Object {
	var out []metav1.Object
	for _, o := range m.namespaces {
		out = append(out, o)
	}
	for _, o := range m.accounts {
		out = append(out, o)
	}
	for _, o := range m.configMaps {
		out = append(out, o)
	}
	for _, o := range m.secrets {
		out = append(out, o)
	}
	for _, o := range m.services {
		out = append(out, o)
	}
	for _, o := range m.deployments {
		out = append(out, o)
	}
	for _, o := range m.roles {
		out = append(out, o)
	}
	for _, o := range m.bindings {
		out = append(out, o)
	}
	return out
}

func (m manifests) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	for _, d := range m.deployments {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no deployment %s", name)
	return nil
}

func customValues(t *testing.T) Values {
	t.Helper()
	v, err := LoadValues([]byte(`
namespace: streaming
createNamespace: false
image: team/runnel:1.2.3
imagePullPolicy: Always
database:
  secretName: pg-url
  url: postgres://runnel:secret@pg:5432/runnel
checkpointURL: s3://bucket/checkpoints?region=eu-west-1
api:
  replicas: 3
controller:
  replicas: 3
  resources:
    requests: {cpu: "1", memory: 1Gi}
    limits: {cpu: "2", memory: 2Gi}
worker:
  resources:
    requests: {cpu: 250m, memory: 256Mi}
    limits: {cpu: "1", memory: 512Mi}
`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tlsValues are the custom values with TLS on.
func tlsValues(t *testing.T) Values {
	t.Helper()
	v := customValues(t)
	if err := yaml.UnmarshalStrict([]byte("tls: {secretName: runnel-tls, serverName: runnel.streaming.internal}\ncheckpointSecret: runnel-s3\n"), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRender(t *testing.T) {
	for name, v := range map[string]Values{"defaults": DefaultValues(), "custom": customValues(t), "tls": tlsValues(t)} {
		t.Run(name, func(t *testing.T) {
			out, err := Render(v)
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, out)
			checkManifests(t, v, m)
			if v.TLS.SecretName == "" && (bytes.Contains(out, []byte(kubernetes.TLSMountPath)) || bytes.Contains(out, []byte("RUNNEL_TLS__"))) {
				t.Errorf("TLS is off, but the manifests mention it:\n%s", out)
			}
		})
	}
}

func checkManifests(t *testing.T, v Values, m manifests) {
	if got := len(m.namespaces) == 1; got != v.CreateNamespace {
		t.Errorf("%d namespaces rendered, createNamespace %v", len(m.namespaces), v.CreateNamespace)
	}
	if got := len(m.secrets) == 1; got != (v.Database.URL != "") {
		t.Errorf("%d secrets rendered, database.url %q", len(m.secrets), v.Database.URL)
	}
	for _, o := range m.objects() {
		if _, ok := o.(*corev1.Namespace); ok {
			if o.GetName() != v.Namespace {
				t.Errorf("namespace %s, want %s", o.GetName(), v.Namespace)
			}
			continue
		}
		if o.GetNamespace() != v.Namespace {
			t.Errorf("%s is in namespace %q, want %q", o.GetName(), o.GetNamespace(), v.Namespace)
		}
	}
	if len(m.deployments) != 2 || len(m.services) != 2 || len(m.roles) != 1 || len(m.bindings) != 1 || len(m.configMaps) != 1 {
		t.Fatalf("rendered %d deployments, %d services, %d roles, %d bindings, %d config maps", len(m.deployments), len(m.services), len(m.roles), len(m.bindings), len(m.configMaps))
	}

	for _, d := range m.deployments {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("deployment %s: selector %v: %v", d.Name, d.Spec.Selector, err)
		} else if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("deployment %s: selector %s does not match its pods %v", d.Name, sel, d.Spec.Template.Labels)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Image != v.Image {
				t.Errorf("deployment %s container %s: image %q, want %q", d.Name, c.Name, c.Image, v.Image)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("deployment %s container %s: no cpu and memory requests", d.Name, c.Name)
			}
			checkEnvSources(t, v, d.Name, c, m)
		}
	}

	for _, s := range m.services {
		var pods []*corev1.PodTemplateSpec
		for _, d := range m.deployments {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				pods = append(pods, &d.Spec.Template)
			}
		}
		if len(pods) == 0 {
			t.Errorf("service %s selects no pods", s.Name)
		}
		for _, p := range pods {
			for _, sp := range s.Spec.Ports {
				if !hasPort(p.Spec.Containers, sp.TargetPort) {
					t.Errorf("service %s port %d: target %s is no container port", s.Name, sp.Port, sp.TargetPort.String())
				}
			}
		}
	}
	wantServicePort(t, m, "runnel-api", 5115)
	wantServicePort(t, m, "runnel-controller", 9190)

	// RBAC: the controller's account is bound to the Role.
	ctl := m.deployment(t, "runnel-controller")
	account := ctl.Spec.Template.Spec.ServiceAccountName
	if !slices.ContainsFunc(m.accounts, func(a *corev1.ServiceAccount) bool { return a.Name == account }) {
		t.Errorf("controller service account %q is not rendered", account)
	}
	b, role := m.bindings[0], m.roles[0]
	if b.RoleRef.Kind != "Role" || b.RoleRef.Name != role.Name || b.RoleRef.APIGroup != rbacv1.GroupName {
		t.Errorf("role binding refers to %+v, want Role %s", b.RoleRef, role.Name)
	}
	if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
		return s.Kind == rbacv1.ServiceAccountKind && s.Name == account && s.Namespace == v.Namespace
	}) {
		t.Errorf("role binding subjects %+v lack service account %s/%s", b.Subjects, v.Namespace, account)
	}

	checkController(t, v, ctl)
	checkAPI(t, m.deployment(t, "runnel-api"))
	checkTLS(t, v, m.deployment(t, "runnel-api"), "")
	checkTLS(t, v, ctl, v.TLS.SecretName)
	wantDatabaseURL(t, v, "api", m.deployment(t, "runnel-api").Spec.Template.Spec.Containers[0])
	checkRoleVerbs(t, v, role, ctl)
}

// checkEnvSources checks that the Secrets and ConfigMaps a container reads
// are rendered or, for the database Secret, named as configured.
func checkEnvSources(t *testing.T, v Values, deployment string, c corev1.Container, m manifests) {
	t.Helper()
	for _, from := range c.EnvFrom {
		if ref := from.ConfigMapRef; ref != nil && !slices.ContainsFunc(m.configMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == ref.Name }) {
			t.Errorf("deployment %s: config map %s is not rendered", deployment, ref.Name)
		}
	}
	for _, s := range m.secrets {
		if _, ok := s.StringData["database_url"]; !ok || s.Name != v.Database.SecretName {
			t.Errorf("secret %s (keys %v), want %s with database_url", s.Name, s.StringData, v.Database.SecretName)
		}
	}
}

func hasPort(containers []corev1.Container, target intstr.IntOrString) bool {
	for _, c := range containers {
		for _, p := range c.Ports {
			if target.Type == intstr.String && p.Name == target.StrVal || target.Type == intstr.Int && p.ContainerPort == target.IntVal {
				return true
			}
		}
	}
	return false
}

func wantServicePort(t *testing.T, m manifests, name string, port int32) {
	t.Helper()
	for _, s := range m.services {
		if s.Name == name {
			if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != port {
				t.Errorf("service %s ports %+v, want %d", name, s.Spec.Ports, port)
			}
			return
		}
	}
	t.Errorf("no service %s", name)
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func checkController(t *testing.T, v Values, d *appsv1.Deployment) {
	t.Helper()
	if d.Spec.Replicas == nil || int(*d.Spec.Replicas) != v.Controller.Replicas {
		t.Errorf("controller replicas %v, want %d", d.Spec.Replicas, v.Controller.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if got := strings.Join(c.Command, " "); got != "runnel controller" {
		t.Errorf("controller command %q", got)
	}
	for name, path := range map[string]string{"POD_NAME": "metadata.name", "POD_UID": "metadata.uid", "POD_IP": "status.podIP"} {
		e := env(c, name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			t.Errorf("controller env %s: %+v, want field %s", name, e, path)
		}
	}
	if e := env(c, "RUNNEL_CONTROLLER__SCHEDULER"); e == nil || e.Value != "kubernetes" {
		t.Errorf("controller scheduler env: %+v", e)
	}
	wantDatabaseURL(t, v, "controller", c)
	if e := env(c, "RUNNEL_CONTROLLER__ADVERTISE_ADDR"); e == nil || e.Value != "$(POD_IP):9190" {
		t.Errorf("controller advertise env: %+v", e)
	}
}

// checkTLS checks a deployment's TLS volume, mount and environment: exactly
// the Secret mounted at kubernetes.TLSMountPath, where the scheduler mounts
// it in worker pods, and the tls.* settings naming its files; or, with TLS
// off, none of them. workerSecret is the Secret the deployment should pass
// on to worker pods (the controller's), or empty.
func checkTLS(t *testing.T, v Values, d *appsv1.Deployment, workerSecret string) {
	t.Helper()
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	var gotEnv []corev1.EnvVar
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "RUNNEL_TLS__") || e.Name == "RUNNEL_CONTROLLER__KUBERNETES__TLS_SECRET" {
			gotEnv = append(gotEnv, e)
		}
	}
	if v.TLS.SecretName == "" {
		if len(spec.Volumes) > 0 || len(c.VolumeMounts) > 0 || len(gotEnv) > 0 {
			t.Errorf("deployment %s: TLS is off, but it has volumes %+v, mounts %+v, env %+v", d.Name, spec.Volumes, c.VolumeMounts, gotEnv)
		}
		return
	}
	wantVolumes := []corev1.Volume{{
		Name:         "tls",
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: v.TLS.SecretName}},
	}}
	if !equality.Semantic.DeepEqual(spec.Volumes, wantVolumes) {
		t.Errorf("deployment %s volumes %+v, want %+v", d.Name, spec.Volumes, wantVolumes)
	}
	wantMounts := []corev1.VolumeMount{{Name: "tls", MountPath: kubernetes.TLSMountPath, ReadOnly: true}}
	if !equality.Semantic.DeepEqual(c.VolumeMounts, wantMounts) {
		t.Errorf("deployment %s volume mounts %+v, want %+v", d.Name, c.VolumeMounts, wantMounts)
	}
	var wantEnv []corev1.EnvVar
	if workerSecret != "" {
		wantEnv = append(wantEnv, corev1.EnvVar{Name: "RUNNEL_CONTROLLER__KUBERNETES__TLS_SECRET", Value: workerSecret})
	}
	wantEnv = append(wantEnv,
		corev1.EnvVar{Name: "RUNNEL_TLS__CERT_FILE", Value: path.Join(kubernetes.TLSMountPath, corev1.TLSCertKey)},
		corev1.EnvVar{Name: "RUNNEL_TLS__KEY_FILE", Value: path.Join(kubernetes.TLSMountPath, corev1.TLSPrivateKeyKey)},
		corev1.EnvVar{Name: "RUNNEL_TLS__CA_FILE", Value: path.Join(kubernetes.TLSMountPath, "ca.crt")}, // cert-manager writes the CA beside tls.crt and tls.key
		corev1.EnvVar{Name: "RUNNEL_TLS__SERVER_NAME", Value: v.TLS.ServerName},
	)
	if !equality.Semantic.DeepEqual(gotEnv, wantEnv) {
		t.Errorf("deployment %s TLS env %+v, want %+v", d.Name, gotEnv, wantEnv)
	}
}

func checkAPI(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	if got := strings.Join(c.Command, " "); got != "runnel api" {
		t.Errorf("api command %q", got)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/api/v1/ping" || !hasPort([]corev1.Container{c}, p.HTTPGet.Port) {
		t.Errorf("api readiness probe %+v", p)
	}
	if e := env(c, "RUNNEL_HTTP_ADDR"); e == nil || e.Value != "0.0.0.0:5115" {
		t.Errorf("api listen env: %+v", e)
	}
}

func wantDatabaseURL(t *testing.T, v Values, who string, c corev1.Container) {
	t.Helper()
	e := env(c, "RUNNEL_DATABASE_URL")
	if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != v.Database.SecretName || e.ValueFrom.SecretKeyRef.Key != "database_url" {
		t.Errorf("%s database env %+v, want secret %s key database_url", who, e, v.Database.SecretName)
	}
}

// checkRoleVerbs runs the kubernetes scheduler, configured as the rendered
// controller would configure it, against a fake clientset, and checks that
// the Role grants exactly the verbs on pods it used: a new verb in the
// scheduler fails here until the Role grants it.
func checkRoleVerbs(t *testing.T, v Values, role *rbacv1.Role, ctl *appsv1.Deployment) {
	t.Helper()
	c := ctl.Spec.Template.Spec.Containers[0]
	val := func(name string) string {
		if e := env(c, "RUNNEL_CONTROLLER__KUBERNETES__"+name); e != nil {
			return e.Value
		}
		t.Errorf("controller env RUNNEL_CONTROLLER__KUBERNETES__%s missing", name)
		return ""
	}
	var tlsSecret, envSecret string
	if e := env(c, "RUNNEL_CONTROLLER__KUBERNETES__TLS_SECRET"); e != nil {
		tlsSecret = e.Value
	}
	if e := env(c, "RUNNEL_CONTROLLER__KUBERNETES__ENV_SECRET"); e != nil {
		envSecret = e.Value
	}
	client := fake.NewClientset()
	s, err := kubernetes.New(client, kubernetes.Config{
		Namespace:       v.Namespace,
		Image:           val("IMAGE"),
		ImagePullPolicy: corev1.PullPolicy(val("IMAGE_PULL_POLICY")),
		ServiceAccount:  val("SERVICE_ACCOUNT"),
		Resources: kubernetes.Resources{
			CPURequest:    val("CPU_REQUEST"),
			CPULimit:      val("CPU_LIMIT"),
			MemoryRequest: val("MEMORY_REQUEST"),
			MemoryLimit:   val("MEMORY_LIMIT"),
		},
		Owner:     &kubernetes.Owner{APIVersion: "v1", Kind: "Pod", Name: "runnel-controller-0", UID: "u"},
		TLSSecret: tlsSecret,
		EnvSecret: envSecret,
	})
	if err != nil {
		t.Fatalf("the rendered controller settings do not make a scheduler: %v", err)
	}
	ctx := context.Background()
	req := scheduler.StartRequest{JobID: "job", RunID: 1, Workers: 2, Slots: 2, ControllerAddr: "10.0.0.1:9190"}
	for range 2 { // twice, so that the AlreadyExists path runs too
		if err := s.StartWorkers(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	checkWorkerTLS(t, client, ctl)
	checkWorkerSecretEnv(t, v, client, ctl)
	if err := s.StopWorkers(ctx, "job", 0); err != nil {
		t.Fatal(err)
	}

	used := map[string]bool{}
	for _, a := range client.Actions() {
		if a.GetResource().Resource != "pods" || a.GetResource().Group != "" {
			t.Errorf("scheduler used %s on %s, which the Role does not cover", a.GetVerb(), a.GetResource())
			continue
		}
		if ns := a.GetNamespace(); ns != v.Namespace {
			t.Errorf("scheduler acted in namespace %q, the Role is in %q", ns, v.Namespace)
		}
		used[a.GetVerb()] = true
	}
	var granted []string
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "pods") {
			granted = append(granted, r.Verbs...)
		}
	}
	var want []string
	for verb := range used {
		want = append(want, verb)
	}
	slices.Sort(want)
	slices.Sort(granted)
	if !slices.Equal(granted, want) {
		t.Errorf("role grants %v on pods, the scheduler uses %v", granted, want)
	}
}

// checkWorkerTLS checks that the worker pods the scheduler made mount what
// the controller mounts, where it mounts it, so that the tls.* paths the
// controller passes on name the same files in the workers.
func checkWorkerTLS(t *testing.T, client *fake.Clientset, ctl *appsv1.Deployment) {
	t.Helper()
	ctlSpec := ctl.Spec.Template.Spec
	pods, err := client.CoreV1().Pods(ctl.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("worker pods: %v, %v", pods, err)
	}
	for _, p := range pods.Items {
		w := p.Spec.Containers[0]
		if !equality.Semantic.DeepEqual(p.Spec.Volumes, ctlSpec.Volumes) || !equality.Semantic.DeepEqual(w.VolumeMounts, ctlSpec.Containers[0].VolumeMounts) {
			t.Errorf("worker pod %s has volumes %+v mounted at %+v, the controller %+v at %+v",
				p.Name, p.Spec.Volumes, w.VolumeMounts, ctlSpec.Volumes, ctlSpec.Containers[0].VolumeMounts)
		}
	}
}

// checkWorkerSecretEnv checks that worker pods take their environment from
// the checkpoint Secret exactly when the controller does.
func checkWorkerSecretEnv(t *testing.T, v Values, client *fake.Clientset, ctl *appsv1.Deployment) {
	t.Helper()
	var want []corev1.EnvFromSource
	for _, from := range ctl.Spec.Template.Spec.Containers[0].EnvFrom {
		if from.SecretRef != nil {
			want = append(want, from)
		}
	}
	if got := len(want) == 1 && want[0].SecretRef.Name == v.CheckpointSecret; got != (v.CheckpointSecret != "") {
		t.Errorf("controller env from secrets %+v, checkpointSecret %q", want, v.CheckpointSecret)
	}
	pods, err := client.CoreV1().Pods(ctl.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if got := p.Spec.Containers[0].EnvFrom; !equality.Semantic.DeepEqual(got, want) {
			t.Errorf("worker pod %s env from %+v, the controller's secrets %+v", p.Name, got, want)
		}
	}
}

func TestStrictDecoderRejectsUnknownFields(t *testing.T) {
	// Guards the guard: a typo in a template must fail decode.
	doc := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {a: b}}\n")
	if _, _, err := strictDecoder.Decode(doc, nil, nil); err == nil || !runtime.IsStrictDecodingError(err) {
		t.Errorf("got %v, want a strict decoding error", err)
	}
}

func TestRenderRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Values)
		want string
	}{
		{"empty image", func(v *Values) { v.Image = "" }, "image is required"},
		{"bad checkpoint secret", func(v *Values) { v.CheckpointSecret = "Not_A_Name" }, "checkpointSecret"},
		{"namespace", func(v *Values) { v.Namespace = "Runnel" }, `namespace "Runnel"`},
		{"secret name", func(v *Values) { v.Database.SecretName = "" }, `database.secretName ""`},
		{"pull policy", func(v *Values) { v.ImagePullPolicy = "sometimes" }, `imagePullPolicy "sometimes"`},
		{"controller replicas", func(v *Values) { v.Controller.Replicas = 0 }, "controller.replicas 0"},
		{"api replicas", func(v *Values) { v.API.Replicas = -1 }, "api.replicas -1"},
		{"bad quantity", func(v *Values) { v.Worker.Resources.Requests.CPU = "fast" }, `worker.resources.requests.cpu "fast"`},
		{"missing request", func(v *Values) { v.API.Resources.Requests.Memory = "" }, "api.resources.requests.memory is required"},
		{"limit below request", func(v *Values) { v.Controller.Resources.Limits.Memory = "1Mi" }, "controller.resources.limits.memory 1Mi is below the request 128Mi"},
		{"tls server name alone", func(v *Values) { v.TLS.ServerName = "runnel.internal" }, `tls.serverName "runnel.internal" needs tls.secretName`},
		{"tls secret alone", func(v *Values) { v.TLS.SecretName = "runnel-tls" }, `tls.secretName "runnel-tls" needs tls.serverName`},
		{"tls secret name", func(v *Values) { v.TLS = TLS{SecretName: "Runnel TLS", ServerName: "runnel.internal"} }, `tls.secretName "Runnel TLS"`},
		{"tls server name", func(v *Values) { v.TLS = TLS{SecretName: "runnel-tls", ServerName: "runnel internal"} }, `tls.serverName "runnel internal": want a DNS name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := DefaultValues()
			tc.mod(&v)
			out, err := Render(v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if out != nil {
				t.Error("output despite the error")
			}
		})
	}
}

func TestLoadValues(t *testing.T) {
	v, err := LoadValues([]byte("image: runnel:2\nworker: {resources: {limits: {cpu: '3'}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultValues()
	if v.Image != "runnel:2" || v.Worker.Resources.Limits.CPU != "3" {
		t.Errorf("overrides lost: %+v", v)
	}
	// Keys not given keep their defaults, also beside a given one.
	if v.Namespace != d.Namespace || v.Worker.Resources.Requests != d.Worker.Resources.Requests || v.Worker.Resources.Limits.Memory != d.Worker.Resources.Limits.Memory {
		t.Errorf("defaults lost: %+v", v)
	}
	if _, err := LoadValues([]byte("imge: runnel:2\n")); err == nil || !strings.Contains(err.Error(), "imge") {
		t.Errorf("misspelt key: got %v, want an error naming it", err)
	}
}

func TestDefaultValuesValid(t *testing.T) {
	if err := DefaultValues().Validate(); err != nil {
		t.Fatal(err)
	}
}
