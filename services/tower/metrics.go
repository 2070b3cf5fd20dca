package tower

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/skerry/skerry/services/tower/store"
)

// metrics are the Server's Prometheus collectors, in its own registry (no
// global state: two Servers in one test process do not collide).
type metrics struct {
	enrollments *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	reports     prometheus.Counter
	renewals    prometheus.Counter
}

// newMetrics registers the tower's collectors, plus the Go runtime's and
// the process's (RSS, CPU, open files), in the Server's registry.
func newMetrics(s *Server) *metrics {
	m := &metrics{
		enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_enrollments_total",
			Help: "Enrollment finishes by outcome: registered, pending, rejected, or the refusal code.",
		}, []string{"outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tower_refusals_total",
			Help: "Refused API requests by error code.",
		}, []string{"code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tower_http_request_duration_seconds",
			Help:    "API request latency by route and status class.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method", "route", "status"}),
		reports: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tower_status_reports_total",
			Help: "Status reports accepted from sites.",
		}),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tower_certificate_renewals_total",
			Help: "Site certificates renewed.",
		}),
	}
	online := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tower_sites_online",
		Help: "Sites whose last status report is younger than three report intervals.",
	}, func() float64 { return float64(s.countOnline()) })
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tower_pending_entries",
		Help: "Boxes in the pending queue; at -max-pending new boxes are refused pending_full.",
	}, func() float64 { return float64(s.countPending()) })
	s.registry.MustRegister(m.enrollments, m.refusals, m.latency, m.reports, m.renewals, online, pending,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// countOnline scans the sites; a scrape every few seconds over a bbolt
// file of tens of thousands of sites takes milliseconds.
func (s *Server) countOnline() int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	now := s.now()
	s.store.View(ctx, func(tx store.Tx) error {
		p := store.Page{Limit: maxLimit}
		for {
			sites, next, err := tx.Sites(store.Filter{}, p)
			if err != nil {
				return err
			}
			for _, site := range sites {
				if s.online(site, now) {
					n++
				}
			}
			if next == "" {
				return nil
			}
			p.Cursor = next
		}
	})
	return n
}

// online reports whether a site reported within three report intervals.
func (s *Server) online(site store.Site, now time.Time) bool {
	return !site.Revoked && !site.LastSeen.IsZero() && now.Sub(site.LastSeen) < 3*s.reportInterval
}

// countPending reads the pending queue's size.
func (s *Server) countPending() int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	s.store.View(ctx, func(tx store.Tx) (err error) {
		n, err = tx.PendingCount()
		return err
	})
	return n
}
