package uplinkapi

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/streamlog/wire"
)

func TestDatagramRoundTrip(t *testing.T) {
	b := Batch{Site: "0123abcd", Tenant: "system", Topic: "log", From: 5, Epoch: 9, Records: recs(5, 4)}
	p := AppendBatchDatagram(nil, 1234, &b)
	stamp, got, err := DecodeBatchDatagram(p)
	if err != nil || stamp != 1234 {
		t.Fatalf("decode: stamp %d, err %v", stamp, err)
	}
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}
	if max := DatagramOverhead(&b) + EncodedSize(&b.Records[0])*4; len(p) > max {
		t.Errorf("datagram of %d bytes, larger than its estimate %d", len(p), max)
	}
	a := Ack{Status: StatusStored, Next: 9, Stored: 4}
	stamp, name, ga, err := DecodeAckDatagram(AppendAckDatagram(nil, 77, "system/log", a, nil))
	if err != nil || stamp != 77 || name != "system/log" || ga != a {
		t.Errorf("ack: got %d %q %+v %v, want 77 system/log %+v", stamp, name, ga, err, a)
	}
}

func TestSACKRoundTrip(t *testing.T) {
	a := Ack{Status: StatusGap, Next: 100}
	many := make([]Range, MaxSACKRanges+5)
	for i := range many {
		many[i] = Range{200 + 10*uint64(i), 203 + 10*uint64(i)}
	}
	for _, tc := range []struct {
		name string
		p    []byte
		want SACK
	}{
		{"no ranges", AppendAckDatagram(nil, 5, "t/x", a, nil), SACK{Complete: true}},
		{"ranges", AppendAckDatagram(nil, 5, "t/x", a, []Range{{100, 100}, {108, 115}, {116, 116}, {1 << 40, 1<<40 + 7}}),
			SACK{Held: []Range{{100, 100}, {108, 115}, {116, 116}, {1 << 40, 1<<40 + 7}}, Complete: true}},
		{"cut", AppendAckDatagram(nil, 5, "t/x", a, many), SACK{Held: many[:MaxSACKRanges]}},
		{"v1", AppendAckDatagramV1(nil, 5, "t/x", a), SACK{}},
	} {
		stamp, name, ga, gs, err := DecodeSACKDatagram(tc.p)
		if err != nil || stamp != 5 || name != "t/x" || ga != a {
			t.Errorf("%s: got %d %q %+v %v, want 5 t/x %+v", tc.name, stamp, name, ga, err, a)
		}
		if diff := cmp.Diff(tc.want, gs); diff != "" {
			t.Errorf("%s: held (-want +got):\n%s", tc.name, diff)
		}
	}
	if p := AppendAckDatagram(nil, 1<<40, "tenant/topic", a, many); len(p) > DatagramMTU/2 {
		t.Errorf("an answer with %d ranges takes %d bytes: more than half a datagram", MaxSACKRanges, len(p))
	}
}

func TestSACKRefused(t *testing.T) {
	body := `{"status":"gap","next":100}`
	head := "SKA2\x05\x03t/x"
	for name, p := range map[string]string{
		"count past the bound": head + "\xff\x04" + body,
		"range cut short":      head + "\x02\x80" + body[:0],
		"below the mark":       head + "\x02\x05\x00" + body,
		"overflow":             head + "\x04\x05\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00" + body,
		"no body":              head + "\x00",
	} {
		if _, _, _, _, err := DecodeSACKDatagram([]byte(p)); !errors.Is(err, ErrBadBatch) {
			t.Errorf("%s: got %v, want ErrBadBatch", name, err)
		}
	}
}

func TestEncodedSize(t *testing.T) {
	rs := recs(1<<40, 3)
	rs[1].Value = make([]byte, 300)
	rs[2].Time = rs[2].Time.AddDate(50, 0, 0)
	for i := range rs {
		want := len(wire.AppendFrame(nil, rs[i:i+1])) - 9 // frame header and count
		if got := EncodedSize(&rs[i]); got != want {
			t.Errorf("record %d: EncodedSize %d, frame %d", i, got, want)
		}
	}
}

func TestDatagramRefused(t *testing.T) {
	b := Batch{Site: "s1", Tenant: "t", Topic: "x", Records: recs(0, 1)}
	good := AppendBatchDatagram(nil, 1, &b)
	for name, p := range map[string][]byte{
		"empty":        nil,
		"not ours":     []byte("hello world"),
		"truncated":    good[:12],
		"answer magic": append([]byte("SKA1"), good[4:]...),
		"huge topic":   []byte("SKD1\x01\xff\xff\x03"),
	} {
		if _, _, err := DecodeBatchDatagram(p); !errors.Is(err, ErrBadBatch) {
			t.Errorf("%s: got %v, want ErrBadBatch", name, err)
		}
	}
}

func FuzzDecodeDatagram(f *testing.F) {
	b := Batch{Site: "s1", Tenant: "t", Topic: "x", From: 1, Records: recs(1, 2)}
	f.Add(AppendBatchDatagram(nil, 3, &b))
	f.Add(AppendAckDatagram(nil, 3, "t/x", Ack{Status: StatusGap, Next: 1}, []Range{{3, 4}, {9, 9}}))
	f.Add(AppendAckDatagramV1(nil, 3, "t/x", Ack{Status: StatusGap, Next: 1}))
	f.Fuzz(func(t *testing.T, p []byte) {
		DecodeBatchDatagram(p)
		_, _, a, s, err := DecodeSACKDatagram(p)
		if err != nil {
			return
		}
		for i, r := range s.Held {
			if r.Last < r.First || r.First < a.Next || i > 0 && r.First <= s.Held[i-1].Last {
				t.Fatalf("held ranges %v past %d: not ascending, disjoint and past the mark", s.Held, a.Next)
			}
		}
	})
}
