package supervisor

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		size   int
		writes []string
		want   string
	}{
		{"empty", 8, nil, ""},
		{"fits", 16, []string{"a\n", "bc\n"}, "a\nbc\n"},
		{"exactly full", 6, []string{"ab\n", "cd\n"}, "ab\ncd\n"},
		{"drops whole oldest line", 6, []string{"ab\n", "cd\n", "ef\n"}, "cd\nef\n"},
		{"drops cut line", 6, []string{"abc\n", "de\n", "f\n"}, "de\nf\n"},
		{"wraps many times", 8, []string{"1\n", "22\n", "333\n", "4444\n", "55\n"}, "4444\n55\n"},
		{"wraps and cuts", 7, []string{"1\n", "22\n", "333\n", "4444\n", "55\n"}, "55\n"},
		{"write larger than ring", 4, []string{"0123456789\n"}, ""},
		{"write larger than ring at line start", 4, []string{"xxxxx\nab\n"}, "ab\n"},
		{"write exactly ring after line", 3, []string{"z\n", "ab\n"}, "ab\n"},
		{"zero size keeps nothing", 0, []string{"a\n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.size)
			for _, w := range tt.writes {
				if n, err := r.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q): got %d, %v, want %d, nil", w, n, err, len(w))
				}
			}
			if diff := cmp.Diff(tt.want, string(r.Bytes())); diff != "" {
				t.Errorf("Bytes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRingBound checks the bound and the content against a simple model
// over many writes of varied sizes.
func TestRingBound(t *testing.T) {
	t.Parallel()
	const size = 100
	r := newRing(size)
	var all strings.Builder
	for i := range 500 {
		line := strings.Repeat(string(rune('a'+i%26)), i%37) + "\n"
		r.Write([]byte(line))
		all.WriteString(line)
	}
	got := string(r.Bytes())
	if len(got) > size {
		t.Fatalf("ring holds %d bytes, want at most %d", len(got), size)
	}
	// The model: the last size bytes, from the first whole line on.
	tail := all.String()[all.Len()-size:]
	if all.String()[all.Len()-size-1] != '\n' {
		tail = tail[strings.IndexByte(tail, '\n')+1:]
	}
	if diff := cmp.Diff(tail, got); diff != "" {
		t.Errorf("Bytes (-want +got):\n%s", diff)
	}
}
