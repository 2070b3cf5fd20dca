package tower

import (
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// TestRecordView: the tower answers a record with the site's own headers
// only: the origin's three headers go whether the record came straight
// from the site or through a hub (then the hop header stays, after the
// site's own), and a site header that happens to share a name is kept.
func TestRecordView(t *testing.T) {
	at := time.Unix(1700000000, 0)
	origin := uplinkapi.SiteHeaders(41, at, 7)
	own := []wire.Header{{Key: "site.offset", Value: []byte("mine")}, {Key: "unit", Value: []byte("C")}}
	hop := wire.Header{Key: uplinkapi.HeaderHop, Value: make([]byte, 16)}
	for name, c := range map[string]struct {
		hs   []wire.Header
		want []string
	}{
		"direct":  {append(append([]wire.Header{}, own...), origin[:]...), []string{"site.offset", "unit"}},
		"via hub": {append(append(append([]wire.Header{}, own...), origin[:]...), hop), []string{"site.offset", "unit", uplinkapi.HeaderHop}},
	} {
		v := recordView(streamlog.Record{Value: []byte("v"), Headers: c.hs})
		if v.Offset != 41 || !v.Time.Equal(at) {
			t.Errorf("%s: offset %d time %v, want 41 %v", name, v.Offset, v.Time, at)
		}
		var got []string
		for _, h := range v.Headers {
			got = append(got, h.Key)
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: headers %v, want %v", name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: headers %v, want %v", name, got, c.want)
			}
		}
	}
}
