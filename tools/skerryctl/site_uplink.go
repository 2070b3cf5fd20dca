package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/httpjson"
)

// runUplink is "skerryctl site uplink": the uplink's state towards its
// parent and, per topic, lag, what was sent and the last ack.
func runUplink(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("uplink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := fs.String("socket", envOr("SKERRY_UPLINK_SOCKET", contract.UplinkSocket), "uplink status socket ($SKERRY_UPLINK_SOCKET)")
	out := fs.String("o", "table", "output: table (for people) or json (for scripts)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: skerryctl site uplink [-socket S] [-o table|json]

The uplink's connection to its parent and, per topic it sends up: lag in
records and seconds, records and bytes sent, records the parent stored,
batches resent, and when the parent last answered stored.`)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out != "table" && *out != "json" {
		return fmt.Errorf("-o %q: want table or json", *out)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", strings.Join(fs.Args(), " "))
	}
	st, err := uplinkStatus(ctx, *sock)
	if err != nil {
		return err
	}
	if *out == "json" {
		enc := json.NewEncoder(escapeWriter{stdout})
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printUplink(escapeWriter{stdout}, st, time.Now())
}

func uplinkStatus(ctx context.Context, sock string) (*uplinkapi.Status, error) {
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://uplink"+uplinkapi.StatusPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the uplink at %s: %w (is the uplink service running? skerryctl needs root for its socket)", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, escapeErr(httpjson.ReadError(resp))
	}
	var st uplinkapi.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("decode the uplink's status: %w", err)
	}
	return &st, nil
}

func printUplink(w io.Writer, st *uplinkapi.Status, now time.Time) error {
	parent := dash(st.Parent)
	if st.ParentFrom != "" {
		parent += " (from " + st.ParentFrom + ")"
	}
	fmt.Fprintf(w, "site:   %s\nparent: %s\nstate:  %s for %s\n", dash(st.Site), parent, st.State, since(now, st.Since))
	if st.Reason != "" {
		fmt.Fprintf(w, "why:    %s\n", st.Reason)
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "last link error: %s\n", st.LastError)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPRIO\tLAG\tLAG AGE\tSENT\tBYTES\tSTORED\tRESENT\tLAST ACK")
	for _, t := range st.Topics {
		last := "never"
		if !t.LastAck.IsZero() {
			last = since(now, t.LastAck) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", t.Topic, t.Priority, t.LagRecords,
			(time.Duration(t.LagSeconds * float64(time.Second))).Round(time.Second), t.RecordsSent, t.BytesSent, t.RecordsAcked, t.Retransmissions, last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range st.Topics {
		if t.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", t.Topic, t.Error)
		}
	}
	return nil
}

// since renders the time from t to now; "-" for no time.
func since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String()
}
