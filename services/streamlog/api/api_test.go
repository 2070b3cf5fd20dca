package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

type env struct {
	srv    *Server
	sock   string
	system *client.Client
	store  *streamlog.Store
}

// start serves a fresh store on a unix socket in a temp dir.
func start(t *testing.T, opts ...Option) *env {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := streamlog.Open(dir, streamlog.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := LoadAuth(dir)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := New(st, auth, log, opts...)
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	tok, err := readToken(auth.SystemTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	sys, _ := client.New(sock, client.WithToken(tok))
	return &env{srv: srv, sock: sock, system: sys, store: st}
}

func readToken(path string) (string, error) {
	b, err := osReadFile(path)
	return strings.TrimSpace(string(b)), err
}

func (e *env) tenant(t *testing.T, name string) *client.Client {
	t.Helper()
	tok, err := e.system.CreateToken(context.Background(), name)
	if err != nil {
		t.Fatalf("CreateToken(%s): %v", name, err)
	}
	c, _ := client.New("unix:"+e.sock, client.WithToken(tok))
	return c
}

func TestProduceConsume(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	acme := e.tenant(t, "acme")
	if _, err := acme.CreateTopic(ctx, "acme/events", wire.TopicConfig{MaxAge: "24h"}); err != nil {
		t.Fatal(err)
	}
	p := acme.NewProducer(ctx, "acme/events", client.ProducerOptions{})
	var results []*client.Result
	for i := 0; i < 100; i++ {
		results = append(results, p.Send(wire.Record{Key: []byte("k"), Headers: []wire.Header{{Key: "h", Value: []byte("v")}}, Value: []byte{byte(i)}}))
	}
	p.Close()
	for i, r := range results {
		off, err := r.Wait(ctx)
		if err != nil || off != uint64(i) {
			t.Fatalf("record %d: offset %d, %v", i, off, err)
		}
	}
	recs, err := acme.Read(ctx, "acme/events", client.From{Offset: 10}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || recs[0].Offset != 10 || recs[0].Value[0] != 10 || recs[0].Headers[0].Key != "h" {
		t.Errorf("Read: got %+v", recs)
	}
	// Read by time: everything was appended after the epoch.
	recs, err = acme.Read(ctx, "acme/events", client.From{Time: time.Unix(1, 0)}, 1)
	if err != nil || len(recs) != 1 || recs[0].Offset != 0 {
		t.Errorf("Read by time: %+v, %v", recs, err)
	}
	// A retried batch with the same producer and sequence is a duplicate.
	for i, want := range []wire.Ack{{First: 100, Last: 100}, {First: 100, Last: 100, Duplicate: true}} {
		ack, err := acme.Append(ctx, "acme/events", "retry", 7, []wire.Record{{Value: []byte("once")}})
		if err != nil || ack != want {
			t.Errorf("append %d: got %+v, %v; want %+v", i, ack, err, want)
		}
	}
	// Live tail: the records so far, then one appended later.
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() {
		time.Sleep(100 * time.Millisecond)
		acme.Append(ctx, "acme/events", "", 0, []wire.Record{{Value: []byte("late")}})
	}()
	var got int
	err = acme.Tail(tctx, "acme/events", client.From{Offset: 95}, func(recs []wire.Record) error {
		got += len(recs)
		if recs[len(recs)-1].Offset == 101 {
			return io.EOF
		}
		return nil
	})
	if err != io.EOF || got != 7 {
		t.Errorf("Tail: %d records, %v", got, err)
	}
	// Cursors and status.
	if err := acme.CommitCursor(ctx, "acme/events", "uplink", 90); err != nil {
		t.Fatal(err)
	}
	cur, err := acme.Cursor(ctx, "acme/events", "uplink")
	if err != nil || cur.Offset != 90 || cur.Lag != 12 {
		t.Errorf("Cursor: %+v, %v", cur, err)
	}
	st, err := acme.Status(ctx)
	if err != nil || len(st.Topics) != 1 || st.Topics[0].AppendedRecords != 102 || st.Topics[0].Cursors[0].Lag != 12 || st.DiskBytes != 0 {
		t.Errorf("Status: %+v, %v", st, err)
	}
	m, err := e.system.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`skerry_streamlog_appended_records_total{tenant="acme",topic="events"} 102`,
		`skerry_streamlog_consumer_lag_records{consumer="uplink",tenant="acme",topic="events"} 12`,
		"skerry_streamlog_disk_bytes",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestTenantIsolation checks that a tenant can neither read, write, list
// nor tell apart existing and missing topics of another tenant.
func TestTenantIsolation(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	acme, other := e.tenant(t, "acme"), e.tenant(t, "other")
	if _, err := acme.CreateTopic(ctx, "acme/secret", wire.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.system.CreateTopic(ctx, "system/logs", wire.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"acme/secret", "acme/missing", "system/logs"} {
		var msgs []string
		calls := map[string]func() error{
			"describe": func() error { _, err := other.Topic(ctx, topic); return err },
			"read":     func() error { _, err := other.Read(ctx, topic, client.From{}, 1); return err },
			"append":   func() error { _, err := other.Append(ctx, topic, "", 0, []wire.Record{{}}); return err },
			"create":   func() error { _, err := other.CreateTopic(ctx, topic, wire.TopicConfig{}); return err },
			"delete":   func() error { return other.DeleteTopic(ctx, topic) },
			"cursor":   func() error { return other.CommitCursor(ctx, topic, "c", 0) },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, wire.ErrForbidden) {
				t.Errorf("%s %s as other: got %v, want forbidden", name, topic, err)
				continue
			}
			msgs = append(msgs, err.Error())
		}
		_ = msgs
	}
	// The answer does not depend on existence.
	_, e1 := other.Topic(ctx, "acme/secret")
	_, e2 := other.Topic(ctx, "acme/missing")
	if e1.Error() != strings.Replace(e2.Error(), "missing", "secret", 1) && e1.Error() != e2.Error() {
		t.Errorf("answers differ: %q vs %q", e1, e2)
	}
	list, err := other.Topics(ctx, "acme")
	if err != nil || len(list) != 0 {
		t.Errorf("other lists %v, %v; want nothing", list, err)
	}
	list, _ = e.system.Topics(ctx, "")
	if len(list) != 2 {
		t.Errorf("system lists %d topics, want 2", len(list))
	}
	if _, err := other.CreateToken(ctx, "acme"); !errors.Is(err, wire.ErrForbidden) {
		t.Errorf("tenant creating tokens: got %v, want forbidden", err)
	}
	bad, _ := client.New(e.sock, client.WithToken("skl_acme_guess"))
	if _, err := bad.Topics(ctx, ""); !errors.Is(err, wire.ErrUnauthorized) {
		t.Errorf("bad token: got %v, want unauthorized", err)
	}
}

func TestBadRequests(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if _, err := e.system.CreateTopic(ctx, "acme/small", wire.TopicConfig{MaxRecordBytes: 8, MaxRecords: 1, OnFull: "reject-new"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantCode   string
		wantIn     string // part of the message
	}{
		{"malformed json", "POST", "/v1/topics", `{"name":`, 400, "bad_request", "request body"},
		{"unknown field", "POST", "/v1/topics", `{"name":"acme/x","colour":1}`, 400, "bad_request", "colour"},
		{"bad name", "POST", "/v1/topics", `{"name":"acme/Bad Name"}`, 400, "invalid_name", "Bad Name"},
		{"bad maxAge", "POST", "/v1/topics", `{"name":"acme/x","config":{"maxAge":"soon"}}`, 400, "invalid_config", "soon"},
		{"bad onFull", "POST", "/v1/topics", `{"name":"acme/x","config":{"onFull":"panic"}}`, 400, "invalid_config", "panic"},
		{"exists", "POST", "/v1/topics", `{"name":"acme/small"}`, 409, "topic_exists", "acme/small"},
		{"unknown topic", "GET", "/v1/topics/acme/nope", "", 404, "topic_not_found", "acme/nope"},
		{"bad frame", "POST", "/v1/topics/acme/small/records", "not a frame", 400, "bad_request", "bad record frame"},
		{"too large", "POST", "/v1/topics/acme/small/records", string(wire.AppendFrame(nil, []wire.Record{{Value: []byte("123456789")}})), 413, "record_too_large", "maxRecordBytes"},
		{"bad offset", "GET", "/v1/topics/acme/small/records?offset=-1", "", 400, "bad_request", "offset"},
		{"beyond end", "GET", "/v1/topics/acme/small/records?offset=9", "", 416, "offset_out_of_range", "ends at 0"},
		{"bad time", "GET", "/v1/topics/acme/small/records?time=yesterday", "", 400, "bad_request", "RFC 3339"},
		{"no cursor", "GET", "/v1/topics/acme/small/cursors/c", "", 404, "cursor_not_found", "c"},
		{"cursor body", "PUT", "/v1/topics/acme/small/cursors/c", `{}`, 400, "bad_request", "offset"},
		{"no endpoint", "GET", "/v2/nothing", "", 404, "bad_request", "/v2/nothing"},
	}
	tok, _ := readToken(filepath.Join(filepath.Dir(e.sock), "system.token"))
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.sock)
	}}}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://x"+tt.path, strings.NewReader(tt.body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Every error body is {"code", "message"} and nothing else.
		var body map[string]string
		if err := json.Unmarshal(b, &body); err != nil || len(body) != 2 {
			t.Errorf("%s: body %s: want {\"code\", \"message\"}", tt.name, b)
		}
		if resp.StatusCode != tt.wantStatus || body["code"] != tt.wantCode || !strings.Contains(body["message"], tt.wantIn) {
			t.Errorf("%s: got %d %s; want %d %s mentioning %q", tt.name, resp.StatusCode, b, tt.wantStatus, tt.wantCode, tt.wantIn)
		}
	}
	// Back-pressure: the second record exceeds maxRecords under reject-new.
	if _, err := e.system.Append(ctx, "acme/small", "", 0, []wire.Record{{Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.system.Append(ctx, "acme/small", "", 0, []wire.Record{{Value: []byte("2")}})
	if !errors.Is(err, wire.ErrTopicFull) || !strings.Contains(err.Error(), "retry later") {
		t.Errorf("full topic: got %v, want topic_full", err)
	}
}

// TestTailFlowControl checks that a consumer that stops reading is cut
// after the tail deadline and frees its slot, while producers go on.
func TestTailFlowControl(t *testing.T) {
	e := start(t, WithMaxTails(1), WithTailDeadline(300*time.Millisecond))
	ctx := context.Background()
	if _, err := e.system.CreateTopic(ctx, "acme/flood", wire.TopicConfig{MaxBytes: 256 << 20}); err != nil {
		t.Fatal(err)
	}
	// A raw tail that reads nothing.
	conn, err := net.Dial("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tok, _ := readToken(filepath.Join(filepath.Dir(e.sock), "system.token"))
	io.WriteString(conn, "GET /v1/topics/acme/flood/records?offset=0&follow=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	// The slot is taken.
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.system.Tail(tctx, "acme/flood", client.From{}, func([]wire.Record) error { return nil }); !errors.Is(err, wire.ErrTooManyTails) {
		t.Fatalf("second tail: got %v, want too_many_tails", err)
	}
	// Producers are not held up by the stalled tail.
	val := make([]byte, 4096)
	batch := make([]wire.Record, 256)
	for i := range batch {
		batch[i].Value = val
	}
	for i := 0; i < 32; i++ { // 32 MiB, far more than socket buffers
		if _, err := e.system.Append(ctx, "acme/flood", "", 0, batch); err != nil {
			t.Fatal(err)
		}
	}
	// Once the stalled tail is cut, the slot is free again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := e.system.Tail(tctx, "acme/flood", client.From{}, func([]wire.Record) error { return io.EOF })
		if err == io.EOF {
			break
		}
		if !errors.Is(err, wire.ErrTooManyTails) || time.Now().After(deadline) {
			t.Fatalf("tail after the stalled one was cut: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	in := wire.TopicConfig{Volatile: true, MaxBytes: 1 << 20, MaxAge: "1h0m0s", MaxRecords: 5, OnFull: "reject-new", MaxRecordBytes: 100}
	c, err := configFromWire(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, configToWire(c)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestJSONCasing: every field the API writes is lowerCamelCase, as in every
// Skerry API (services/httpjson).
func TestJSONCasing(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if _, err := e.system.CreateTopic(ctx, "acme/c", wire.TopicConfig{MaxBytes: 1 << 20, MaxAge: "1h", MaxRecords: 5, OnFull: "reject-new", MaxRecordBytes: 100}); err != nil {
		t.Fatal(err)
	}
	if err := e.system.CommitCursor(ctx, "acme/c", "me", 0); err != nil {
		t.Fatal(err)
	}
	tok, _ := readToken(filepath.Join(filepath.Dir(e.sock), "system.token"))
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.sock)
	}}}
	var keys []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys = append(keys, k)
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, path := range []string{"/v1/topics/acme/c", "/v1/topics", "/v1/status", "/v1/topics/acme/c/cursors"} {
		req, _ := http.NewRequest("GET", "http://x"+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		walk(v)
	}
	for _, k := range keys {
		if strings.ContainsAny(k, "_-") || strings.ToLower(k[:1]) != k[:1] {
			t.Errorf("field %q is not lowerCamelCase", k)
		}
	}
	if !slices.Contains(keys, "maxBytes") || !slices.Contains(keys, "appendedRecords") {
		t.Errorf("fields %v: want maxBytes and appendedRecords among them", keys)
	}
}
