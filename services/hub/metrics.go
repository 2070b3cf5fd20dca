package hub

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skerry/skerry/services/streamlog"
)

var (
	descStored  = prometheus.NewDesc("skerry_hub_records_stored_total", "Site records stored (fsynced) by the hub.", nil, nil)
	descDups    = prometheus.NewDesc("skerry_hub_records_duplicate_total", "Site records received again and dropped as already stored.", nil, nil)
	descGaps    = prometheus.NewDesc("skerry_hub_batch_gaps_total", "Batches answered with a gap (the site resumes at the high-water mark).", nil, nil)
	descRefused = prometheus.NewDesc("skerry_hub_batches_refused_total", "Batches refused: unparsable, of another site, of a reset site topic, too large.", nil, nil)
)

// Collector exports the receiver's counters for Prometheus. The sites'
// lag is the uplink cursor's lag in each site's stream log metrics
// (skerry_streamlog_consumer_lag_records{consumer="uplink"}).
func (r *Receiver) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Receiver }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStored, descDups, descGaps, descRefused} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	stored, dups, gaps, refused := c.r.Counts()
	ch <- prometheus.MustNewConstMetric(descStored, prometheus.CounterValue, float64(stored))
	ch <- prometheus.MustNewConstMetric(descDups, prometheus.CounterValue, float64(dups))
	ch <- prometheus.MustNewConstMetric(descGaps, prometheus.CounterValue, float64(gaps))
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(refused))
}

var (
	descFull      = prometheus.NewDesc("skerry_hub_batches_full_total", "Batches answered retry (code full) because storing them would have dropped records not yet forwarded: back-pressure to the sites.", nil, nil)
	descForwarded = prometheus.NewDesc("skerry_hub_records_forwarded_total", "Records the parent answered stored.", nil, nil)
	descFwdSent   = prometheus.NewDesc("skerry_hub_records_forward_sent_total", "Records sent to the parent, resent ones included.", nil, nil)
	descLag       = prometheus.NewDesc("skerry_hub_forward_lag_records", "Records stored at the hub, of topics it forwards, that the parent does not have yet.", nil, nil)
	descRedacted  = prometheus.NewDesc("skerry_hub_records_redacted_total", "Records forwarded with fields dropped by the hub's policy.", nil, nil)
	descWithheld  = prometheus.NewDesc("skerry_hub_records_withheld_total", "Records whose contents the policy refused to forward (not a JSON object under a drop rule): only their offset went up.", nil, nil)
)

// Collector exports forwarding counters and the lag to the parent over
// the hub's store.
func (f *Forwarder) Collector(store *streamlog.Store, recv *Receiver) prometheus.Collector {
	return fwdCollector{f, store, recv}
}

type fwdCollector struct {
	f     *Forwarder
	store *streamlog.Store
	recv  *Receiver
}

func (c fwdCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFull, descForwarded, descFwdSent, descLag, descRedacted, descWithheld} {
		ch <- d
	}
}

func (c fwdCollector) Collect(ch chan<- prometheus.Metric) {
	sent, fwd, redacted, withheld := c.f.Counts()
	ch <- prometheus.MustNewConstMetric(descFull, prometheus.CounterValue, float64(c.recv.Full()))
	ch <- prometheus.MustNewConstMetric(descForwarded, prometheus.CounterValue, float64(fwd))
	ch <- prometheus.MustNewConstMetric(descFwdSent, prometheus.CounterValue, float64(sent))
	ch <- prometheus.MustNewConstMetric(descRedacted, prometheus.CounterValue, float64(redacted))
	ch <- prometheus.MustNewConstMetric(descWithheld, prometheus.CounterValue, float64(withheld))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(c.f.Lag(c.store)))
}

// Lag counts the records of forwarded topics the parent has not stored.
func (f *Forwarder) Lag(store *streamlog.Store) uint64 {
	var lag uint64
	for _, info := range store.Topics("") {
		name := info.Name.String()
		if !f.filter.p.Forwards(name) {
			continue
		}
		cur, err := store.GetCursor(name, ForwardConsumer)
		if err != nil {
			cur.Offset = 0
		}
		lag += info.Next - min(info.Next, max(cur.Offset, info.Start))
	}
	return lag
}
