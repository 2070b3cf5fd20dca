package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/skerry/skerry/services/streamlog"
)

// collector turns the store's Stats into Prometheus metrics at scrape
// time, so there is no second set of counters to keep in step.
type collector struct {
	store *streamlog.Store
	p     Principal
}

var (
	labels      = []string{"tenant", "topic"}
	descAppRecs = prometheus.NewDesc("skerry_streamlog_appended_records_total", "Records appended to the topic.", labels, nil)
	descAppByte = prometheus.NewDesc("skerry_streamlog_appended_bytes_total", "Key, header and value bytes appended.", labels, nil)
	descRdRecs  = prometheus.NewDesc("skerry_streamlog_read_records_total", "Records read from the topic.", labels, nil)
	descRdBytes = prometheus.NewDesc("skerry_streamlog_read_bytes_total", "Key, header and value bytes read.", labels, nil)
	descRetRecs = prometheus.NewDesc("skerry_streamlog_retained_records", "Records retained (next - start).", labels, nil)
	descRetByte = prometheus.NewDesc("skerry_streamlog_retained_bytes", "Bytes retained, as counted against maxBytes.", labels, nil)
	descNext    = prometheus.NewDesc("skerry_streamlog_next_offset", "Offset the next record will get.", labels, nil)
	descLag     = prometheus.NewDesc("skerry_streamlog_consumer_lag_records", "Records between a consumer's cursor and the end.", append(labels, "consumer"), nil)
	descDisk    = prometheus.NewDesc("skerry_streamlog_disk_bytes", "Bytes of segment files and meta.db.", nil, nil)
	descSegs    = prometheus.NewDesc("skerry_streamlog_segments", "Segment files open.", nil, nil)
	descFull    = prometheus.NewDesc("skerry_streamlog_disk_full", "1 while appends fail for lack of disk space.", nil, nil)
	descCommit  = prometheus.NewDesc("skerry_streamlog_commit_seconds", "Duration of group commits (write and fsync).", nil, nil)
	descCommitR = prometheus.NewDesc("skerry_streamlog_committed_records_total", "Records acknowledged by group commits.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAppRecs, descAppByte, descRdRecs, descRdBytes, descRetRecs, descRetByte, descNext, descLag, descDisk, descSegs, descFull, descCommit, descCommitR} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	tenant := c.p.Tenant
	if c.p.System {
		tenant = ""
	}
	st, err := c.store.Stats(tenant)
	if err != nil {
		return
	}
	for _, t := range st.Topics {
		l := []string{t.Name.Tenant, t.Name.Topic}
		ch <- prometheus.MustNewConstMetric(descAppRecs, prometheus.CounterValue, float64(t.AppendedRecords), l...)
		ch <- prometheus.MustNewConstMetric(descAppByte, prometheus.CounterValue, float64(t.AppendedBytes), l...)
		ch <- prometheus.MustNewConstMetric(descRdRecs, prometheus.CounterValue, float64(t.ReadRecords), l...)
		ch <- prometheus.MustNewConstMetric(descRdBytes, prometheus.CounterValue, float64(t.ReadBytes), l...)
		ch <- prometheus.MustNewConstMetric(descRetRecs, prometheus.GaugeValue, float64(t.Next-t.Start), l...)
		ch <- prometheus.MustNewConstMetric(descRetByte, prometheus.GaugeValue, float64(t.Bytes), l...)
		ch <- prometheus.MustNewConstMetric(descNext, prometheus.GaugeValue, float64(t.Next), l...)
		for _, cur := range t.Cursors {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(cur.Lag), append(l, cur.Consumer)...)
		}
	}
	if c.p.System {
		full := 0.0
		if st.DiskFull {
			full = 1
		}
		ch <- prometheus.MustNewConstMetric(descDisk, prometheus.GaugeValue, float64(st.DiskBytes))
		ch <- prometheus.MustNewConstMetric(descSegs, prometheus.GaugeValue, float64(st.Segments))
		ch <- prometheus.MustNewConstMetric(descFull, prometheus.GaugeValue, full)
		buckets := map[float64]uint64{}
		var cum uint64
		for i, b := range streamlog.CommitBuckets {
			cum += st.Commits.Counts[i]
			buckets[b.Seconds()] = cum
		}
		cum += st.Commits.Counts[len(streamlog.CommitBuckets)]
		ch <- prometheus.MustNewConstHistogram(descCommit, cum, st.Commits.Sum.Seconds(), buckets)
		ch <- prometheus.MustNewConstMetric(descCommitR, prometheus.CounterValue, float64(st.Commits.Records))
	}
}
