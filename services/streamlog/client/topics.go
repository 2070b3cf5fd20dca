package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// CreateTopic creates topic name ("tenant/name"). Creating it again with
// the same configuration succeeds.
func (c *Client) CreateTopic(ctx context.Context, name string, cfg wire.TopicConfig) (wire.TopicInfo, error) {
	var info wire.TopicInfo
	err := c.do(ctx, http.MethodPost, "/v1/topics", jsonHeader, jsonBody(wire.CreateTopicRequest{Name: name, Config: cfg}), &info)
	return info, err
}

// Topics lists the token's tenant's topics (all tenants' for the system
// token, or tenant's when given).
func (c *Client) Topics(ctx context.Context, tenant string) ([]wire.TopicInfo, error) {
	var out []wire.TopicInfo
	path := "/v1/topics"
	if tenant != "" {
		path += "?tenant=" + url.QueryEscape(tenant)
	}
	return out, c.do(ctx, http.MethodGet, path, nil, nil, &out)
}

// Topic describes one topic.
func (c *Client) Topic(ctx context.Context, name string) (wire.TopicInfo, error) {
	var info wire.TopicInfo
	p, err := topicPath(name)
	if err != nil {
		return info, err
	}
	return info, c.do(ctx, http.MethodGet, p, nil, nil, &info)
}

// DeleteTopic deletes a topic and its cursors.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	p, err := topicPath(name)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, nil)
}

// Status returns traffic and lag per topic.
func (c *Client) Status(ctx context.Context) (wire.Status, error) {
	var st wire.Status
	return st, c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &st)
}

// Metrics returns the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.send(ctx, http.MethodGet, "/metrics", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := readAllLimit(resp.Body, 16<<20)
	return string(b), err
}

// CreateToken creates a token for tenant (system token only).
func (c *Client) CreateToken(ctx context.Context, tenant string) (string, error) {
	var out wire.TokenResponse
	err := c.do(ctx, http.MethodPost, "/v1/tokens", jsonHeader, jsonBody(wire.TokenRequest{Tenant: tenant}), &out)
	return out.Token, err
}

// CommitCursor stores consumer's position: the offset of the next record
// it wants.
func (c *Client) CommitCursor(ctx context.Context, name, consumer string, offset uint64) error {
	p, err := topicPath(name)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, p+"/cursors/"+url.PathEscape(consumer), jsonHeader, jsonBody(wire.CommitRequest{Offset: &offset}), nil)
}

// Cursor returns consumer's committed position.
func (c *Client) Cursor(ctx context.Context, name, consumer string) (wire.Cursor, error) {
	var cur wire.Cursor
	p, err := topicPath(name)
	if err != nil {
		return cur, err
	}
	return cur, c.do(ctx, http.MethodGet, p+"/cursors/"+url.PathEscape(consumer), nil, nil, &cur)
}

// Cursors lists a topic's cursors with their lag.
func (c *Client) Cursors(ctx context.Context, name string) ([]wire.Cursor, error) {
	var out []wire.Cursor
	p, err := topicPath(name)
	if err != nil {
		return nil, err
	}
	return out, c.do(ctx, http.MethodGet, p+"/cursors", nil, nil, &out)
}
