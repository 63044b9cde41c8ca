package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestVersion(t *testing.T) {
	out, err := runCmd(t, "version")
	if err != nil || !strings.HasPrefix(out, "runnel dev") {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	out, err := runCmd(t, "migrate", "--data-dir", dir)
	if err != nil || !regexp.MustCompile(`^schema at version [1-9]\d*\n$`).MatchString(out) {
		t.Fatalf("migrate: %q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "runnel.db")); err != nil {
		t.Fatalf("no database under the data dir: %v", err)
	}
	again, err := runCmd(t, "migrate", "--data-dir", dir)
	if err != nil || again != out {
		t.Fatalf("second migrate: %q %v", again, err)
	}
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"cluster", "--database-url", "mysql://nope"},
		{"cluster", "--no-such-flag"},
		{"migrate", "--log-level", "loud"},
	} {
		_, err := runCmd(t, args...)
		var ue usageError
		if err == nil || !errors.As(err, &ue) {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
}

// startClusterBinary starts `runnel cluster` on port 0 over dataDir and
// returns it with the address it logged and the rest of its log lines.
func startClusterBinary(t *testing.T, bin, dataDir string) (*exec.Cmd, string, <-chan string) {
	t.Helper()
	cmd := exec.Command(bin, "cluster", "--http-addr", "127.0.0.1:0", "--data-dir", dataDir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads the log any more; don't block the process
			}
		}
		close(lines)
	}()
	addrRE := regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("runnel exited before listening")
			}
			if m := addrRE.FindStringSubmatch(l); m != nil {
				return cmd, m[1], lines
			}
		case <-timeout:
			t.Fatal("no listening line")
		}
	}
}

// TestClusterBinary builds the real binary, starts it on port 0, reads the
// address it logs, and checks that SIGTERM shuts it down cleanly.
func TestClusterBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "runnel")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd, addr, lines := startClusterBinary(t, bin, t.TempDir())
	resp, err := http.Get("http://" + addr + "/api/v1/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `"Pong"` {
		t.Fatalf("ping: %s", body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(rest, "\n"))
	}
	if !strings.Contains(strings.Join(rest, "\n"), "msg=stopped") {
		t.Fatalf("no clean stop logged:\n%s", strings.Join(rest, "\n"))
	}
}
