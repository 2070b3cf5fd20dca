package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// StatusTopic is where the uplink records its own status (a JSON
// uplinkapi.Status a record), so that it goes up like any system topic:
// the tower sees each site's uplink state and lag as the site saw it.
const StatusTopic = "system/uplink-status"

// statusTopicConfig keeps about a few thousand status records.
var statusTopicConfig = wire.TopicConfig{MaxBytes: 4 << 20}

// Report appends the status to StatusTopic at each change of state and
// every interval, until ctx ends. A failure to write is retried at the
// next occasion: the status is a report, not data that must not be lost.
func (m *Monitor) Report(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if m.log == nil {
		return
	}
	made := false
	for {
		m.mu.Lock()
		changed := m.changed
		m.mu.Unlock()
		if err := m.report(ctx, &made); err != nil && ctx.Err() == nil {
			log.Warn("record the uplink's status", "topic", StatusTopic, "err", err)
		}
		select {
		case <-changed:
		case <-time.After(interval):
		case <-ctx.Done():
			return
		}
	}
}

func (m *Monitor) report(ctx context.Context, made *bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !*made {
		if _, err := m.log.CreateTopic(ctx, StatusTopic, statusTopicConfig); err != nil && !errors.Is(err, wire.ErrTopicExists) {
			return err
		}
		*made = true
	}
	st := m.Status(ctx)
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = m.log.Append(ctx, StatusTopic, "", 0, []wire.Record{{Key: []byte(st.State), Value: v}})
	return err
}
