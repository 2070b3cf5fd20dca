package api

import (
	"github.com/skerry/skerry/services/internal/promtext"
	"github.com/skerry/skerry/services/streamlog"
)

// The metric families of GET /metrics, computed from the store's Stats at
// scrape time, so there is no second set of counters to keep in step.
var (
	descAppRecs = promtext.NewDesc("skerry_streamlog_appended_records_total", "Records appended to the topic.", promtext.Counter, "tenant", "topic")
	descAppByte = promtext.NewDesc("skerry_streamlog_appended_bytes_total", "Key, header and value bytes appended.", promtext.Counter, "tenant", "topic")
	descRdRecs  = promtext.NewDesc("skerry_streamlog_read_records_total", "Records read from the topic.", promtext.Counter, "tenant", "topic")
	descRdBytes = promtext.NewDesc("skerry_streamlog_read_bytes_total", "Key, header and value bytes read.", promtext.Counter, "tenant", "topic")
	descRetRecs = promtext.NewDesc("skerry_streamlog_retained_records", "Records retained (next - start).", promtext.Gauge, "tenant", "topic")
	descRetByte = promtext.NewDesc("skerry_streamlog_retained_bytes", "Bytes retained, as counted against maxBytes.", promtext.Gauge, "tenant", "topic")
	descNext    = promtext.NewDesc("skerry_streamlog_next_offset", "Offset the next record will get.", promtext.Gauge, "tenant", "topic")
	descLag     = promtext.NewDesc("skerry_streamlog_consumer_lag_records", "Records between a consumer's cursor and the end.", promtext.Gauge, "tenant", "topic", "consumer")
	descDisk    = promtext.NewDesc("skerry_streamlog_disk_bytes", "Bytes of segment files and meta.db.", promtext.Gauge)
	descSegs    = promtext.NewDesc("skerry_streamlog_segments", "Segment files open.", promtext.Gauge)
	descFull    = promtext.NewDesc("skerry_streamlog_disk_full", "1 while appends fail for lack of disk space.", promtext.Gauge)
	descCommit  = promtext.NewDesc("skerry_streamlog_commit_seconds", "Duration of group commits (write and fsync).", promtext.Histogram)
	descCommitR = promtext.NewDesc("skerry_streamlog_committed_records_total", "Records acknowledged by group commits.", promtext.Counter)
)

// collect adds the figures p may see to f: a tenant its own topics, the
// system every topic and the store's disk figures.
func collect(store *streamlog.Store, p Principal, f *promtext.Family) {
	tenant := p.Tenant
	if p.System {
		tenant = ""
	}
	st, err := store.Stats(tenant)
	if err != nil {
		return
	}
	for _, t := range st.Topics {
		l := []string{t.Name.Tenant, t.Name.Topic}
		f.Set(descAppRecs, float64(t.AppendedRecords), l...)
		f.Set(descAppByte, float64(t.AppendedBytes), l...)
		f.Set(descRdRecs, float64(t.ReadRecords), l...)
		f.Set(descRdBytes, float64(t.ReadBytes), l...)
		f.Set(descRetRecs, float64(t.Next-t.Start), l...)
		f.Set(descRetByte, float64(t.Bytes), l...)
		f.Set(descNext, float64(t.Next), l...)
		for _, cur := range t.Cursors {
			f.Set(descLag, float64(cur.Lag), append(l, cur.Consumer)...)
		}
	}
	if p.System {
		full := 0.0
		if st.DiskFull {
			full = 1
		}
		f.Set(descDisk, float64(st.DiskBytes))
		f.Set(descSegs, float64(st.Segments))
		f.Set(descFull, full)
		var bounds []float64
		var cum []uint64
		var n uint64
		for i, b := range streamlog.CommitBuckets {
			n += st.Commits.Counts[i]
			bounds, cum = append(bounds, b.Seconds()), append(cum, n)
		}
		n += st.Commits.Counts[len(streamlog.CommitBuckets)]
		f.Observe(descCommit, bounds, cum, n, st.Commits.Sum.Seconds())
		f.Set(descCommitR, float64(st.Commits.Records))
	}
}
