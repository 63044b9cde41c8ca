package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/pkg/client"
)

// TestClientBinaryExitCodes runs the built binary, as a script would, to
// check the exit codes main sets and that Ctrl-C (SIGINT) stops a preview
// on the server and exits 0.
func TestClientBinaryExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "runnel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	e := newEnv(t)
	good := e.file("good.sql", doubledSQL)
	bad := e.file("bad.sql", badSQL)
	preview := e.file("preview.sql", previewSQL)
	down := downEndpoint(t)

	exitCode := func(r result) int { return r.code }
	runBin := func(endpoint string, args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), endpointEnv+"="+endpoint)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{out: out.String(), err: errb.String(), code: code}
	}
	for _, c := range []struct {
		endpoint string
		args     []string
		code     int
		want     string
	}{
		{e.cl.URL(), []string{"version"}, 0, ""},
		{e.cl.URL(), []string{"validate", "-f", good}, 0, ""},
		{e.cl.URL(), []string{"pipeline", "create", "--name", "doubled", "-f", good, "--wait"}, 0, "doubled: Running (after"},
		{e.cl.URL(), []string{"pipeline", "list"}, 0, ""},
		{e.cl.URL(), []string{"validate", "-f", bad}, 1, "  |        ^^^^^^\n"},
		{e.cl.URL(), []string{"validate", "-f", filepath.Join(e.dir, "missing.sql")}, 1, "no such file or directory"},
		{e.cl.URL(), []string{"pipeline", "get", "nope"}, 1, `Error: no pipeline with id or name "nope"`},
		{e.cl.URL(), []string{"pipeline", "delete", "doubled"}, 1, "terminal state"},
		{e.cl.URL(), []string{"pipeline", "stop", "doubled", "--mode", "nope"}, 1, "--mode"},
		{e.cl.URL(), []string{"pipline"}, 1, `unknown command "pipline"`},
		{down, []string{"pipeline", "list"}, 2, "Error: cannot reach Runnel at " + down},
		{down, []string{"preview", "-f", preview}, 2, "cannot reach Runnel"},
	} {
		r := runBin(c.endpoint, c.args...)
		if exitCode(r) != c.code || !strings.Contains(r.err+r.out, c.want) {
			t.Errorf("runnel %s: want exit %d with %q, got %s", strings.Join(c.args, " "), c.code, c.want, r)
		}
	}

	// Ctrl-C during a preview.
	cmd := exec.Command(bin, "preview", "-f", preview)
	cmd.Env = append(os.Environ(), endpointEnv+"="+e.cl.URL())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	sc := bufio.NewScanner(stdout)
	rows := 0
	for rows < 5 && sc.Scan() {
		if regexp.MustCompile(`^\s+\d+\s+[012]$`).MatchString(sc.Text()) {
			rows++
		}
	}
	if rows < 5 {
		t.Fatalf("no rows before the end: %s", errb.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() { // keep the pipe drained until the process exits
		for sc.Scan() {
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "Preview stopped after ") {
		t.Fatalf("stderr after SIGINT:\n%s", errb.String())
	}
	m := regexp.MustCompile(`Started preview (pl_\w+)`).FindStringSubmatch(errb.String())
	if m == nil {
		t.Fatalf("no preview id in:\n%s", errb.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.api.WaitForState(ctx, m[1], client.StateStopped); err != nil {
		t.Fatalf("preview still running after SIGINT: %v", err)
	}
}
