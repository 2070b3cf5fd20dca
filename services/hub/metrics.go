package hub

import "github.com/prometheus/client_golang/prometheus"

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
