package main

import (
	"context"
	"time"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/netcfg"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// startNetwork brings the network up alongside the services, which do not
// wait for it: a box must come up and keep its data flowing locally while
// its uplink is down, and the lease is taken whenever a server answers.
// Each change is recorded in the boot record for the status API.
func startNetwork(log *console.Logger, cfg siteconfig.Network, rec *bootRecord) {
	go func() {
		slow := time.AfterFunc(10*time.Second, func() {
			log.Printf("network: no address after 10s; still trying")
		})
		// The lease is retried until a server answers, then renewed for as
		// long as the box runs.
		netcfg.Run(context.Background(), cfg, func(ev netcfg.Event) {
			slow.Stop()
			rec.update(func(b *contract.Boot) {
				switch {
				case ev.Err != nil:
					log.Printf("network: %v", ev.Err)
					b.Network = contract.Network{Interface: b.Network.Interface, Mode: b.Network.Mode, Error: ev.Err.Error()}
				case !ev.Renewed || ev.Result.Address != b.Network.Address:
					r := ev.Result
					log.Printf("network: %s %s via %s (%s)", r.Interface, r.Address, r.Gateway, r.Mode)
					b.Network = contract.Network{Interface: r.Interface, Address: r.Address, Gateway: r.Gateway, Mode: r.Mode}
				}
			})
		})
	}()
}
