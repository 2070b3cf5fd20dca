package supervisor

import (
	"fmt"
	"slices"
	"strings"
)

// order validates specs and returns them sorted so that every service comes
// after its dependencies. Among services whose dependencies are satisfied,
// the input order is kept, so Status lists services the way init declared
// them whenever the graph allows it.
func order(specs []Spec) ([]Spec, error) {
	byName := make(map[string]int, len(specs))
	for i, sp := range specs {
		if err := sp.check(); err != nil {
			return nil, err
		}
		if _, dup := byName[sp.Name]; dup {
			return nil, fmt.Errorf("%w: %q is defined twice", ErrDuplicateService, sp.Name)
		}
		byName[sp.Name] = i
	}
	for _, sp := range specs {
		for _, d := range sp.DependsOn {
			if _, ok := byName[d]; !ok {
				return nil, fmt.Errorf("%w: service %q depends on %q, which is not defined", ErrUnknownDependency, sp.Name, d)
			}
		}
	}

	// Repeated passes rather than a textbook Kahn queue: with a handful of
	// services the quadratic cost is nothing, and each pass places specs in
	// input order, which keeps the order stable.
	placed := make([]bool, len(specs))
	out := make([]Spec, 0, len(specs))
	for len(out) < len(specs) {
		progress := false
		for i, sp := range specs {
			if placed[i] || !all(sp.DependsOn, func(d string) bool { return placed[byName[d]] }) {
				continue
			}
			placed[i], progress = true, true
			out = append(out, sp)
		}
		if !progress {
			return nil, fmt.Errorf("%w: %s", ErrDependencyCycle, cycle(specs, byName, placed))
		}
	}
	return out, nil
}

// cycle describes one dependency loop among the unplaced specs, as
// "a -> b -> a", so the error names exactly what to fix.
func cycle(specs []Spec, byName map[string]int, placed []bool) string {
	// Every unplaced spec has an unplaced dependency, so walking those
	// dependencies must eventually revisit a spec.
	start := slices.Index(placed, false)
	var path []string
	seen := map[string]int{}
	for name := specs[start].Name; ; {
		if at, ok := seen[name]; ok {
			return strings.Join(append(path[at:], name), " -> ")
		}
		seen[name] = len(path)
		path = append(path, name)
		for _, d := range specs[byName[name]].DependsOn {
			if !placed[byName[d]] {
				name = d
				break
			}
		}
	}
}

func all[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if !f(v) {
			return false
		}
	}
	return true
}
