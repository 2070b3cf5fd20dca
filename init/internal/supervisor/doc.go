// Package supervisor is init's service supervisor: it starts the site's
// services in dependency order, each in its own process group and cgroup,
// waits until each says it is ready before starting what depends on it,
// keeps their output in bounded rings, restarts them with exponential
// backoff, and stops them in reverse order when init shuts down.
//
// Because init is PID 1 it must also reap orphans. A Reaper does that with a
// wait4(-1) loop and hands the exits of processes it started to their owners;
// see README.md for why every child of init must be started through it.
//
// The package is Linux only.
package supervisor
