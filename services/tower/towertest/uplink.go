package towertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/services/api/uplinkapi"
)

// SendBatch publishes one uplink batch to the tower's embedded hub at addr
// as the site whose certificate is cert, the way skerry uplink does
// (uplinkapi), and returns the hub's answer. For tests that need records
// at the tower without running a site's processes.
func SendBatch(ctx context.Context, addr string, cert tls.Certificate, caPEM []byte, b *uplinkapi.Batch) (uplinkapi.Ack, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	host, _, _ := net.SplitHostPort(addr)
	conn, err := (&tls.Dialer{Config: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS13}}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return uplinkapi.Ack{}, err
	}
	acks := make(chan uplinkapi.Ack, 1)
	pc := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: b.Site,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			var a uplinkapi.Ack
			if json.Unmarshal(pr.Packet.Payload, &a) == nil {
				select {
				case acks <- a:
				default:
				}
			}
			return true, nil
		}}})
	ca, err := pc.Connect(ctx, &paho.Connect{ClientID: b.Site, CleanStart: true})
	if err == nil && ca.ReasonCode != 0 {
		err = fmt.Errorf("connack reason %d", ca.ReasonCode)
	}
	if err != nil {
		conn.Close()
		return uplinkapi.Ack{}, fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer pc.Disconnect(&paho.Disconnect{})
	ackTopic := uplinkapi.AckTopic(b.Site, b.Site)
	if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: ackTopic, QoS: 1}}}); err != nil {
		return uplinkapi.Ack{}, fmt.Errorf("subscribe: %w", err)
	}
	res, err := pc.Publish(ctx, &paho.Publish{QoS: 1, Topic: b.MQTTTopic(), Payload: b.AppendPayload(nil),
		Properties: &paho.PublishProperties{ResponseTopic: ackTopic, CorrelationData: []byte("1")}})
	if err != nil {
		return uplinkapi.Ack{}, fmt.Errorf("publish: %w", err)
	}
	if res.ReasonCode >= 0x80 {
		return uplinkapi.Ack{}, fmt.Errorf("publish refused: reason %d", res.ReasonCode)
	}
	select {
	case a := <-acks:
		return a, nil
	case <-ctx.Done():
		return uplinkapi.Ack{}, fmt.Errorf("no answer to the batch: %w", ctx.Err())
	}
}
