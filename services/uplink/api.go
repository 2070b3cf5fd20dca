package uplink

import (
	"context"
	"net/http"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/internal/promtext"
)

// Handler serves the status API (GET uplinkapi.StatusPath) and its
// figures for Prometheus (GET uplinkapi.MetricsPath).
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+uplinkapi.StatusPath, func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, m.Status(r.Context()))
	})
	mux.Handle("GET "+uplinkapi.MetricsPath, promtext.Handler(m.collect))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.WriteError(w, http.StatusNotFound, httpjson.CodeNotFound, "no such endpoint "+r.Method+" "+r.URL.Path+": see GET "+uplinkapi.StatusPath+" or GET "+uplinkapi.MetricsPath)
	})
	return mux
}

var (
	descLagRecords = promtext.NewDesc("skerry_uplink_lag_records", "Records of the topic the parent has not stored yet.", promtext.Gauge, "topic", "parent")
	descLagSeconds = promtext.NewDesc("skerry_uplink_lag_seconds", "Age of the oldest record the parent has not stored yet (0 without lag).", promtext.Gauge, "topic", "parent")
	descSent       = promtext.NewDesc("skerry_uplink_sent_records_total", "Records published to the parent, resends included.", promtext.Counter, "topic", "parent")
	descBytes      = promtext.NewDesc("skerry_uplink_sent_bytes_total", "Batch payload bytes published to the parent, resends included.", promtext.Counter, "topic", "parent")
	descAcked      = promtext.NewDesc("skerry_uplink_acked_records_total", "Records the parent answered stored (after its fsync).", promtext.Counter, "topic", "parent")
	descRetrans    = promtext.NewDesc("skerry_uplink_retransmitted_batches_total", "Batches published again (missing answer, retry, gap, reconnection).", promtext.Counter, "topic", "parent")
	descLastAck    = promtext.NewDesc("skerry_uplink_last_ack_timestamp_seconds", "Unix time of the parent's last stored answer for the topic.", promtext.Gauge, "topic", "parent")
	descState      = promtext.NewDesc("skerry_uplink_state", "1 for the uplink's current connection state.", promtext.Gauge, "state", "parent")
)

// stateNames are every value of uplinkapi.Status.State, so that each is
// exported (0 or 1) and alerts can match on absence of "connected".
var stateNames = []string{uplinkapi.StateDisabled, uplinkapi.StateNoIdentity, uplinkapi.StateNoParent,
	uplinkapi.StateConnecting, uplinkapi.StateConnected, uplinkapi.StateError}

// collect adds Status to f for Prometheus, computed at scrape time.
func (m *Monitor) collect(f *promtext.Family) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st := m.Status(ctx)
	for _, s := range stateNames {
		v := 0.0
		if s == st.State {
			v = 1
		}
		f.Set(descState, v, s, st.Parent)
	}
	for _, t := range st.Topics {
		l := []string{t.Topic, t.Parent}
		f.Set(descLagRecords, float64(t.LagRecords), l...)
		f.Set(descLagSeconds, t.LagSeconds, l...)
		f.Set(descSent, float64(t.RecordsSent), l...)
		f.Set(descBytes, float64(t.BytesSent), l...)
		f.Set(descAcked, float64(t.RecordsAcked), l...)
		f.Set(descRetrans, float64(t.Retransmissions), l...)
		if !t.LastAck.IsZero() {
			f.Set(descLastAck, float64(t.LastAck.UnixNano())/1e9, l...)
		}
	}
}
