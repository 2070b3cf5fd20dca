package hub

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/internal/mqttconn"
)

// ClientConfig makes the hub a client of an external broker (Mosquitto,
// a broker cluster): the broker authenticates the sites and enforces the
// ACL (pattern readwrite sites/%u/# with the certificate's CN as user
// name); the hub subscribes to every site's batches, stores them, answers
// on the response topic and only then acknowledges the PUBLISH.
type ClientConfig struct {
	Broker   string // host:port, MQTT over TLS
	TLS      *tls.Config
	ClientID string
	Log      *slog.Logger
}

// RunClient receives batches through the broker until ctx ends,
// reconnecting after failures.
func (r *Receiver) RunClient(ctx context.Context, c ClientConfig) error {
	mqttconn.Retry(ctx, c.Log, 5*time.Second, func(ctx context.Context) error { return r.clientSession(ctx, c) })
	return nil
}

func (r *Receiver) clientSession(ctx context.Context, c ClientConfig) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pc, err := mqttconn.Dial(ctx, c.Broker, c.TLS, paho.ClientConfig{
		ClientID: c.ClientID,
		// Acknowledge a PUBLISH only once its batch is stored and
		// answered. Every write happens in paho's router goroutine (the
		// handler below).
		EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			r.clientBatch(ctx, pr.Client, pr.Packet, c.Log)
			if err := pr.Client.Ack(pr.Packet); err != nil {
				cancel(fmt.Errorf("ack: %w", err))
			}
			return true, nil
		}},
		OnClientError:      func(err error) { cancel(fmt.Errorf("mqtt: %w", err)) },
		OnServerDisconnect: func(d *paho.Disconnect) { cancel(fmt.Errorf("broker disconnected us: reason %d", d.ReasonCode)) },
	})
	if err != nil {
		return err
	}
	defer pc.Disconnect(&paho.Disconnect{})
	sa, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "sites/+/+/+", QoS: 1}}})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if len(sa.Reasons) == 0 || sa.Reasons[0] >= 0x80 {
		return fmt.Errorf("subscribe to sites/+/+/+: refused %v (the broker's ACL must let the hub read sites/#)", sa.Reasons)
	}
	c.Log.Info("receiving through broker", "broker", c.Broker)
	select {
	case <-pc.Done():
		return errors.New("connection lost")
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// clientBatch stores one batch received through the broker and answers.
func (r *Receiver) clientBatch(ctx context.Context, pc *paho.Client, p *paho.Publish, log *slog.Logger) {
	parts := strings.Split(p.Topic, "/")
	if len(parts) == 4 && strings.HasPrefix(parts[2], "_") {
		return // answers (ours included) share the pattern
	}
	var ack uplinkapi.Ack
	b, err := uplinkapi.DecodeBatch(p.Topic, p.Payload)
	if err != nil {
		r.refused.Add(1)
		ack = uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeBadBatch, Message: err.Error()}
		log.Warn("refused batch", "topic", p.Topic, "err", err)
	} else {
		ack = r.Apply(&b)
	}
	if p.Properties == nil || p.Properties.ResponseTopic == "" || len(parts) < 2 ||
		!strings.HasPrefix(p.Properties.ResponseTopic, uplinkapi.SitePrefix(parts[1])) {
		return
	}
	body, _ := json.Marshal(ack)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := pc.Publish(wctx, &paho.Publish{Topic: p.Properties.ResponseTopic, Payload: body,
		Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData, ContentType: "application/json"}}); err != nil {
		log.Warn("answer batch", "topic", p.Topic, "err", err)
	}
}
