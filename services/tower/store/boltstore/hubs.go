package boltstore

import "github.com/skerry/skerry/services/tower/store"

// bHubs holds store.Hub records by hub ID.
var bHubs = []byte("hubs")

func (t *Tx) Hub(id string) (store.Hub, error) { return get[store.Hub](t.tx, bHubs, id) }
func (t *Tx) PutHub(v store.Hub) error         { return put(t.tx, bHubs, v.ID, v) }
func (t *Tx) Hubs(p store.Page) ([]store.Hub, string, error) {
	return list[store.Hub](t.tx, bHubs, p, nil)
}
