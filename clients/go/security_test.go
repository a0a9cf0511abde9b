package dlog_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dlog "github.com/dlog-project/dlog/clients/go"
	"github.com/dlog-project/dlog/clients/go/dlogtest"
)

// issue writes a key and a certificate signed by parent (self-signed when parent is nil).
func issue(t *testing.T, dir, name string, template *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, kind string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".crt", "CERTIFICATE", der)
	write(name+".key", "PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func certTemplate(serial int64, cn string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
}

func TestMutualTLSAndBearerTokens(t *testing.T) {
	dir := t.TempDir()
	caTemplate := certTemplate(1, "dlog test CA")
	caTemplate.IsCA, caTemplate.BasicConstraintsValid, caTemplate.KeyUsage = true, true, x509.KeyUsageCertSign
	ca, caKey := issue(t, dir, "ca", caTemplate, nil, nil)
	serverTemplate := certTemplate(2, "dlogd")
	serverTemplate.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	serverTemplate.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	issue(t, dir, "server", serverTemplate, ca, caKey)
	clientTemplate := certTemplate(3, "app")
	clientTemplate.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	issue(t, dir, "client", clientTemplate, ca, caKey)
	tokens := `{"tokens": [{"name": "orders-app", "token": "s3cret-token-for-orders", "allow": {"append": ["orders-*"], "read": ["orders-*"]}}]}`
	if err := os.WriteFile(filepath.Join(dir, "tokens.json"), []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	file := func(name string) string { return filepath.Join(dir, name) }
	srv := dlogtest.Start(t, dlogtest.WithArgs(
		"--tls-cert", file("server.crt"), "--tls-key", file("server.key"), "--tls-client-ca", file("ca.crt"),
		"--auth-tokens", file("tokens.json"),
	))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mtls := dlog.WithTLSFiles(file("ca.crt"), file("client.crt"), file("client.key"))

	client := srv.Client(t, mtls, dlog.WithBearerToken("s3cret-token-for-orders"))
	if _, err := client.Append(ctx, "orders-1", dlog.Input{Payload: []byte("paid")}); err != nil {
		t.Fatalf("append with a client certificate and a token: %v", err)
	}
	_, err := client.Append(ctx, "billing", dlog.Input{Payload: []byte("x")})
	if status.Code(err) != codes.PermissionDenied || !errors.Is(err, dlog.ErrPermissionDenied) {
		t.Fatalf("append outside the token's patterns: %v, want PERMISSION_DENIED", err)
	}
	noToken := srv.Client(t, mtls)
	if _, err := noToken.Append(ctx, "orders-1", dlog.Input{Payload: []byte("x")}); !errors.Is(err, dlog.ErrUnauthenticated) {
		t.Fatalf("append without a token: %v, want UNAUTHENTICATED", err)
	}
	noCert := srv.Client(t, dlog.WithTLSFiles(file("ca.crt"), "", ""), dlog.WithBearerToken("s3cret-token-for-orders"))
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := noCert.Append(short, "orders-1", dlog.Input{Payload: []byte("x")}); err == nil {
		t.Fatal("append without a client certificate succeeded")
	}
}
