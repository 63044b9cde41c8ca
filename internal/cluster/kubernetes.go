package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/scheduler"
	k8s "github.com/runnel-dev/runnel/internal/scheduler/kubernetes"
)

// kubernetesScheduler makes worker pods through the API server of the
// cluster the controller runs in (its service account's credentials).
func kubernetesScheduler(_ context.Context, cfg config.Config, _ *slog.Logger) (scheduler.Scheduler, func() error, error) {
	rc, err := rest.InClusterConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes scheduler: the controller must run in a pod: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes scheduler: %w", err)
	}
	s, err := k8s.New(client, kubernetesConfig(cfg))
	if err != nil {
		return nil, nil, err
	}
	return s, func() error { return nil }, nil
}

// kubernetesConfig turns settings into the scheduler's pod template. The
// workers get the settings they share with the controller as environment.
func kubernetesConfig(cfg config.Config) k8s.Config {
	kc := cfg.Controller.Kubernetes
	var env []corev1.EnvVar
	for _, kv := range workerEnv(cfg) {
		name, value, _ := strings.Cut(kv, "=")
		env = append(env, corev1.EnvVar{Name: name, Value: value})
	}
	return k8s.Config{
		Namespace:       kc.Namespace,
		Image:           kc.Image,
		ImagePullPolicy: corev1.PullPolicy(kc.ImagePullPolicy),
		ServiceAccount:  kc.ServiceAccount,
		Resources: k8s.Resources{
			CPURequest: kc.CPURequest, CPULimit: kc.CPULimit,
			MemoryRequest: kc.MemoryRequest, MemoryLimit: kc.MemoryLimit,
		},
		Env:       env,
		Owner:     k8s.OwnerFromEnv(os.Getenv),
		TLSSecret: kc.TLSSecret,
		EnvSecret: kc.EnvSecret,
	}
}
