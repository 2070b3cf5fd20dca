package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/skerry/skerry/services/api/towerapi"
)

// hubCommands are the "skerryctl tower hubs" subcommands: the intermediate
// hubs (tower hub -parent) the tower issued certificates to.
var hubCommands = []towerCmd{
	{"add", "add ID -key-out F -cert-out F [-ca-out F] [-host H]...   make a hub's key here and have the tower certify it", hubsAdd},
	{"list", "list                                list hubs", hubsList},
	{"revoke", "revoke ID                           revoke a hub: the tower and the hubs below it refuse it", hubsRevoke},
}

func runTowerHubs(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "hubs", hubCommands, args)
}

func showHubs(tc *towerCtx, v any, hs ...towerapi.Hub) error {
	return tc.show(v, "ID\tHOSTS\tSERIAL\tNOT AFTER\tREVOKED", func(w io.Writer) {
		for _, h := range hs {
			revoked := ""
			if h.Revoked {
				revoked = h.RevokedAt.Format("2006-01-02 15:04:05Z07:00")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", h.ID, strings.Join(h.Hosts, ","), h.CertificateSerial, h.CertificateNotAfter.Format("2006-01-02"), revoked)
		}
	})
}

// hubsAdd makes the hub's key on this machine (run it where the hub runs,
// or carry the key file there), sends the tower a certificate request for
// it, and writes the key, the certificate and the tower CA: what "tower
// hub -cert -key -ca-cert -parent-cert -parent-key" takes.
func hubsAdd(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	keyOut := fs.String("key-out", "", "write the hub's new private key here (PEM, 0600; must not exist)")
	certOut := fs.String("cert-out", "", "write the hub's certificate here (PEM)")
	caOut := fs.String("ca-out", "", "also write the tower CA certificate here (PEM), the hub's -ca-cert")
	var hosts hostsFlag
	fs.Var(&hosts, "host", "a DNS name or IP address the hub's sites dial (repeatable)")
	pos, err := tc.parse(fs, args, 1, "the hub's ID")
	if err != nil {
		return err
	}
	if *keyOut == "" || *certOut == "" {
		return fmt.Errorf("%s: -key-out and -cert-out say where the hub's key and certificate go", tc.cmd)
	}
	// The key file is created first and exclusively: an existing key (a
	// hub's identity) is never overwritten.
	kf, err := os.OpenFile(*keyOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("-key-out %s exists: it may be a hub's key; choose another file or remove it", *keyOut)
	}
	if err != nil {
		return fmt.Errorf("-key-out: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(*keyOut)
		}
	}()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		kf.Close()
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		kf.Close()
		return err
	}
	err = pem.Encode(kf, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if cerr := kf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write -key-out: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: pos[0]}}, key)
	if err != nil {
		return err
	}
	in := towerapi.HubCreate{ID: pos[0], Hosts: hosts, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))}
	var out towerapi.HubCreated
	if err := tc.c.Do(ctx, "POST", "/v1/hubs", in, &out); err != nil {
		return err
	}
	if err := os.WriteFile(*certOut, []byte(out.Certificate), 0o644); err != nil {
		return fmt.Errorf("write -cert-out (the tower recorded hub %s: revoke it and add another): %w", pos[0], err)
	}
	if *caOut != "" {
		if err := os.WriteFile(*caOut, []byte(out.CA), 0o644); err != nil {
			return fmt.Errorf("write -ca-out: %w", err)
		}
	}
	ok = true
	return showHubs(tc, out, out.Hub)
}

// hostsFlag collects repeated -host flags.
type hostsFlag []string

func (h *hostsFlag) String() string     { return strings.Join(*h, ",") }
func (h *hostsFlag) Set(v string) error { *h = append(*h, v); return nil }

func hubsList(ctx context.Context, tc *towerCtx, args []string) error {
	if _, err := tc.parse(tc.flags(), args, 0, "no arguments"); err != nil {
		return err
	}
	hs, err := listAll[towerapi.Hub](ctx, tc.c, "/v1/hubs")
	if err != nil {
		return err
	}
	return showHubs(tc, hs, hs...)
}

func hubsRevoke(ctx context.Context, tc *towerCtx, args []string) error {
	pos, err := tc.parse(tc.flags(), args, 1, "the hub's ID")
	if err != nil {
		return err
	}
	var h towerapi.Hub
	if err := tc.c.Do(ctx, "POST", "/v1/hubs/"+url.PathEscape(pos[0])+"/revoke", nil, &h); err != nil {
		return err
	}
	return showHubs(tc, h, h)
}
