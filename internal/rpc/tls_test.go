package rpc

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/rpc/rpctest"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// serveTLS serves ControllerService with cfg on a loopback port and
// returns its address.
func serveTLS(t *testing.T, cfg TLSConfig) string {
	t.Helper()
	opt, err := cfg.ServerOption()
	if err != nil {
		t.Fatalf("ServerOption: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opt)
	pb.RegisterControllerServiceServer(srv, NewControllerServer(&fakeController{hub: output.NewHub(10)}))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// call makes one JobMetrics call to addr with opt.
func call(t *testing.T, addr string, opt grpc.DialOption) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = NewControllerClient(conn).JobMetrics(ctx, "job_1")
	return err
}

func dial(t *testing.T, cfg TLSConfig) grpc.DialOption {
	t.Helper()
	opt, err := cfg.DialOption()
	if err != nil {
		t.Fatalf("DialOption: %v", err)
	}
	return opt
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := rpctest.NewCA(t, dir, "ca")
	other := rpctest.NewCA(t, dir, "other-ca")
	serverCert, serverKey := ca.Issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.Issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	otherCert, otherKey := other.Issue(t, dir, "other-client", x509.ExtKeyUsageClientAuth)

	mutual := serveTLS(t, TLSConfig{CertFile: serverCert, KeyFile: serverKey, CAFile: ca.File})
	serverOnly := serveTLS(t, TLSConfig{CertFile: serverCert, KeyFile: serverKey})

	good := TLSConfig{CertFile: clientCert, KeyFile: clientKey, CAFile: ca.File}
	if !good.Enabled() || (TLSConfig{CAFile: ca.File}).Enabled() {
		t.Error("Enabled should follow CertFile")
	}
	if err := call(t, mutual, dial(t, good)); err != nil {
		t.Errorf("mutual TLS with a good client certificate: %v", err)
	}
	byName := good
	byName.ServerName = "localhost"
	if err := call(t, mutual, dial(t, byName)); err != nil {
		t.Errorf("mutual TLS verifying the name localhost: %v", err)
	}
	if err := call(t, serverOnly, dial(t, TLSConfig{CAFile: ca.File})); err != nil {
		t.Errorf("server-only TLS with a client trusting the CA: %v", err)
	}

	fails := []struct {
		name string
		addr string
		opt  grpc.DialOption
	}{
		{"plaintext client", mutual, grpc.WithTransportCredentials(insecure.NewCredentials())},
		{"plaintext client, server-only TLS", serverOnly, dial(t, TLSConfig{})},
		{"client trusting another CA", mutual, dial(t, TLSConfig{CertFile: clientCert, KeyFile: clientKey, CAFile: other.File})},
		{"client trusting another CA, server-only TLS", serverOnly, dial(t, TLSConfig{CAFile: other.File})},
		{"client without a certificate", mutual, dial(t, TLSConfig{CAFile: ca.File})},
		{"client certificate from another CA", mutual, dial(t, TLSConfig{CertFile: otherCert, KeyFile: otherKey, CAFile: ca.File})},
		{"wrong server name", mutual, dial(t, TLSConfig{CertFile: clientCert, KeyFile: clientKey, CAFile: ca.File, ServerName: "elsewhere"})},
	}
	for _, f := range fails {
		err := call(t, f.addr, f.opt)
		if err == nil {
			t.Errorf("%s: call succeeded", f.name)
			continue
		}
		t.Logf("%s: %v", f.name, err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := rpctest.NewCA(t, dir, "ca")
	cert, key := ca.Issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	_, otherKey := ca.Issue(t, dir, "other", x509.ExtKeyUsageServerAuth)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	for _, c := range []struct {
		cfg  TLSConfig
		want string // in the error
	}{
		{TLSConfig{CertFile: missing, KeyFile: key}, "missing.pem"},
		{TLSConfig{CertFile: cert, KeyFile: missing}, "missing.pem"},
		{TLSConfig{CertFile: cert}, "no key file"},
		{TLSConfig{CertFile: cert, KeyFile: otherKey}, "does not match"},
		{TLSConfig{CertFile: cert, KeyFile: key, CAFile: missing}, "missing.pem"},
		{TLSConfig{CertFile: cert, KeyFile: key, CAFile: notPEM}, "no PEM certificate"},
	} {
		for side, f := range map[string]func() error{
			"server": func() error { _, err := c.cfg.ServerOption(); return err },
			"client": func() error { _, err := c.cfg.DialOption(); return err },
		} {
			if err := f(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %+v: %v, want an error mentioning %q", side, c.cfg, err, c.want)
			}
		}
	}
	if _, err := (TLSConfig{CAFile: ca.File}).ServerOption(); err == nil {
		t.Error("server with a CA but no certificate: no error")
	}
	if _, err := (TLSConfig{KeyFile: key}).DialOption(); err == nil {
		t.Error("client with a key but no certificate: no error")
	}
	if _, err := (TLSConfig{}).ServerOption(); err != nil {
		t.Errorf("plaintext server: %v", err)
	}
}
