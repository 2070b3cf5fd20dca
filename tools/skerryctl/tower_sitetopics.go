package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
)

// The site topic commands read what a site uplinked to the tower, in the
// site's own offsets: "sites topics", "sites read", "sites tail".

// tailWait is the long-poll of one tail request, below the client's 30 s
// timeout.
const tailWait = 25

// showSiteTopics prints topics with their lag when the view has it.
func showSiteTopics(tc *towerCtx, v any, ts []towerapi.SiteTopic) error {
	return tc.show(v, "TOPIC\tRECORDS\tOFFSETS\tLAST RECORD\tBYTES", func(w io.Writer) {
		for _, t := range ts {
			fmt.Fprintf(w, "%s/%s\t%d\t%s\t%s\t%d\n", t.Tenant, t.Name, t.Records, offsetRange(t), ago(t.LastTime), t.Bytes)
		}
	})
}

// offsetRange shows the site offsets held, [first, next).
func offsetRange(t towerapi.SiteTopic) string {
	if t.Records == 0 {
		return "-"
	}
	return fmt.Sprintf("%d-%d", t.FirstOffset, t.NextOffset-1)
}

// uplinkText is a site view's line on one uplinked topic.
func uplinkText(t towerapi.SiteTopic) string {
	if t.Records == 0 {
		return "no records held"
	}
	lag := time.Duration(t.LagSeconds * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%d records, offsets %s, last appended %s (lag %v)", t.Records, offsetRange(t), t.LastTime.Format(time.RFC3339), lag)
}

func sitesTopics(ctx context.Context, tc *towerCtx, args []string) error {
	s, err := oneSite(ctx, tc, args)
	if err != nil {
		return err
	}
	var l towerapi.List[towerapi.SiteTopic]
	if err := tc.c.Do(ctx, "GET", "/v1/sites/"+url.PathEscape(s.ID)+"/topics", nil, &l); err != nil {
		return err
	}
	return showSiteTopics(tc, l.Items, l.Items)
}

// recordsPath is the records endpoint of the site topic tenant/name.
func recordsPath(site, topic string) (string, error) {
	tenant, name, ok := strings.Cut(topic, "/")
	if !ok || tenant == "" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("topic %q: want TENANT/NAME, as skerryctl tower sites topics shows", topic)
	}
	return "/v1/sites/" + url.PathEscape(site) + "/topics/" + url.PathEscape(tenant) + "/" + url.PathEscape(name) + "/records", nil
}

// recordText makes a key or value one table cell: newlines and tabs are
// shown escaped too (escapeWriter takes care of the other controls).
var recordText = strings.NewReplacer("\n", `\n`, "\t", `\t`, `\`, `\\`)

func printTopicRecords(w io.Writer, json bool, recs []towerapi.TopicRecord) error {
	for _, r := range recs {
		if json {
			if err := printJSONLine(w, r); err != nil {
				return err
			}
			continue
		}
		if _, err := fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", r.Offset, r.Time.Format(time.RFC3339Nano), recordText.Replace(string(r.Key)), recordText.Replace(string(r.Value))); err != nil {
			return err
		}
	}
	return nil
}

func printJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func sitesRead(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "tenant of the site, when its name is not unique")
	offset := fs.Int64("offset", -1, "first site offset to read (default: the oldest record the tower holds)")
	since := fs.String("since", "", "read from the first record the site appended at or after this RFC 3339 time")
	n := fs.Int("n", 100, "records to read, 1 to 1000")
	pos, err := tc.parse(fs, args, 2, "a site ID or name and a topic TENANT/NAME")
	if err != nil {
		return err
	}
	if *offset >= 0 && *since != "" {
		return errors.New("give -offset or -since, not both")
	}
	if *since != "" {
		if _, err := time.Parse(time.RFC3339Nano, *since); err != nil {
			return fmt.Errorf("-since %q: want RFC 3339, e.g. 2026-01-02T15:04:05Z", *since)
		}
	}
	s, err := resolveSite(ctx, tc, pos[0], *tenant)
	if err != nil {
		return err
	}
	path, err := recordsPath(s.ID, pos[1])
	if err != nil {
		return err
	}
	off := ""
	if *offset >= 0 {
		off = strconv.FormatInt(*offset, 10)
	}
	var page towerapi.TopicRecords
	if err := tc.c.Do(ctx, "GET", path+query("offset", off, "since", *since, "limit", strconv.Itoa(*n)), nil, &page); err != nil {
		return err
	}
	return tc.show(page, "OFFSET\tTIME\tKEY\tVALUE", func(w io.Writer) { printTopicRecords(w, false, page.Records) })
}

// sitesTail prints a site topic's records as they reach the tower, from
// -offset or from the end, with held reads (wait=) until interrupted.
func sitesTail(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "tenant of the site, when its name is not unique")
	offset := fs.Int64("offset", -1, "first site offset to print (default: the next record to arrive)")
	pos, err := tc.parse(fs, args, 2, "a site ID or name and a topic TENANT/NAME")
	if err != nil {
		return err
	}
	s, err := resolveSite(ctx, tc, pos[0], *tenant)
	if err != nil {
		return err
	}
	path, err := recordsPath(s.ID, pos[1])
	if err != nil {
		return err
	}
	var from uint64
	if *offset >= 0 {
		from = uint64(*offset)
	} else {
		// From the end: the next offset the tower expects (0 for a topic
		// not uplinked yet, which the first read answers not_found).
		var l towerapi.List[towerapi.SiteTopic]
		if err := tc.c.Do(ctx, "GET", "/v1/sites/"+url.PathEscape(s.ID)+"/topics", nil, &l); err != nil {
			return err
		}
		for _, t := range l.Items {
			if t.Tenant+"/"+t.Name == pos[1] {
				from = t.NextOffset
			}
		}
	}
	for {
		var page towerapi.TopicRecords
		err := tc.c.Do(ctx, "GET", path+query("offset", strconv.FormatUint(from, 10), "wait", strconv.Itoa(tailWait)), nil, &page)
		if ctx.Err() != nil {
			return nil // interrupted
		}
		if err != nil {
			return err
		}
		if err := printTopicRecords(tc.stdout, tc.out == "json", page.Records); err != nil {
			return err
		}
		from = page.Next
	}
}
