package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/skerry/skerry/services/tower/store"
)

// Apps are keyed tenant NUL name NUL version (zero-padded, so a cursor
// walks versions in order); deployments tenant NUL app.

func appPrefix(tenant, name string) []byte { return []byte(tenant + "\x00" + name + "\x00") }

func appKey(tenant, name string, version int) string {
	return fmt.Sprintf("%s\x00%s\x00%010d", tenant, name, version)
}

func deployKey(tenant, app string) string { return tenant + "\x00" + app }

// scan decodes every record of bucket whose key starts with prefix.
func scan[T any](t *Tx, bucket, prefix []byte, each func(T)) error {
	c := t.tx.Bucket(bucket).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode %s %q: %w", bucket, k, err)
		}
		each(r)
	}
	return nil
}

func (t *Tx) AppVersions(tenant, name string) ([]store.App, error) {
	var out []store.App
	err := scan(t, bApps, appPrefix(tenant, name), func(a store.App) { out = append(out, a) })
	return out, err
}

func (t *Tx) App(tenant, name string, version int) (store.App, error) {
	if version > 0 {
		return get[store.App](t.tx, bApps, appKey(tenant, name, version))
	}
	vs, err := t.AppVersions(tenant, name)
	if err != nil {
		return store.App{}, err
	}
	if len(vs) == 0 {
		return store.App{}, fmt.Errorf("app %s/%s: %w", tenant, name, store.ErrNotFound)
	}
	return vs[len(vs)-1], nil
}

func (t *Tx) PutApp(a store.App) error {
	newest := 0
	if last, err := t.App(a.Tenant, a.Name, 0); err == nil {
		newest = last.Version
	}
	if a.Version != newest+1 {
		return fmt.Errorf("app %s/%s version %d: the next version is %d: %w", a.Tenant, a.Name, a.Version, newest+1, store.ErrExists)
	}
	return put(t.tx, bApps, appKey(a.Tenant, a.Name, a.Version), a)
}

func (t *Tx) Apps(tenant string) ([]store.App, error) {
	var out []store.App
	err := scan(t, bApps, []byte(tenant+"\x00"), func(a store.App) {
		if n := len(out); n > 0 && out[n-1].Name == a.Name {
			out[n-1] = a // a newer version of the same app
			return
		}
		out = append(out, a)
	})
	return out, err
}

func (t *Tx) DeleteApp(tenant, name string) error {
	b := t.tx.Bucket(bApps)
	prefix := appPrefix(tenant, name)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	if len(keys) == 0 {
		return fmt.Errorf("app %s/%s: %w", tenant, name, store.ErrNotFound)
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) Deployment(tenant, app string) (store.Deployment, error) {
	return get[store.Deployment](t.tx, bDeployments, deployKey(tenant, app))
}

func (t *Tx) PutDeployment(d store.Deployment) error {
	return put(t.tx, bDeployments, deployKey(d.Tenant, d.App), d)
}

func (t *Tx) DeleteDeployment(tenant, app string) error {
	return del(t.tx, bDeployments, deployKey(tenant, app))
}

func (t *Tx) Deployments(tenant string) ([]store.Deployment, error) {
	var out []store.Deployment
	err := scan(t, bDeployments, []byte(tenant+"\x00"), func(d store.Deployment) { out = append(out, d) })
	return out, err
}
