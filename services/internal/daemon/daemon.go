// Package daemon is the one way every Skerry service starts: a context that
// ends on SIGINT or SIGTERM, an errgroup for the service's goroutines, a
// bounded graceful shutdown, and the readiness notification that init's
// supervisor waits for.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/contract"
)

// ReadyFDEnv is contract.ReadyFDEnv, the fd init passes for readiness.
const ReadyFDEnv = contract.ReadyFDEnv

// ShutdownTimeout bounds how long Run waits for goroutines after the context
// ends; init's supervisor kills a service that takes longer than its own
// stop timeout anyway.
const ShutdownTimeout = 5 * time.Second

// Run runs fn until it returns or a termination signal arrives. fn must
// return soon after ctx is done. A nil error and context.Canceled are both a
// clean exit.
func Run(name string, fn func(ctx context.Context, g *errgroup.Group) error) error {
	return RunContext(context.Background(), Logger(name), name, fn)
}

// RunContext is Run for a main that is given its context and stderr: the
// service also stops when parent ends, and log (see LoggerTo) says so.
func RunContext(parent context.Context, log *slog.Logger, name string, fn func(ctx context.Context, g *errgroup.Group) error) error {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return fn(gctx, g) })
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		log.Info("shutting down")
		select {
		case err = <-done:
		case <-time.After(ShutdownTimeout):
			return fmt.Errorf("%s: shutdown took longer than %v", name, ShutdownTimeout)
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Ready tells the supervisor that the service is ready. It does nothing when
// the service was not started by init (no ready fd), so services run the same
// by hand.
func Ready() error {
	v := os.Getenv(ReadyFDEnv)
	if v == "" {
		return nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("parse %s=%q: %w", ReadyFDEnv, v, err)
	}
	f := os.NewFile(uintptr(fd), "ready")
	defer f.Close()
	os.Unsetenv(ReadyFDEnv)
	if _, err := f.WriteString(contract.ReadyMessage); err != nil {
		return fmt.Errorf("notify ready: %w", err)
	}
	return nil
}

// Logger returns the structured logger services use: text to stderr, which
// init's supervisor captures into the service's log ring.
func Logger(service string) *slog.Logger { return LoggerTo(os.Stderr, service) }

// LoggerTo is Logger writing to w, for mains given their stderr.
func LoggerTo(w io.Writer, service string) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("service", service)
}
