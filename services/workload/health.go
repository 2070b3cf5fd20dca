package workload

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// Health states of an app with a health check.
const (
	HealthStarting  = workloadapi.HealthStarting
	HealthHealthy   = workloadapi.HealthHealthy
	HealthUnhealthy = workloadapi.HealthUnhealthy
)

// watchHealth runs the app's health check while task runs, until ctx
// ends. FailureThreshold consecutive failures make the app unhealthy:
// with onUnhealthy "restart" its task is killed (the restart policy then
// applies), with "mark" it is only reported. SuccessThreshold successes
// make it healthy.
func (a *app) watchHealth(ctx context.Context, ctr containerd.Container, task containerd.Task) {
	h := a.spec.Health
	if h == nil {
		return
	}
	a.set(func(s *Status) { s.Health, s.HealthFailures = HealthStarting, 0 })
	timer := time.NewTimer(h.StartPeriod.Duration)
	defer timer.Stop()
	fails, oks := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := a.probe(ctx, ctr, task, h)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fails, oks = fails+1, 0
			a.set(func(s *Status) { s.HealthFailures, s.HealthError = fails, err.Error() })
			if fails >= h.FailureThreshold {
				a.set(func(s *Status) { s.Health = HealthUnhealthy })
				if h.OnUnhealthy == "restart" {
					a.r.log().Warn("app unhealthy; restarting it", "tenant", a.spec.Tenant, "app", a.spec.Name, "err", err)
					task.Kill(ctx, unix.SIGKILL, containerd.WithKillAll)
					return
				}
			}
		} else {
			fails, oks = 0, oks+1
			if oks >= h.SuccessThreshold {
				a.set(func(s *Status) { s.Health, s.HealthFailures, s.HealthError = HealthHealthy, 0, "" })
			}
		}
		timer.Reset(h.Interval.Duration)
	}
}

// probe runs one check within the timeout.
func (a *app) probe(ctx context.Context, ctr containerd.Container, task containerd.Task, h *workloadapi.Health) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout.Duration)
	defer cancel()
	if h.HTTP != nil {
		return probeHTTP(ctx, int(task.Pid()), h.HTTP.Port, h.HTTP.Path)
	}
	return probeExec(ctx, ctr, task, h.Exec)
}

// probeExec runs the check command in the container, as the app's user,
// and wants exit status 0.
func probeExec(ctx context.Context, ctr containerd.Container, task containerd.Task, args []string) error {
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	p := *spec.Process
	p.Args, p.Terminal = args, false
	id := "health-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	proc, err := task.Exec(ctx, id, &p, cio.NullIO)
	if err != nil {
		return fmt.Errorf("exec %v: %w", args, err)
	}
	defer proc.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	exitC, err := proc.Wait(ctx)
	if err != nil {
		return fmt.Errorf("exec %v: %w", args, err)
	}
	if err := proc.Start(ctx); err != nil {
		return fmt.Errorf("exec %v: %w", args, err)
	}
	select {
	case st := <-exitC:
		code, _, err := st.Result()
		if err != nil {
			return fmt.Errorf("exec %v: %w", args, err)
		}
		if code != 0 {
			return fmt.Errorf("exec %v: exit status %d", args, code)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("exec %v: no answer within the timeout", args)
	}
}

// probeHTTP GETs path on the container's own loopback: the connection is
// made from inside the app's network namespace, so a check needs no
// published port and sees what the app's neighbours see. 2xx and 3xx are
// healthy.
func probeHTTP(ctx context.Context, pid, port int, path string) error {
	conn, err := dialInApp(ctx, pid, "tcp", port)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: skerry-health\r\n\r\n", path); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}
