package boltstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/tower/store"
)

func app(tenant, name string, v int) store.App {
	return store.App{Tenant: tenant, Name: name, Version: v, Spec: &workloadapi.AppSpec{Version: 1, Tenant: tenant, Name: name}}
}

func names(as []store.App) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s/%s@%d", a.Tenant, a.Name, a.Version))
	}
	return out
}

// Versions are kept in order; the newest of each app is listed, per
// tenant; names that prefix one another stay apart; a version must be the
// next one.
func TestAppVersions(t *testing.T) {
	db := open(t)
	update(t, db, func(tx store.Tx) error {
		for _, a := range []store.App{app("t1", "web", 1), app("t1", "web", 2), app("t1", "we", 1), app("t1", "web-2", 1), app("t2", "web", 1)} {
			if err := tx.PutApp(a); err != nil {
				return err
			}
		}
		for i := 3; i <= 12; i++ { // past 9: keys must sort as numbers
			if err := tx.PutApp(app("t1", "web", i)); err != nil {
				return err
			}
		}
		return nil
	})
	err := db.Update(context.Background(), func(tx store.Tx) error { return tx.PutApp(app("t1", "web", 12)) })
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("storing version 12 again: got %v, want ErrExists", err)
	}
	db.View(context.Background(), func(tx store.Tx) error {
		as, err := tx.Apps("t1")
		if diff := cmp.Diff([]string{"t1/we@1", "t1/web@12", "t1/web-2@1"}, names(as)); diff != "" || err != nil {
			t.Errorf("Apps(t1) (-want +got), err %v:\n%s", err, diff)
		}
		if a, err := tx.App("t1", "web", 0); err != nil || a.Version != 12 {
			t.Errorf("newest web: got %d, %v; want 12", a.Version, err)
		}
		if a, err := tx.App("t1", "web", 10); err != nil || a.Version != 10 {
			t.Errorf("web version 10: got %d, %v", a.Version, err)
		}
		if _, err := tx.App("t1", "nope", 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing app: got %v, want ErrNotFound", err)
		}
		return nil
	})
	update(t, db, func(tx store.Tx) error { return tx.DeleteApp("t1", "web") })
	db.View(context.Background(), func(tx store.Tx) error {
		as, _ := tx.Apps("t1")
		if diff := cmp.Diff([]string{"t1/we@1", "t1/web-2@1"}, names(as)); diff != "" {
			t.Errorf("after deleting web (-want +got):\n%s", diff)
		}
		if as, _ := tx.Apps("t2"); len(as) != 1 {
			t.Errorf("t2's apps after deleting t1/web: %v", names(as))
		}
		return nil
	})
}
