// Package config loads Runnel's settings, each layer overriding the one
// before: built-in defaults, a config file (TOML or YAML), RUNNEL_*
// environment variables, then command-line flags.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// EnvPrefix starts every environment variable Runnel reads. A double
// underscore separates sections: RUNNEL_CONTROLLER__ALLOWED_RESTARTS.
const EnvPrefix = "RUNNEL_"

// Config is every setting of a Runnel process.
type Config struct {
	HTTPAddr    string `koanf:"http_addr"`    // API and console listen address; port 0 picks one
	DataDir     string `koanf:"data_dir"`     // where the SQLite store and checkpoints live
	DatabaseURL string `koanf:"database_url"` // sqlite://PATH or postgres://…; default under DataDir
	LogLevel    string `koanf:"log_level"`    // debug, info, warn, error
	LogFormat   string `koanf:"log_format"`   // text or json

	API        API        `koanf:"api"`
	Org        Org        `koanf:"org"`
	Controller Controller `koanf:"controller"`
	Worker     Worker     `koanf:"worker"`
	TLS        TLS        `koanf:"tls"`
}

// Worker settings, for `runnel worker` processes.
type Worker struct {
	// ListenAddr is where the worker serves the controller and its peers;
	// AdvertiseHost, if set, is the host they reach it by (a pod IP).
	ListenAddr    string `koanf:"listen_addr"`
	AdvertiseHost string `koanf:"advertise_host"`
	// ControllerTimeout is how long a worker keeps running without
	// reaching its controller.
	ControllerTimeout time.Duration `koanf:"controller_timeout"`
}

// TLS secures gRPC between API, controller and workers when CertFile is
// set; with CAFile, peers must present certificates signed by it.
type TLS struct {
	CertFile   string `koanf:"cert_file"`
	KeyFile    string `koanf:"key_file"`
	CAFile     string `koanf:"ca_file"`
	ServerName string `koanf:"server_name"`
}

// API settings.
type API struct {
	MaxBodyBytes              int64         `koanf:"max_body_bytes"`
	DefaultCheckpointInterval time.Duration `koanf:"default_checkpoint_interval"`
	PreviewTTL                time.Duration `koanf:"preview_ttl"`
	SSEKeepAlive              time.Duration `koanf:"sse_keep_alive"`
	ShutdownTimeout           time.Duration `koanf:"shutdown_timeout"`
	// ControllerGRPC makes the embedded API reach the controller through
	// the controller's gRPC server (controller.grpc_addr) instead of in
	// process, as it does when the two run apart. Off by default.
	ControllerGRPC bool `koanf:"controller_grpc"`
	// ControllerAddr is the controller's gRPC address for `runnel api`. With
	// PostgreSQL it may stay empty: the API follows the leader recorded there.
	ControllerAddr string `koanf:"controller_addr"`
}

// Org holds the limits of the (single, for now) organisation.
type Org struct {
	MaxRunningJobs int `koanf:"max_running_jobs"` // 0: unlimited
}

// Controller settings.
type Controller struct {
	PollInterval     time.Duration `koanf:"poll_interval"`
	PreviewRetention time.Duration `koanf:"preview_retention"`
	AllowedRestarts  int           `koanf:"allowed_restarts"`
	InitialBackoff   time.Duration `koanf:"initial_backoff"`
	MaxBackoff       time.Duration `koanf:"max_backoff"`
	HealthyDuration  time.Duration `koanf:"healthy_duration"`
	StopTimeout      time.Duration `koanf:"stop_timeout"`
	// CheckpointURL is where checkpoint files go: file:///path (default:
	// the checkpoints folder of the data dir) or
	// s3://bucket/prefix?endpoint=…&region=…&path_style=true, with
	// credentials from the AWS environment (see state.Open).
	CheckpointURL       string        `koanf:"checkpoint_url"`
	CheckpointTimeout   time.Duration `koanf:"checkpoint_timeout"`   // an epoch not done by then fails
	CheckpointRetention int           `koanf:"checkpoint_retention"` // completed epochs kept per job

	// Scheduler runs jobs' subtasks: embedded (in the controller's process),
	// process (`runnel worker` child processes) or kubernetes (pods).
	Scheduler string `koanf:"scheduler"`
	// GRPCAddr is where the controller serves API servers and workers;
	// AdvertiseAddr is how they reach it (default: the bound address).
	GRPCAddr      string `koanf:"grpc_addr"`
	AdvertiseAddr string `koanf:"advertise_addr"`
	// SlotsPerWorker is how many subtasks of each operator a worker runs;
	// a job at parallelism P gets ceil(P/SlotsPerWorker) workers.
	SlotsPerWorker       int           `koanf:"slots_per_worker"`
	WorkerStartupTimeout time.Duration `koanf:"worker_startup_timeout"`
	HeartbeatInterval    time.Duration `koanf:"heartbeat_interval"`
	// HeartbeatTimeout is how long a worker may be silent before it is
	// lost and its job recovers on new workers.
	HeartbeatTimeout time.Duration `koanf:"heartbeat_timeout"`

	Kubernetes Kubernetes `koanf:"kubernetes"`
}

