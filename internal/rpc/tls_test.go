package rpc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runnel-dev/runnel/internal/output"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a leaf certificate for 127.0.0.1 and localhost and its key,
// and returns their paths.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

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
	ca := newTestCA(t, dir, "ca")
	other := newTestCA(t, dir, "other-ca")
	serverCert, serverKey := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	otherCert, otherKey := other.issue(t, dir, "other-client", x509.ExtKeyUsageClientAuth)

	mutual := serveTLS(t, TLSConfig{CertFile: serverCert, KeyFile: serverKey, CAFile: ca.file})
	serverOnly := serveTLS(t, TLSConfig{CertFile: serverCert, KeyFile: serverKey})

	good := TLSConfig{CertFile: clientCert, KeyFile: clientKey, CAFile: ca.file}
	if !good.Enabled() || (TLSConfig{CAFile: ca.file}).Enabled() {
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
	if err := call(t, serverOnly, dial(t, TLSConfig{CAFile: ca.file})); err != nil {
		t.Errorf("server-only TLS with a client trusting the CA: %v", err)
	}

	fails := []struct {
		name string
		addr string
		opt  grpc.DialOption
	}{
		{"plaintext client", mutual, grpc.WithTransportCredentials(insecure.NewCredentials())},
		{"plaintext client, server-only TLS", serverOnly, dial(t, TLSConfig{})},
		{"client trusting another CA", mutual, dial(t, TLSConfig{CertFile: clientCert, KeyFile: clientKey, CAFile: other.file})},
		{"client trusting another CA, server-only TLS", serverOnly, dial(t, TLSConfig{CAFile: other.file})},
		{"client without a certificate", mutual, dial(t, TLSConfig{CAFile: ca.file})},
		{"client certificate from another CA", mutual, dial(t, TLSConfig{CertFile: otherCert, KeyFile: otherKey, CAFile: ca.file})},
		{"wrong server name", mutual, dial(t, TLSConfig{CertFile: clientCert, KeyFile: clientKey, CAFile: ca.file, ServerName: "elsewhere"})},
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
	ca := newTestCA(t, dir, "ca")
	cert, key := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	_, otherKey := ca.issue(t, dir, "other", x509.ExtKeyUsageServerAuth)
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
	if _, err := (TLSConfig{CAFile: ca.file}).ServerOption(); err == nil {
		t.Error("server with a CA but no certificate: no error")
	}
	if _, err := (TLSConfig{KeyFile: key}).DialOption(); err == nil {
		t.Error("client with a key but no certificate: no error")
	}
	if _, err := (TLSConfig{}).ServerOption(); err != nil {
		t.Errorf("plaintext server: %v", err)
	}
}
