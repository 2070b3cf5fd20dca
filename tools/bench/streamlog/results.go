package main

import (
	"fmt"
	"io"
	"sort"
)

// results collects figures per system and metric over repetitions.
type results struct {
	order []string
	vals  map[string]map[string][]float64 // metric -> system -> values
}

func newResults() *results { return &results{vals: map[string]map[string][]float64{}} }

func (r *results) add(system, metric string, v float64) {
	if r.vals[metric] == nil {
		r.vals[metric] = map[string][]float64{}
		r.order = append(r.order, metric)
	}
	r.vals[metric][system] = append(r.vals[metric][system], v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// print writes a Markdown table of medians and Skerry's ratios to each
// JetStream configuration.
func (r *results) print(w io.Writer, c config) {
	fmt.Fprintf(w, "\nmedians of %d runs; %v per produce run; window %d records per producer\n\n", c.reps, c.dur, c.window)
	fmt.Fprintln(w, "| metric | skerry | JetStream always | JetStream default | skerry / always | skerry / default |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, m := range r.order {
		s, a, d := median(r.vals[m]["skerry"]), median(r.vals[m]["js-always"]), median(r.vals[m]["js-default"])
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", m, num(s), num(a), num(d), ratio(s, a), ratio(s, d))
	}
}

func num(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