// Kubernetes says how the kubernetes scheduler makes worker pods.
type Kubernetes struct {
	Namespace       string `koanf:"namespace"`
	Image           string `koanf:"image"`
	ImagePullPolicy string `koanf:"image_pull_policy"`
	ServiceAccount  string `koanf:"service_account"`
	// Requests and limits per subtask slot, as Kubernetes quantities.
	CPURequest    string `koanf:"cpu_request"`
	CPULimit      string `koanf:"cpu_limit"`
	MemoryRequest string `koanf:"memory_request"`
	MemoryLimit   string `koanf:"memory_limit"`
	// TLSSecret is a Secret mounted at /etc/runnel/tls in worker pods, for
	// the tls.* files.
	TLSSecret string `koanf:"tls_secret"`
	// EnvSecret is a Secret whose keys become worker pods' environment,
	// for checkpoint storage credentials.
	EnvSecret string `koanf:"env_secret"`
}

// Defaults returns the built-in settings: those of Arroyo, except that the
// API binds to loopback unless told otherwise.
func Defaults() Config {
	return Config{
		HTTPAddr:  "127.0.0.1:5115",
		DataDir:   defaultDataDir(),
		LogLevel:  "info",
		LogFormat: "text",
		API: API{
			MaxBodyBytes:              1 << 20,
			DefaultCheckpointInterval: 10 * time.Second,
			PreviewTTL:                60 * time.Second,
			SSEKeepAlive:              15 * time.Second,
			ShutdownTimeout:           30 * time.Second,
		},
		Controller: Controller{
			PollInterval:     500 * time.Millisecond,
			PreviewRetention: time.Hour,
			AllowedRestarts:  20,
			InitialBackoff:   500 * time.Millisecond,
			MaxBackoff:       time.Minute,
			HealthyDuration:  2 * time.Minute,
			StopTimeout:      60 * time.Second,

			CheckpointTimeout:   2 * time.Minute,
			CheckpointRetention: 3,

			Scheduler:            "embedded",
			GRPCAddr:             "127.0.0.1:9190",
			SlotsPerWorker:       4,
			WorkerStartupTimeout: time.Minute,
			HeartbeatInterval:    time.Second,
			HeartbeatTimeout:     5 * time.Second,
			Kubernetes:           Kubernetes{Namespace: "default"},
		},
		Worker: Worker{
			ListenAddr:        "127.0.0.1:0",
			ControllerTimeout: 10 * time.Second,
		},
	}
}

func defaultDataDir() string {
	if dir, err := os.UserHomeDir(); err == nil && dir != "" {
		return filepath.Join(dir, ".runnel")
	}
	return filepath.Join(os.TempDir(), "runnel")
}

// flagKeys maps command-line flags to config keys.
var flagKeys = map[string]string{
	"http-addr":        "http_addr",
	"data-dir":         "data_dir",
	"database-url":     "database_url",
	"log-level":        "log_level",
	"log-format":       "log_format",
	"max-running-jobs": "org.max_running_jobs",
	"preview-ttl":      "api.preview_ttl",
	"scheduler":        "controller.scheduler",
	"grpc-addr":        "controller.grpc_addr",
}

