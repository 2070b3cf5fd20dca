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
	stamp, name, ga, err := DecodeAckDatagram(AppendAckDatagram(nil, 77, "system/log", a))
	if err != nil || stamp != 77 || name != "system/log" || ga != a {
		t.Errorf("ack: got %d %q %+v %v, want 77 system/log %+v", stamp, name, ga, err, a)
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
	f.Add(AppendAckDatagram(nil, 3, "t/x", Ack{Status: StatusGap, Next: 1}))
	f.Fuzz(func(t *testing.T, p []byte) {
		DecodeBatchDatagram(p)
		DecodeAckDatagram(p)
	})
}
