package towertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// SimSite is a site without a VM, for rollout tests and the rollout
// benchmark: enrolled with a software identity, it long-polls its desired
// state as the agent does, "runs" each app version the moment it gets it,
// and reports every app running and healthy (unless Bad says the version
// is unhealthy) right after each change and then every Every. It
// remembers each version it was told to run.
type SimSite struct {
	ID    string
	URL   string
	Bad   func(version int) bool // nil: every version is healthy
	Every time.Duration          // report interval; default 100 ms

	hc      *http.Client
	changed chan struct{}
	mu      sync.Mutex
	running map[string]*workloadapi.AppSpec // by app name
	seen    map[string][]int
	acked   map[string]int // app name → version in the last report the tower took
	cancel  context.CancelFunc
	done    chan struct{}
}

// EnrollSim enrolls a software site at the tower url with an enrollment
// token; Start makes it live.
func EnrollSim(ctx context.Context, url string, caPEM []byte, token string) (*SimSite, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	a := &SoftwareAgent{URL: url, CAPool: pool, Key: key}
	res, err := a.Enroll(ctx, token)
	if err != nil {
		return nil, err
	}
	if res.Status != enrollapi.StatusRegistered {
		return nil, fmt.Errorf("enroll: %s, not registered", res.Status)
	}
	cert := tls.Certificate{Certificate: [][]byte{res.Certificate}, PrivateKey: key}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	return &SimSite{ID: res.SiteID, URL: url, hc: hc, changed: make(chan struct{}, 1),
		running: map[string]*workloadapi.AppSpec{}, seen: map[string][]int{}, acked: map[string]int{}}, nil
}

// Start runs the site until Stop.
func (s *SimSite) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.poll(ctx) }()
	go func() { defer wg.Done(); s.report(ctx) }()
	go func() { wg.Wait(); s.hc.CloseIdleConnections(); close(s.done) }()
}

// Stop makes the site go silent, as a box that lost power. It may be
// called more than once.
func (s *SimSite) Stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

// Versions is every version of app the site was told to run, in order.
func (s *SimSite) Versions(app string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.seen[app]...)
}

// Reported is the version of app in the last status report the tower
// took (0: none).
func (s *SimSite) Reported(app string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[app]
}

// Runs reports whether the site runs version v of app now.
func (s *SimSite) Runs(app string, v int) bool {
	vs := s.Versions(app)
	return len(vs) > 0 && vs[len(vs)-1] == v
}

func (s *SimSite) poll(ctx context.Context) {
	rev := ""
	for ctx.Err() == nil {
		d, err := GetDesired(ctx, s.hc, s.URL, rev)
		if err != nil {
			select { // the tower restarts, say
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		rev = d.Revision
		s.mu.Lock()
		clear(s.running)
		for _, a := range d.Apps {
			v := workloadapi.AppVersionOf(a)
			s.running[a.Name] = a
			if seen := s.seen[a.Name]; len(seen) == 0 || seen[len(seen)-1] != v {
				s.seen[a.Name] = append(seen, v)
			}
		}
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

// GetDesired GETs a site's desired state from the tower at base with hc
// (which holds the site's certificate); with wait set, the tower holds
// the request until the state's revision differs from it.
func GetDesired(ctx context.Context, hc *http.Client, base, wait string) (enrollapi.Desired, error) {
	var d enrollapi.Desired
	u := base + enrollapi.PathDesired
	if wait != "" {
		u += "?wait=" + url.QueryEscape(wait)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return d, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("desired: %s: %s", resp.Status, data)
	}
	return d, json.Unmarshal(data, &d)
}

func (s *SimSite) report(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	for ctx.Err() == nil {
		in := enrollapi.StatusReport{AgentVersion: "sim", ImageVersion: "sim", BootID: "sim"}
		sent := map[string]int{}
		s.mu.Lock()
		for _, a := range s.running {
			v := workloadapi.AppVersionOf(a)
			st := workloadapi.Status{Tenant: a.Tenant, Name: a.Name, State: workloadapi.StateRunning, Health: workloadapi.HealthHealthy, AppVersion: v}
			if s.Bad != nil && s.Bad(v) {
				st.Health, st.HealthError = workloadapi.HealthUnhealthy, "GET /healthz: 500"
			}
			in.Apps = append(in.Apps, st)
			sent[a.Name] = v
		}
		s.mu.Unlock()
		if _, err := Post(ctx, s.hc, s.URL+enrollapi.PathStatus, in, nil); err == nil {
			s.mu.Lock()
			s.acked = sent
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-s.changed:
		case <-time.After(every):
		}
	}
}
