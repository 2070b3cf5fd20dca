package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/skerry/skerry/services/streamlog/wire"
)

func logCreate(ctx context.Context, lc *logCtx, args []string) error {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	fs.SetOutput(lc.stderr)
	var cfg wire.TopicConfig
	fs.BoolVar(&cfg.Volatile, "volatile", false, "memory only, lost on restart")
	fs.Int64Var(&cfg.MaxBytes, "max-bytes", 0, "retention by bytes (default 64 MiB, 4 MiB volatile)")
	fs.StringVar(&cfg.MaxAge, "max-age", "", "retention by age, e.g. 168h")
	fs.Int64Var(&cfg.MaxRecords, "max-records", 0, "retention by record count")
	fs.IntVar(&cfg.MaxRecordBytes, "max-record-bytes", 0, "largest record (default 1 MiB)")
	reject := fs.Bool("reject", false, "when full, reject new records instead of dropping the oldest")
	name, err := oneTopic(fs, args)
	if err != nil {
		return err
	}
	if *reject {
		cfg.OnFull = "reject-new"
	}
	info, err := lc.c.CreateTopic(ctx, name, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(lc.stdout, "created %s\n", info.Name)
	return nil
}

func logList(ctx context.Context, lc *logCtx, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(lc.stderr)
	tenant := fs.String("tenant", "", "only this tenant (system token)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ts, err := lc.c.Topics(ctx, *tenant)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(lc.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tKIND\tSTART\tNEXT\tBYTES")
	for _, t := range ts {
		kind := "persistent"
		if t.Config.Volatile {
			kind = "volatile"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", t.Name, kind, t.Start, t.Next, t.Bytes)
	}
	return tw.Flush()
}

func logDescribe(ctx context.Context, lc *logCtx, args []string) error {
	fs := flag.NewFlagSet("describe", flag.ContinueOnError)
	fs.SetOutput(lc.stderr)
	name, err := oneTopic(fs, args)
	if err != nil {
		return err
	}
	info, err := lc.c.Topic(ctx, name)
	if err != nil {
		return err
	}
	cursors, err := lc.c.Cursors(ctx, name)
	if err != nil {
		return err
	}
	out := struct {
		wire.TopicInfo
		Cursors []wire.Cursor `json:"cursors"`
	}{info, cursors}
	enc := json.NewEncoder(lc.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func logDelete(ctx context.Context, lc *logCtx, args []string) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	fs.SetOutput(lc.stderr)
	name, err := oneTopic(fs, args)
	if err != nil {
		return err
	}
	return lc.c.DeleteTopic(ctx, name)
}

func logToken(ctx context.Context, lc *logCtx, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: skerryctl site log token <tenant>")
	}
	tok, err := lc.c.CreateToken(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(lc.stdout, tok)
	return nil
}

func logStatus(ctx context.Context, lc *logCtx, args []string) error {
	st, err := lc.c.Status(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(lc.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

func logMetrics(ctx context.Context, lc *logCtx, args []string) error {
	m, err := lc.c.Metrics(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(lc.stdout, m)
	return err
}
