package uplinkapi

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/streamlog/wire"
)

func recs(first uint64, n int) []wire.Record {
	out := make([]wire.Record, n)
	for i := range out {
		out[i] = wire.Record{Offset: first + uint64(i), Time: time.Unix(0, int64(1000+i)).UTC(),
			Key: []byte("k"), Headers: []wire.Header{{Key: "h", Value: []byte("v")}}, Value: []byte{byte(i)}}
	}
	return out
}

func TestBatchRoundTrip(t *testing.T) {
	b := Batch{Site: "0123abcd", Tenant: "system", Topic: "log.kernel", From: 3, Epoch: 1 << 60, Records: recs(5, 3)}
	got, err := DecodeBatch(b.MQTTTopic(), b.AppendPayload(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestDecodeBatchRefuses(t *testing.T) {
	good := Batch{Site: "s1", Tenant: "t", Topic: "x", Records: recs(0, 2)}
	holey := good
	holey.Records = append(recs(0, 1), recs(2, 1)...)
	before := good
	before.From = 1
	many := good
	many.Records = recs(0, 1)
	for i := 0; i < MaxSiteHeaders; i++ {
		many.Records[0].Headers = append(many.Records[0].Headers, wire.Header{Key: "x"})
	}
	empty := good
	empty.Records = nil
	for _, tc := range []struct {
		name, topic string
		payload     []byte
	}{
		{"topic with a wildcard", "sites/+/t/x", good.AppendPayload(nil)},
		{"topic too deep", "sites/s1/t/x/y", good.AppendPayload(nil)},
		{"ack topic", "sites/s1/_ack/c", good.AppendPayload(nil)},
		{"not sites", "other/s1/t/x", good.AppendPayload(nil)},
		{"bad magic", good.MQTTTopic(), []byte("SKL1xxxx")},
		{"truncated", good.MQTTTopic(), good.AppendPayload(nil)[:10]},
		{"gap inside", good.MQTTTopic(), holey.AppendPayload(nil)},
		{"first below from", good.MQTTTopic(), before.AppendPayload(nil)},
		{"too many headers", good.MQTTTopic(), many.AppendPayload(nil)},
		{"no records", good.MQTTTopic(), empty.AppendPayload(nil)},
	} {
		if _, err := DecodeBatch(tc.topic, tc.payload); !errors.Is(err, ErrBadBatch) {
			t.Errorf("%s: got %v, want ErrBadBatch", tc.name, err)
		}
	}
}

func TestSiteOrigin(t *testing.T) {
	at := time.Unix(12, 34).UTC()
	h := SiteHeaders(77, at, 5)
	// A site's own header of the same name comes first and must not win.
	hs := append([]wire.Header{{Key: HeaderSiteOffset, Value: make([]byte, 8)}}, h[:]...)
	off, got, ok := SiteOrigin(hs)
	if !ok || off != 77 || !got.Equal(at) {
		t.Errorf("SiteOrigin: got %d %v %v, want 77 %v true", off, got, ok, at)
	}
	if e, ok := SiteEpoch(hs); !ok || e != 5 {
		t.Errorf("SiteEpoch: got %d %v, want 5 true", e, ok)
	}
	if _, _, ok := SiteOrigin(nil); ok {
		t.Error("SiteOrigin(nil): got ok")
	}
}

func FuzzDecodeBatch(f *testing.F) {
	b := Batch{Site: "s1", Tenant: "t", Topic: "x", From: 1, Records: recs(1, 3)}
	f.Add(b.AppendPayload(nil))
	f.Add([]byte("SKU1\x00\x00"))
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := DecodeBatch("sites/s1/t/x", p)
		if err != nil {
			return
		}
		again, err := DecodeBatch("sites/s1/t/x", got.AppendPayload(nil))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again.Records) != len(got.Records) || again.From != got.From {
			t.Fatalf("re-decode changed the batch")
		}
	})
}
