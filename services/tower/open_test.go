package tower_test

import (
	"context"
	"os"
	"testing"

	"github.com/skerry/skerry/services/tower"
)

func TestOpenWritesFirstTokenOnce(t *testing.T) {
	dir := t.TempDir() + "/data"
	ctx := context.Background()
	o, err := tower.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !o.TokenCreated {
		t.Error("first start: no token created")
	}
	fi, err := os.Stat(o.TokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: got %v, %v; want mode 0600", fi, err)
	}
	first, _ := tower.ReadToken(o.TokenFile)
	o.Close()

	o, err = tower.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	second, _ := tower.ReadToken(o.TokenFile)
	if o.TokenCreated || first != second {
		t.Errorf("second start: created=%v, token changed=%v; want neither", o.TokenCreated, first != second)
	}
}
