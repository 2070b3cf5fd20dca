// Package workload runs tenants' applications on a site with containerd:
// the core of the `skerry workload` service (DESIGN.md, "Workload").
//
// One containerd namespace per tenant (the tenant's name), so one tenant's
// images, containers and snapshots are invisible to another's client
// calls. One cgroup subtree per tenant (CgroupRoot/<tenant>/<app>), so a
// tenant's quota can be set on its parent. Containers run unprivileged by
// default: user nobody unless the spec names a UID, no capabilities, no
// new privileges, their own PID, IPC, UTS, mount and network namespaces
// (never the host's), and a read-only root when the spec says so.
//
// A Runner keeps the apps it is given running: it restarts them per the
// spec's policy with exponential backoff, and it reattaches to the tasks
// it finds running when it starts (the service restarting does not
// restart the containers). Status reports each app's state, restarts and
// last exit.
//
// Containers get containerd's default seccomp profile; their output goes
// into the tenant's stream log topic app.<name>.log; each tenant's quota
// sits on its parent cgroup; images no app uses are collected; secrets
// and registry credentials come from the vault; host ports are forwarded
// into the apps' own network namespaces (see the README).
package workload
