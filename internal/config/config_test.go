package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestDefaults(t *testing.T) {
	c, err := Load(flags(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:5115" || c.API.PreviewTTL != time.Minute || c.Controller.AllowedRestarts != 20 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.DatabaseURL != "sqlite://"+filepath.Join(c.DataDir, "runnel.db") {
		t.Fatalf("database url %q not under data dir %q", c.DatabaseURL, c.DataDir)
	}
}

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	toml := filepath.Join(dir, "runnel.toml")
	err := os.WriteFile(toml, []byte(`
http_addr = "127.0.0.1:7000"
data_dir = "/from/file"
log_level = "debug"
[controller]
allowed_restarts = 3
stop_timeout = "5s"
[org]
max_running_jobs = 4
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"RUNNEL_DATA_DIR=/from/env",
		"RUNNEL_LOG_LEVEL=warn",
		"RUNNEL_CONTROLLER__STOP_TIMEOUT=7s",
		"HOME_IS_IGNORED=1",
	}
	c, err := Load(flags(t, "--config", toml, "--log-level", "error"), env)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"file beats default", c.HTTPAddr, "127.0.0.1:7000"},
		{"env beats file", c.DataDir, "/from/env"},
		{"flag beats env", c.LogLevel, "error"},
		{"nested env", c.Controller.StopTimeout, 7 * time.Second},
		{"nested file", c.Controller.AllowedRestarts, 3},
		{"org limit", c.Org.MaxRunningJobs, 4},
		{"default kept", c.API.PreviewTTL, time.Minute},
		{"database under data dir", c.DatabaseURL, "sqlite:///from/env/runnel.db"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestYAMLAndEnvConfigPath(t *testing.T) {
	dir := t.TempDir()
	y := filepath.Join(dir, "runnel.yaml")
	if err := os.WriteFile(y, []byte("http_addr: 127.0.0.1:0\napi:\n  preview_ttl: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(flags(t, "--http-addr", "127.0.0.1:9"), []string{"RUNNEL_CONFIG=" + y})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9" || c.API.PreviewTTL != 5*time.Second {
		t.Fatalf("got %+v", c)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "runnel.ini")
	_ = os.WriteFile(bad, []byte("x=1"), 0o600)
	cases := []struct {
		name string
		fs   *pflag.FlagSet
		env  []string
		want string
	}{
		{"unknown file format", flags(t, "--config", bad), nil, "unknown format"},
		{"missing file", flags(t, "--config", filepath.Join(dir, "nope.toml")), nil, "reading config file"},
		{"bad database url", flags(t, "--database-url", "mysql://x"), nil, "database_url"},
		{"bad log level", flags(t), []string{"RUNNEL_LOG_LEVEL=loud"}, "log_level"},
		{"bad duration", flags(t), []string{"RUNNEL_API__PREVIEW_TTL=soon"}, "invalid configuration"},
		{"negative limit", flags(t, "--max-running-jobs", "-1"), nil, "max_running_jobs"},
		{"no checkpoints kept", flags(t), []string{"RUNNEL_CONTROLLER__CHECKPOINT_RETENTION=0"}, "checkpoint_retention"},
		{"no checkpoint timeout", flags(t), []string{"RUNNEL_CONTROLLER__CHECKPOINT_TIMEOUT=0s"}, "checkpoint_timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.fs, c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// Every default must survive Load: a key missing from the defaults map
// loses its value.
func TestLoadKeepsEveryDefault(t *testing.T) {
	c, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	// Load fills these from the data dir.
	d.DatabaseURL, d.Controller.CheckpointURL = c.DatabaseURL, c.Controller.CheckpointURL
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("Load without overrides:\n %+v\nwant the defaults\n %+v", c, d)
	}
}