// RegisterFlags adds the flags Load understands to fs; their defaults are
// only shown in help, Load never takes a flag the user didn't set.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Defaults()
	fs.String("config", "", "config file (TOML or YAML)")
	fs.String("http-addr", d.HTTPAddr, "address for the API and web console (port 0 picks a free port)")
	fs.String("data-dir", d.DataDir, "directory for the embedded store and checkpoints")
	fs.String("database-url", "", "metadata store: sqlite://PATH or postgres://… (default sqlite under --data-dir)")
	fs.String("log-level", d.LogLevel, "log level: debug, info, warn, error")
	fs.String("log-format", d.LogFormat, "log format: text or json")
	fs.Int("max-running-jobs", 0, "maximum concurrently running jobs per organisation (0: unlimited)")
	fs.Duration("preview-ttl", d.API.PreviewTTL, "how long a preview pipeline runs before it is stopped")
	fs.String("scheduler", d.Controller.Scheduler, "where jobs run: embedded, process or kubernetes")
	fs.String("grpc-addr", d.Controller.GRPCAddr, "address of the controller's gRPC server (API servers and workers reach it there)")
}

// Load builds the configuration from defaults, the file named by the
// --config flag (or RUNNEL_CONFIG), the environment and the flags in fs
// that were set. environ is os.Environ() in production.
func Load(fs *pflag.FlagSet, environ []string) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(toMap(Defaults()), "."), nil); err != nil {
		return Config{}, fmt.Errorf("loading defaults: %w", err)
	}

	path := lookupEnv(environ, EnvPrefix+"CONFIG")
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	if path != "" {
		parser, err := parserFor(path)
		if err != nil {
			return Config{}, err
		}
		if err := k.Load(file.Provider(path), parser); err != nil {
			return Config{}, fmt.Errorf("reading config file %s: %w", path, err)
		}
	}

	envMap := make(map[string]any)
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvPrefix+"CONFIG" {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
		envMap[strings.ReplaceAll(key, "__", ".")] = val
	}
	if err := k.Load(confmap.Provider(envMap, "."), nil); err != nil {
		return Config{}, fmt.Errorf("reading environment: %w", err)
	}

	if fs != nil {
		err := k.Load(posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
			key, ok := flagKeys[f.Name]
			if !ok || !f.Changed {
				return "", nil
			}
			return key, posflag.FlagVal(fs, f)
		}), nil)
		if err != nil {
			return Config{}, fmt.Errorf("reading flags: %w", err)
		}
	}

	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite://" + filepath.Join(c.DataDir, "runnel.db")
	}
	if c.Controller.CheckpointURL == "" {
		c.Controller.CheckpointURL = "file://" + filepath.Join(c.DataDir, "checkpoints")
	}
	return c, c.Validate()
}

// Validate rejects settings no process could run with.
func (c Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("http_addr must be set"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must be set"))
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite://") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, fmt.Errorf("database_url %q: expected sqlite://PATH or postgres://…", c.DatabaseURL))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: expected debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: expected text or json", c.LogFormat))
	}
	if c.Org.MaxRunningJobs < 0 {
		errs = append(errs, errors.New("org.max_running_jobs must not be negative"))
	}
	if c.API.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("api.max_body_bytes must be positive"))
	}
	if c.API.PreviewTTL <= 0 {
		errs = append(errs, errors.New("api.preview_ttl must be positive"))
	}
	if c.API.DefaultCheckpointInterval < time.Second || c.API.DefaultCheckpointInterval > 24*time.Hour {
		errs = append(errs, errors.New("api.default_checkpoint_interval must be between 1s and 24h"))
	}
	if c.Controller.CheckpointRetention < 1 {
		errs = append(errs, errors.New("controller.checkpoint_retention must be at least 1: a job needs its last checkpoint to recover"))
	}
	if c.Controller.CheckpointTimeout <= 0 {
		errs = append(errs, errors.New("controller.checkpoint_timeout must be positive"))
	}
	switch c.Controller.Scheduler {
	case "embedded", "process", "kubernetes":
	default:
		errs = append(errs, fmt.Errorf("controller.scheduler %q: expected embedded, process or kubernetes", c.Controller.Scheduler))
	}
	if c.Controller.SlotsPerWorker < 1 {
		errs = append(errs, errors.New("controller.slots_per_worker must be at least 1"))
	}
	if c.Controller.HeartbeatInterval <= 0 || c.Controller.HeartbeatTimeout <= c.Controller.HeartbeatInterval {
		errs = append(errs, errors.New("controller.heartbeat_timeout must be longer than controller.heartbeat_interval, which must be positive"))
	}
	if c.Controller.WorkerStartupTimeout <= 0 {
		errs = append(errs, errors.New("controller.worker_startup_timeout must be positive"))
	}
	if (c.TLS.KeyFile != "" || c.TLS.CAFile != "") && c.TLS.CertFile == "" {
		errs = append(errs, errors.New("tls.key_file and tls.ca_file need tls.cert_file"))
	}
	if c.TLS.CertFile != "" && c.TLS.KeyFile == "" {
		errs = append(errs, errors.New("tls.cert_file needs tls.key_file"))
	}
	return errors.Join(errs...)
}

