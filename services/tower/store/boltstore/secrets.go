package boltstore

import "github.com/skerry/skerry/services/tower/store"

// Secrets are keyed tenant NUL name, like deployments.

func (t *Tx) Secret(tenant, name string) (store.Secret, error) {
	return get[store.Secret](t.tx, bSecrets, deployKey(tenant, name))
}

func (t *Tx) PutSecret(s store.Secret) error {
	return put(t.tx, bSecrets, deployKey(s.Tenant, s.Name), s)
}

func (t *Tx) DeleteSecret(tenant, name string) error {
	return del(t.tx, bSecrets, deployKey(tenant, name))
}

func (t *Tx) Secrets(tenant string) ([]store.Secret, error) {
	var out []store.Secret
	err := scan(t, bSecrets, []byte(tenant+"\x00"), func(s store.Secret) { out = append(out, s) })
	return out, err
}
