package uplink_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestMosquittoBroker runs the same replication through Debian's mosquitto
// (the broker authenticates the site by its certificate and confines it
// with its ACL; the hub is its client) and kills the uplink, the hub and
// the broker at random points: the broker's state is never trusted, so
// nothing is lost or stored twice.
func TestMosquittoBroker(t *testing.T) {
	testenv.Integration(t, testenv.Tools("mosquitto"))
	r := newRig(t, func(r *uplinktest.Rig) {
		if err := r.UseMosquitto(); err != nil {
			t.Fatal(err)
		}
	})
	stop := startProducers(t, r)
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		var err error
		switch rand.IntN(3) {
		case 0:
			r.KillHub()
			err = r.StartHub()
			t.Logf("round %d: killed and restarted the hub", round)
		case 1:
			r.KillUplink()
			err = r.StartUplink(uplinkArgs...)
			t.Logf("round %d: killed and restarted the uplink", round)
		case 2:
			r.KillMosquitto()
			err = r.StartMosquitto()
			t.Logf("round %d: killed and restarted mosquitto", round)
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	stop()
	checkHub(t, r)
}