func parserFor(path string) (koanf.Parser, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		return toml.Parser(), nil
	case ".yaml", ".yml":
		return yaml.Parser(), nil
	}
	return nil, fmt.Errorf("config file %s: unknown format, expected .toml, .yaml or .yml", path)
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// toMap flattens the defaults into koanf keys so that later layers merge
// into them field by field.
func toMap(c Config) map[string]any {
	return map[string]any{
		"http_addr":                               c.HTTPAddr,
		"data_dir":                                c.DataDir,
		"database_url":                            c.DatabaseURL,
		"log_level":                               c.LogLevel,
		"log_format":                              c.LogFormat,
		"api.max_body_bytes":                      c.API.MaxBodyBytes,
		"api.default_checkpoint_interval":         c.API.DefaultCheckpointInterval.String(),
		"api.preview_ttl":                         c.API.PreviewTTL.String(),
		"api.sse_keep_alive":                      c.API.SSEKeepAlive.String(),
		"api.shutdown_timeout":                    c.API.ShutdownTimeout.String(),
		"api.controller_grpc":                     c.API.ControllerGRPC,
		"org.max_running_jobs":                    c.Org.MaxRunningJobs,
		"controller.poll_interval":                c.Controller.PollInterval.String(),
		"controller.preview_retention":            c.Controller.PreviewRetention.String(),
		"controller.allowed_restarts":             c.Controller.AllowedRestarts,
		"controller.initial_backoff":              c.Controller.InitialBackoff.String(),
		"controller.max_backoff":                  c.Controller.MaxBackoff.String(),
		"controller.healthy_duration":             c.Controller.HealthyDuration.String(),
		"controller.stop_timeout":                 c.Controller.StopTimeout.String(),
		"controller.checkpoint_url":               c.Controller.CheckpointURL,
		"controller.checkpoint_timeout":           c.Controller.CheckpointTimeout.String(),
		"controller.checkpoint_retention":         c.Controller.CheckpointRetention,
		"controller.scheduler":                    c.Controller.Scheduler,
		"controller.grpc_addr":                    c.Controller.GRPCAddr,
		"controller.advertise_addr":               c.Controller.AdvertiseAddr,
		"controller.slots_per_worker":             c.Controller.SlotsPerWorker,
		"controller.worker_startup_timeout":       c.Controller.WorkerStartupTimeout.String(),
		"controller.heartbeat_interval":           c.Controller.HeartbeatInterval.String(),
		"controller.heartbeat_timeout":            c.Controller.HeartbeatTimeout.String(),
		"api.controller_addr":                     c.API.ControllerAddr,
		"controller.kubernetes.namespace":         c.Controller.Kubernetes.Namespace,
		"controller.kubernetes.image":             c.Controller.Kubernetes.Image,
		"controller.kubernetes.image_pull_policy": c.Controller.Kubernetes.ImagePullPolicy,
		"controller.kubernetes.service_account":   c.Controller.Kubernetes.ServiceAccount,
		"controller.kubernetes.cpu_request":       c.Controller.Kubernetes.CPURequest,
		"controller.kubernetes.cpu_limit":         c.Controller.Kubernetes.CPULimit,
		"controller.kubernetes.memory_request":    c.Controller.Kubernetes.MemoryRequest,
		"controller.kubernetes.memory_limit":      c.Controller.Kubernetes.MemoryLimit,
		"controller.kubernetes.tls_secret":        c.Controller.Kubernetes.TLSSecret,
		"controller.kubernetes.env_secret":        c.Controller.Kubernetes.EnvSecret,
		"worker.listen_addr":                      c.Worker.ListenAddr,
		"worker.advertise_host":                   c.Worker.AdvertiseHost,
		"worker.controller_timeout":               c.Worker.ControllerTimeout.String(),
		"tls.cert_file":                           c.TLS.CertFile,
		"tls.key_file":                            c.TLS.KeyFile,
		"tls.ca_file":                             c.TLS.CAFile,
		"tls.server_name":                         c.TLS.ServerName,
	}
}
