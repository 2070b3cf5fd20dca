package boltstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/skerry/skerry/services/tower/store"
)

func get[T any](tx *bolt.Tx, bucket []byte, key string) (T, error) {
	var v T
	data := tx.Bucket(bucket).Get([]byte(key))
	if data == nil {
		return v, fmt.Errorf("%s %q: %w", bucket, key, store.ErrNotFound)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("decode %s %q: %w", bucket, key, err)
	}
	return v, nil
}

func put(tx *bolt.Tx, bucket []byte, key string, v any) error {
	if key == "" {
		return fmt.Errorf("put %s: empty key", bucket)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put([]byte(key), data)
}

func del(tx *bolt.Tx, bucket []byte, key string) error {
	b := tx.Bucket(bucket)
	if b.Get([]byte(key)) == nil {
		return fmt.Errorf("%s %q: %w", bucket, key, store.ErrNotFound)
	}
	return b.Delete([]byte(key))
}

// list returns up to p.Limit records after the cursor that keep accepts. The
// cursor is the last key returned, base64url so that it is opaque and safe
// in a query string. A filtered list scans past records it drops; that is
// fine at the scale one bbolt file serves.
func list[T any](tx *bolt.Tx, bucket []byte, p store.Page, keep func(T) bool) ([]T, string, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	c := tx.Bucket(bucket).Cursor()
	k, v := c.First()
	if p.Cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list %s: %w", bucket, store.ErrCursor)
		}
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	var out []T
	var lastKey []byte
	for ; k != nil; k, v = c.Next() {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, "", fmt.Errorf("decode %s %q: %w", bucket, k, err)
		}
		if keep != nil && !keep(r) {
			continue
		}
		if len(out) == limit {
			// There is at least one more: the cursor points at the last
			// returned key.
			return out, base64.RawURLEncoding.EncodeToString(lastKey), nil
		}
		out = append(out, r)
		lastKey = append(lastKey[:0], k...)
	}
	return out, "", nil
}
