package uplink

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/httpjson"
)

// Handler serves the status API (GET uplinkapi.StatusPath) and its
// figures for Prometheus (GET uplinkapi.MetricsPath).
func (m *Monitor) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+uplinkapi.StatusPath, func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, m.Status(r.Context()))
	})
	mux.Handle("GET "+uplinkapi.MetricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.WriteError(w, http.StatusNotFound, httpjson.CodeNotFound, "no such endpoint "+r.Method+" "+r.URL.Path+": see GET "+uplinkapi.StatusPath+" or GET "+uplinkapi.MetricsPath)
	})
	return mux
}

var (
	topicLabels    = []string{"topic", "parent"}
	descLagRecords = prometheus.NewDesc("skerry_uplink_lag_records", "Records of the topic the parent has not stored yet.", topicLabels, nil)
	descLagSeconds = prometheus.NewDesc("skerry_uplink_lag_seconds", "Age of the oldest record the parent has not stored yet (0 without lag).", topicLabels, nil)
	descSent       = prometheus.NewDesc("skerry_uplink_sent_records_total", "Records published to the parent, resends included.", topicLabels, nil)
	descBytes      = prometheus.NewDesc("skerry_uplink_sent_bytes_total", "Batch payload bytes published to the parent, resends included.", topicLabels, nil)
	descAcked      = prometheus.NewDesc("skerry_uplink_acked_records_total", "Records the parent answered stored (after its fsync).", topicLabels, nil)
	descRetrans    = prometheus.NewDesc("skerry_uplink_retransmitted_batches_total", "Batches published again (missing answer, retry, gap, reconnection).", topicLabels, nil)
	descLastAck    = prometheus.NewDesc("skerry_uplink_last_ack_timestamp_seconds", "Unix time of the parent's last stored answer for the topic.", topicLabels, nil)
	descState      = prometheus.NewDesc("skerry_uplink_state", "1 for the uplink's current connection state.", []string{"state", "parent"}, nil)
)

// stateNames are every value of uplinkapi.Status.State, so that each is
// exported (0 or 1) and alerts can match on absence of "connected".
var stateNames = []string{uplinkapi.StateDisabled, uplinkapi.StateNoIdentity, uplinkapi.StateNoParent,
	uplinkapi.StateConnecting, uplinkapi.StateConnected, uplinkapi.StateError}

// Collector exports Status for Prometheus, computed at scrape time.
func (m *Monitor) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Monitor }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLagRecords, descLagSeconds, descSent, descBytes, descAcked, descRetrans, descLastAck, descState} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st := c.m.Status(ctx)
	for _, s := range stateNames {
		v := 0.0
		if s == st.State {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, s, st.Parent)
	}
	for _, t := range st.Topics {
		l := []string{t.Topic, t.Parent}
		ch <- prometheus.MustNewConstMetric(descLagRecords, prometheus.GaugeValue, float64(t.LagRecords), l...)
		ch <- prometheus.MustNewConstMetric(descLagSeconds, prometheus.GaugeValue, t.LagSeconds, l...)
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(t.RecordsSent), l...)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(t.BytesSent), l...)
		ch <- prometheus.MustNewConstMetric(descAcked, prometheus.CounterValue, float64(t.RecordsAcked), l...)
		ch <- prometheus.MustNewConstMetric(descRetrans, prometheus.CounterValue, float64(t.Retransmissions), l...)
		if !t.LastAck.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastAck, prometheus.GaugeValue, float64(t.LastAck.UnixNano())/1e9, l...)
		}
	}
}
