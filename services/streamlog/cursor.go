package streamlog

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Cursor is a durable consumer position: the offset of the next record the
// consumer wants, committed explicitly.
type Cursor struct {
	Consumer string
	Offset   uint64
	Time     time.Time // when it was committed
}

func cursorKey(id uint64, consumer string) []byte {
	return append(u64(id), consumer...)
}

// CommitCursor stores consumer's position in topic name. Commits from many
// consumers are batched into one meta.db transaction by bbolt's Batch.
func (s *Store) CommitCursor(name, consumer string, offset uint64) error {
	t, err := s.lookup(name)
	if err != nil {
		return err
	}
	if err := ValidateConsumer(consumer); err != nil {
		return err
	}
	if next := s.state(t).Next; offset > next {
		return fmt.Errorf("%w: commit %s offset %d for %s: the topic ends at %d", ErrOffsetOutOfRange, consumer, offset, t.name, next)
	}
	v := binary.BigEndian.AppendUint64(u64(offset), uint64(s.o.now().UnixNano()))
	err = s.meta.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bktCursors).Put(cursorKey(t.id, consumer), v)
	})
	if err != nil {
		return fmt.Errorf("commit cursor %s on %s: %w", consumer, t.name, mapDiskErr(err))
	}
	return nil
}

// GetCursor returns consumer's committed position in topic name.
func (s *Store) GetCursor(name, consumer string) (Cursor, error) {
	t, err := s.lookup(name)
	if err != nil {
		return Cursor{}, err
	}
	if err := ValidateConsumer(consumer); err != nil {
		return Cursor{}, err
	}
	var c Cursor
	found := false
	err = s.meta.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktCursors).Get(cursorKey(t.id, consumer))
		if len(v) == 16 {
			found = true
			c = Cursor{Consumer: consumer, Offset: be64(v), Time: time.Unix(0, int64(be64(v[8:]))).UTC()}
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("read cursor: %w", err)
	}
	if !found {
		return c, fmt.Errorf("%w: consumer %s has not committed on %s", ErrCursorNotFound, consumer, t.name)
	}
	return c, nil
}

// Cursors lists the cursors of topic name, sorted by consumer.
func (s *Store) Cursors(name string) ([]Cursor, error) {
	t, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	return s.cursors(t.id)
}

func (s *Store) cursors(id uint64) ([]Cursor, error) {
	var out []Cursor
	err := s.meta.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktCursors).Cursor()
		for k, v := c.Seek(u64(id)); len(k) > 8 && be64(k) == id; k, v = c.Next() {
			if len(v) == 16 {
				out = append(out, Cursor{Consumer: string(k[8:]), Offset: be64(v), Time: time.Unix(0, int64(be64(v[8:]))).UTC()})
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Consumer < out[j].Consumer })
	return out, err
}
