// Package promtext writes metrics in Prometheus' text exposition format
// (version 0.0.4) for the site services' GET /metrics.
//
// The site services export a handful of gauges, counters and one
// histogram computed at scrape time; Prometheus' client library and the
// protobuf runtime it brings would add 2.3 MB to the multi-call skerry
// binary, whose pages every service maps (docs/benchmarks.md, "Idle
// memory of the skerry services"). The tower keeps the client library.
package promtext

import (
	"bytes"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the media type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is a metric family's type as the format names it.
type Type string

// The types the site services use.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Desc describes a metric family: its name, help text, type and the names
// of its labels, in the order Set's and Observe's values come in.
type Desc struct {
	name, help string
	typ        Type
	labels     []string
}

// NewDesc returns the description of a family.
func NewDesc(name, help string, typ Type, labels ...string) *Desc {
	return &Desc{name: name, help: help, typ: typ, labels: labels}
}

// Family collects the samples of one scrape. The zero value is ready;
// families are written in the order of their first sample, each under
// one HELP and TYPE, the samples sorted by their labels.
type Family struct {
	order   []*Desc
	samples map[*Desc][]string
}

// Set adds a sample of a counter or gauge: its value and its label values.
func (f *Family) Set(d *Desc, v float64, labelValues ...string) {
	f.add(d, d.name+labelText(d.labels, labelValues, "", "")+" "+formatFloat(v))
}

// Observe adds a histogram from its bucket upper bounds, the cumulative
// count of each bucket, the count of all observations (the +Inf bucket)
// and their sum.
func (f *Family) Observe(d *Desc, bounds []float64, cumulative []uint64, count uint64, sum float64, labelValues ...string) {
	var b strings.Builder
	for i, le := range bounds {
		b.WriteString(d.name + "_bucket" + labelText(d.labels, labelValues, "le", formatFloat(le)) + " " + strconv.FormatUint(cumulative[i], 10) + "\n")
	}
	b.WriteString(d.name + "_bucket" + labelText(d.labels, labelValues, "le", "+Inf") + " " + strconv.FormatUint(count, 10) + "\n")
	b.WriteString(d.name + "_sum" + labelText(d.labels, labelValues, "", "") + " " + formatFloat(sum) + "\n")
	b.WriteString(d.name + "_count" + labelText(d.labels, labelValues, "", "") + " " + strconv.FormatUint(count, 10))
	f.add(d, b.String())
}

func (f *Family) add(d *Desc, line string) {
	if f.samples == nil {
		f.samples = map[*Desc][]string{}
	}
	if _, ok := f.samples[d]; !ok {
		f.order = append(f.order, d)
	}
	f.samples[d] = append(f.samples[d], line)
}

// Bytes returns the exposition: families without samples are left out.
func (f *Family) Bytes() []byte {
	var b bytes.Buffer
	for _, d := range f.order {
		b.WriteString("# HELP " + d.name + " " + escape(d.help, false) + "\n")
		b.WriteString("# TYPE " + d.name + " " + string(d.typ) + "\n")
		lines := f.samples[d]
		slices.Sort(lines)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	return b.Bytes()
}

// Handler serves what collect adds to a fresh Family at each request.
func Handler(collect func(f *Family)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f Family
		collect(&f)
		w.Header().Set("Content-Type", ContentType)
		w.Write(f.Bytes())
	})
}

// labelText is {name="value",...} sorted by name, as Prometheus' client
// writes it, with extra (histogram's "le") last; "" without labels.
func labelText(names, values []string, extra, extraValue string) string {
	type pair struct{ n, v string }
	var ps []pair
	for i, n := range names {
		v := ""
		if i < len(values) {
			v = values[i]
		}
		ps = append(ps, pair{n, v})
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.n, b.n) })
	if extra != "" {
		ps = append(ps, pair{extra, extraValue})
	}
	if len(ps) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.n + `="` + escape(p.v, true) + `"`)
	}
	b.WriteByte('}')
	return b.String()
}

// escape escapes a help text (backslash, newline) or a label value (also
// the double quote).
func escape(s string, quote bool) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	if quote {
		r = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	}
	return r.Replace(s)
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
