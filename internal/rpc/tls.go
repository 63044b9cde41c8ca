package rpc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLSConfig secures the gRPC links between Runnel's components. Files are
// read when ServerOption or DialOption is called and never again: a
// rotated certificate takes effect when the process restarts (rotation
// without a restart is out of scope for now).
type TLSConfig struct {
	// CertFile and KeyFile are this component's PEM certificate and key:
	// the server's certificate, or the client certificate a client
	// presents. Both or neither.
	CertFile, KeyFile string
	// CAFile holds the PEM certificates that are trusted. A server with a
	// CAFile requires client certificates signed by it (mutual TLS); a
	// client verifies the server with it, or with the system roots when
	// it is empty.
	CAFile string
	// ServerName overrides the name a client verifies the server's
	// certificate against (by default the host it dials).
	ServerName string
}

// Enabled reports whether a certificate is set, that is whether a server
// serves TLS.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" }

// ServerOption returns the credentials a gRPC server should use: TLS 1.3
// with CertFile, and mutual TLS when CAFile is set. Without a certificate
// the server is plaintext and the option is a no-op.
func (c TLSConfig) ServerOption() (grpc.ServerOption, error) {
	if !c.Enabled() {
		if c.KeyFile != "" || c.CAFile != "" {
			return nil, errors.New("rpc: TLS key or CA file set without a certificate file")
		}
		return grpc.EmptyServerOption{}, nil
	}
	cert, err := c.loadCert()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	if c.CAFile != "" {
		pool, err := loadCA(c.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return grpc.Creds(credentials.NewTLS(cfg)), nil
}

// DialOption returns the transport credentials a client should use. A
// client uses TLS when it has a certificate or a CAFile: it verifies the
// server with CAFile (or the system roots) and presents its certificate
// when it has one. With neither it dials in plaintext.
func (c TLSConfig) DialOption() (grpc.DialOption, error) {
	if !c.Enabled() && c.CAFile == "" {
		if c.KeyFile != "" {
			return nil, errors.New("rpc: TLS key file set without a certificate file")
		}
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: c.ServerName}
	if c.Enabled() {
		cert, err := c.loadCert()
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if c.CAFile != "" {
		pool, err := loadCA(c.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}

func (c TLSConfig) loadCert() (tls.Certificate, error) {
	if c.KeyFile == "" {
		return tls.Certificate{}, fmt.Errorf("rpc: TLS certificate %s has no key file", c.CertFile)
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("rpc: loading TLS certificate %s and key %s: %w", c.CertFile, c.KeyFile, err)
	}
	return cert, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rpc: reading TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("rpc: TLS CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}
