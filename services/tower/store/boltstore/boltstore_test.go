package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/tower/store"
)

func open(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "tower.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func update(t *testing.T, db *DB, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestSiteIndexes(t *testing.T) {
	db := open(t)
	a := store.Site{ID: "site-a", Name: "a", Tenant: "t1", EKHash: "ek1"}
	update(t, db, func(tx store.Tx) error { return tx.PutSite(a) })

	tests := []struct {
		name string
		site store.Site
		want error
	}{
		{"same EK, other site", store.Site{ID: "site-b", Name: "b", Tenant: "t1", EKHash: "ek1"}, store.ErrExists},
		{"same name and tenant", store.Site{ID: "site-b", Name: "a", Tenant: "t1", EKHash: "ek2"}, store.ErrExists},
		{"same name, other tenant", store.Site{ID: "site-b", Name: "a", Tenant: "t2", EKHash: "ek2"}, nil},
		{"software site, no EK", store.Site{ID: "site-c", Name: "c", Tenant: "t1"}, nil},
		{"rename keeps own EK", store.Site{ID: "site-a", Name: "a2", Tenant: "t1", EKHash: "ek1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Update(context.Background(), func(tx store.Tx) error { return tx.PutSite(tc.site) })
			if !errors.Is(err, tc.want) {
				t.Errorf("PutSite: got %v, want %v", err, tc.want)
			}
		})
	}
	db.View(context.Background(), func(tx store.Tx) error {
		if s, err := tx.SiteByEK("ek1"); err != nil || s.Name != "a2" {
			t.Errorf("SiteByEK after rename: got %+v, %v", s, err)
		}
		if _, err := tx.SiteByName("t1", "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old name after rename: got %v, want not found", err)
		}
		if s, err := tx.SiteByName("t1", "a2"); err != nil || s.ID != "site-a" {
			t.Errorf("new name: got %+v, %v", s, err)
		}
		return nil
	})
}

func TestListPages(t *testing.T) {
	db := open(t)
	update(t, db, func(tx store.Tx) error {
		for i := range 10 {
			tenant := "even"
			if i%2 == 1 {
				tenant = "odd"
			}
			if err := tx.PutClaim(store.Claim{ID: fmt.Sprintf("serial:%02d", i), Tenant: tenant}); err != nil {
				return err
			}
		}
		return nil
	})
	var got []string
	p := store.Page{Limit: 2}
	for {
		var cs []store.Claim
		var next string
		db.View(context.Background(), func(tx store.Tx) (err error) {
			cs, next, err = tx.Claims(store.Filter{Tenant: "odd"}, p)
			return err
		})
		for _, c := range cs {
			got = append(got, c.ID)
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	want := []string{"serial:01", "serial:03", "serial:05", "serial:07", "serial:09"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("filtered pages (-want +got):\n%s", diff)
	}
	err := db.View(context.Background(), func(tx store.Tx) error {
		_, _, err := tx.Claims(store.Filter{}, store.Page{Cursor: "%%%"})
		return err
	})
	if !errors.Is(err, store.ErrCursor) {
		t.Errorf("bad cursor: got %v, want ErrCursor", err)
	}
}

func TestDeleteChallenges(t *testing.T) {
	db := open(t)
	now := time.Now()
	update(t, db, func(tx store.Tx) error {
		for i := range 6 {
			// Alternate expired and live so deletion must skip correctly.
			exp := now.Add(time.Minute)
			if i%2 == 0 {
				exp = now.Add(-time.Minute)
			}
			if err := tx.PutChallenge(store.Challenge{ID: fmt.Sprintf("ch-%d", i), ExpiresAt: exp}); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, db, func(tx store.Tx) error {
		n, err := tx.DeleteChallenges(now)
		if n != 3 {
			t.Errorf("deleted %d, want 3", n)
		}
		return err
	})
	db.View(context.Background(), func(tx store.Tx) error {
		for i := range 6 {
			_, err := tx.Challenge(fmt.Sprintf("ch-%d", i))
			if gone := errors.Is(err, store.ErrNotFound); gone != (i%2 == 0) {
				t.Errorf("ch-%d: gone=%v, want %v", i, gone, i%2 == 0)
			}
		}
		return nil
	})
}
