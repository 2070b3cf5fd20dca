package client

import "testing"

func TestNewAddress(t *testing.T) {
	tests := []struct {
		addr, base string
		ok         bool
	}{
		{"/run/skerry/streamlog.sock", "http://streamlog", true},
		{"unix:/tmp/s.sock", "http://streamlog", true},
		{"./s.sock", "http://streamlog", true},
		{"127.0.0.1:7070", "http://127.0.0.1:7070", true},
		{"http://127.0.0.1:7070/", "http://127.0.0.1:7070", true},
		{"streamlog", "", false},
	}
	for _, tt := range tests {
		c, err := New(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q): got %v, want ok=%v", tt.addr, err, tt.ok)
			continue
		}
		if err == nil && c.base != tt.base {
			t.Errorf("New(%q): base %q, want %q", tt.addr, c.base, tt.base)
		}
	}
}

func TestTopicPath(t *testing.T) {
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"acme/events", "/v1/topics/acme/events", true},
		{"acme", "", false},
		{"acme/a/b", "", false},
		{"/x", "", false},
	}
	for _, tt := range tests {
		got, err := topicPath(tt.name)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("topicPath(%q): got %q, %v; want %q, ok=%v", tt.name, got, err, tt.want, tt.ok)
		}
	}
}
