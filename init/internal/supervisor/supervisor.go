package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skerry/skerry/services/contract"
)

// Supervisor runs a fixed set of services; see the package doc.
type Supervisor struct {
	cfg      config
	starter  starter
	cg       *cgroups // nil without WithCgroupRoot
	services []*service
	byName   map[string]*service

	mu       sync.Mutex
	running  bool
	notReady int // services that were never ready yet
	readyAt  time.Time
	allReady chan struct{}
}

// New validates specs and prepares a supervisor; nothing starts before Run.
// It fails with ErrDuplicateService, ErrUnknownDependency,
// ErrDependencyCycle or ErrInvalidSpec for bad specs, and with ErrNoCgroup2
// when WithCgroupRoot names a directory that is not on cgroup2.
func New(specs []Spec, opts ...Option) (*Supervisor, error) {
	cfg := config{ringSize: DefaultRingSize}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	cfg.backoff = cfg.backoff.withDefaults()
	if cfg.clock == nil {
		cfg.clock = realClock{}
	}
	sorted, err := order(specs)
	if err != nil {
		return nil, fmt.Errorf("check services: %w", err)
	}
	s := &Supervisor{
		cfg:      cfg,
		starter:  waitStarter{},
		byName:   make(map[string]*service, len(sorted)),
		notReady: len(sorted),
		allReady: make(chan struct{}),
	}
	if cfg.reaper != nil {
		s.starter = cfg.reaper
	}
	if cfg.cgroupRoot != "" {
		if s.cg, err = checkCgroupRoot(cfg.cgroupRoot); err != nil {
			return nil, err
		}
	}
	for _, sp := range sorted {
		svc := newService(sp, cfg.ringSize)
		for _, d := range sp.DependsOn {
			dep := s.byName[d] // sorted: dependencies come first
			svc.deps = append(svc.deps, dep)
			dep.dependants = append(dep.dependants, svc)
		}
		s.services = append(s.services, svc)
		s.byName[sp.Name] = svc
	}
	if len(s.services) == 0 {
		close(s.allReady)
	}
	return s, nil
}

// Run starts the services and supervises them until ctx ends, then stops
// them, dependants before their dependencies, and returns nil. It returns an
// error only when the services cannot be set up at all (cgroups). Run may be
// called once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("run supervisor: already running")
	}
	s.running = true
	s.mu.Unlock()

	if s.cg != nil {
		if err := s.cg.setup(s.specs()); err != nil {
			return err
		}
	}
	// One goroutine per service; each waits for its own dependencies, so
	// independent services start in parallel.
	for _, svc := range s.services {
		go s.supervise(svc)
	}
	<-ctx.Done()
	s.cfg.log.Info("stopping services")
	var wg sync.WaitGroup
	for _, svc := range s.services {
		// Each service stops once everything depending on it has stopped,
		// which gives reverse dependency order while letting independent
		// services stop in parallel.
		wg.Go(func() {
			for _, d := range svc.dependants {
				<-d.done
			}
			close(svc.quit)
			<-svc.done
		})
	}
	wg.Wait()
	return nil
}

func (s *Supervisor) specs() []Spec {
	out := make([]Spec, len(s.services))
	for i, svc := range s.services {
		out[i] = svc.spec
	}
	return out
}

// AllReady is closed once every service has been ready at least once. A
// service that exits before it was ever ready (even with contract.ExitDoNotRestart)
// holds it open.
func (s *Supervisor) AllReady() <-chan struct{} { return s.allReady }

// ReadyAt is when AllReady was closed, or the zero time.
func (s *Supervisor) ReadyAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyAt
}

func (s *Supervisor) oneReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notReady--
	if s.notReady == 0 {
		s.readyAt = time.Now()
		close(s.allReady)
		s.cfg.log.Info("all services ready")
	}
}

// Status reports every service, dependencies first.
func (s *Supervisor) Status() []contract.ServiceStatus {
	out := make([]contract.ServiceStatus, 0, len(s.services))
	for _, svc := range s.services {
		st := svc.status()
		// Read on demand: one small file per service, only when asked.
		if s.cg != nil {
			st.MemoryNow = s.cg.memoryCurrent(svc.spec.Name)
		}
		out = append(out, st)
	}
	return out
}

// Logs returns the service's recent output (see WithRingSize).
func (s *Supervisor) Logs(name string) ([]byte, error) {
	svc, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	return svc.ring.Bytes(), nil
}

// Stop stops a service until Restart; it returns at once and Status shows
// the progress. Services depending on it are left running.
func (s *Supervisor) Stop(name string) error {
	svc, err := s.lookup(name)
	if err != nil {
		return err
	}
	svc.request(opStop)
	return nil
}

// Restart stops a running service and starts it again, or starts a stopped
// one, without backoff; it returns at once.
func (s *Supervisor) Restart(name string) error {
	svc, err := s.lookup(name)
	if err != nil {
		return err
	}
	svc.request(opRestart)
	return nil
}

func (s *Supervisor) lookup(name string) (*service, error) {
	if svc, ok := s.byName[name]; ok {
		return svc, nil
	}
	names := make([]string, 0, len(s.services))
	for _, svc := range s.services {
		names = append(names, svc.spec.Name)
	}
	slices.Sort(names)
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownService, name, strings.Join(names, ", "))
}

// RunCommand runs a one-off command to completion and returns its combined
// output. Use it instead of os/exec while the supervisor runs with a Reaper,
// whose wait4(-1) would otherwise collect the command's exit.
func (s *Supervisor) RunCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	if s.cfg.reaper != nil {
		return s.cfg.reaper.Output(ctx, exec.Command(name, args...))
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		// Same error type with or without a Reaper.
		err = &ExitError{Status: ee.Sys().(syscall.WaitStatus)}
	}
	if err != nil {
		return out, fmt.Errorf("run %s: %w", name, err)
	}
	return out, nil
}
