package streamlog

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// meta.db holds what changes rarely and is not part of a group commit:
// topic definitions and consumer cursors.
var (
	bktTopics  = []byte("topics")  // full name -> topicMeta JSON
	bktCursors = []byte("cursors") // topic id | consumer -> offset, unix ns
)

type topicMeta struct {
	ID      uint64      `json:"id"`
	Config  TopicConfig `json:"config"`
	Created time.Time   `json:"created"`
}

func (s *Store) loadTopics() error {
	// Only a new meta.db is written to: a write transaction on a full disk
	// can fail, and the store must start read-only on one.
	var missing bool
	s.meta.View(func(tx *bolt.Tx) error {
		missing = tx.Bucket(bktTopics) == nil || tx.Bucket(bktCursors) == nil
		return nil
	})
	if missing {
		err := s.meta.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bktTopics, bktCursors} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return fmt.Errorf("create bucket %s: %w", b, err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("init meta: %w", mapDiskErr(err))
		}
	}
	return s.meta.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktTopics).ForEach(func(k, v []byte) error {
			var m topicMeta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("load topic %s: %w", k, err)
			}
			n, err := ParseName(string(k))
			if err != nil {
				return fmt.Errorf("load topic: %w", err)
			}
			s.addTopic(n, m)
			return nil
		})
	})
}

// addTopic registers a topic in memory; the caller holds mu or is loading.
func (s *Store) addTopic(n Name, m topicMeta) *topic {
	t := &topic{name: n, id: m.ID, cfg: m.Config, created: m.Created, producers: map[string]*producerState{}, log: segLog{s}}
	if m.Config.Volatile {
		t.log = newMemLog(s.o.now)
	}
	s.topics[n.String()] = t
	s.byID[m.ID] = t
	return t
}

// CreateTopic creates a topic. Creating an existing topic with the same
// configuration succeeds (so services can create what they need at every
// start); with a different one it fails with ErrTopicExists.
func (s *Store) CreateTopic(name string, cfg TopicConfig) (TopicInfo, error) {
	n, err := ParseName(name)
	if err != nil {
		return TopicInfo{}, err
	}
	if cfg, err = cfg.withDefaults(); err != nil {
		return TopicInfo{}, fmt.Errorf("create topic %s: %w", n, err)
	}
	if s.closed() {
		return TopicInfo{}, ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.topics[n.String()]; t != nil {
		if t.cfg != cfg {
			return TopicInfo{}, fmt.Errorf("%w: %s has a different configuration; delete it first or use the same one", ErrTopicExists, n)
		}
		return TopicInfo{Name: n, Config: t.cfg, Created: t.created}, nil
	}
	m := topicMeta{Config: cfg, Created: s.o.now().UTC()}
	err = s.meta.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTopics)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		m.ID = id
		v, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return b.Put([]byte(n.String()), v)
	})
	if err != nil {
		return TopicInfo{}, fmt.Errorf("create topic %s: %w", n, mapDiskErr(err))
	}
	t := s.addTopic(n, m)
	return TopicInfo{Name: n, Config: t.cfg, Created: t.created}, nil
}

// DeleteTopic deletes a topic and its cursors. Its records stop being
// readable at once; their disk is freed as their segments are dropped.
func (s *Store) DeleteTopic(name string) error {
	t, err := s.lookup(name)
	if err != nil {
		return err
	}
	err = s.meta.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktTopics).Delete([]byte(t.name.String())); err != nil {
			return err
		}
		c := tx.Bucket(bktCursors).Cursor()
		prefix := u64(t.id)
		for k, _ := c.Seek(prefix); len(k) >= 8 && be64(k) == t.id; k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", t.name, mapDiskErr(err))
	}
	s.mu.Lock()
	t.deleted = true
	delete(s.topics, t.name.String())
	delete(s.byID, t.id)
	s.mu.Unlock()
	t.sig.wake()
	return nil
}

// lookup finds a topic by full name.
func (s *Store) lookup(name string) (*topic, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	n, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	t := s.topics[n.String()]
	s.mu.RUnlock()
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrTopicNotFound, n)
	}
	return t, nil
}

// Topic describes one topic.
func (s *Store) Topic(name string) (TopicInfo, error) {
	t, err := s.lookup(name)
	if err != nil {
		return TopicInfo{}, err
	}
	return s.info(t), nil
}

// Topics lists the topics of one tenant, or of all tenants when tenant is
// empty, sorted by name.
func (s *Store) Topics(tenant string) []TopicInfo {
	s.mu.RLock()
	var ts []*topic
	for _, t := range s.topics {
		if tenant == "" || t.name.Tenant == tenant {
			ts = append(ts, t)
		}
	}
	s.mu.RUnlock()
	out := make([]TopicInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, s.info(t))
	}
	sortInfos(out)
	return out
}
