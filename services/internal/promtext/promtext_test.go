package promtext

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	descRecs = NewDesc("test_records_total", "Records, with a \\ and\na newline.", Counter, "topic", "tenant")
	descLag  = NewDesc("test_lag", "Lag.", Gauge, "topic")
	descDur  = NewDesc("test_seconds", "Durations.", Histogram)
	descNone = NewDesc("test_unused", "Never set.", Gauge)
)

func sample(f *Family) {
	f.Set(descRecs, 7, "b", "acme")
	f.Set(descLag, math.Inf(1), `quote " back \ nl`+"\n")
	f.Set(descRecs, 1e6, "a", "acme")
	f.Observe(descDur, []float64{0.001, 0.25}, []uint64{2, 5}, 6, 1.5)
}

// TestGolden pins the bytes: families in the order of their first sample,
// samples sorted, labels sorted by name as Prometheus' client writes them.
func TestGolden(t *testing.T) {
	var f Family
	sample(&f)
	want := `# HELP test_records_total Records, with a \\ and\na newline.
# TYPE test_records_total counter
test_records_total{tenant="acme",topic="a"} 1e+06
test_records_total{tenant="acme",topic="b"} 7
# HELP test_lag Lag.
# TYPE test_lag gauge
test_lag{topic="quote \" back \\ nl\n"} +Inf
# HELP test_seconds Durations.
# TYPE test_seconds histogram
test_seconds_bucket{le="0.001"} 2
test_seconds_bucket{le="0.25"} 5
test_seconds_bucket{le="+Inf"} 6
test_seconds_sum 1.5
test_seconds_count 6
`
	if diff := cmp.Diff(want, string(f.Bytes())); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
}

// TestParses reads the handler's answer with Prometheus' own parser.
func TestParses(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(sample).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if got := rec.Header().Get("Content-Type"); got != ContentType {
		t.Errorf("Content-Type: got %q, want %q", got, ContentType)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, rec.Body.String())
	}
	got := map[string]float64{}
	for name, mf := range fams {
		for _, m := range mf.Metric {
			key := name
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[key+",count"] = float64(m.Histogram.GetSampleCount())
				got[key+",sum"] = m.Histogram.GetSampleSum()
				for _, b := range m.Histogram.Bucket {
					got[key+",le="+model.SampleValue(b.GetUpperBound()).String()] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	want := map[string]float64{
		"test_records_total,tenant=acme,topic=a": 1e6,
		"test_records_total,tenant=acme,topic=b": 7,
		"test_lag,topic=quote \" back \\ nl\n":   math.Inf(1),
		"test_seconds,count":                     6,
		"test_seconds,sum":                       1.5,
		"test_seconds,le=0.001":                  2,
		"test_seconds,le=0.25":                   5,
		"test_seconds,le=+Inf":                   6,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	if _, ok := fams[descNone.name]; ok {
		t.Errorf("%s has no sample but was written", descNone.name)
	}
}
