// Command skerry is the multi-call binary of the site's services: init runs
// each service as "skerry <name>", in its own process. It dispatches on its
// first argument, or on argv[0] when installed under a service's name.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A service's main: args are the arguments after the service name.
type mainFunc func(ctx context.Context, stdout, stderr io.Writer, args []string) int

// services is the table of everything "skerry" can run.
var services = map[string]mainFunc{
	"health":    healthMain,
	"agent":     agentMain,
	"streamlog": streamlogMain,
	"devproxy":  devproxyMain,
	"vault":     vaultMain,
	"uplink":    uplinkMain,
}

func main() {
	os.Exit(dispatch(context.Background(), os.Stdout, os.Stderr, os.Args))
}

func dispatch(ctx context.Context, stdout, stderr io.Writer, argv []string) int {
	name := filepath.Base(argv[0])
	args := argv[1:]
	if _, ok := services[name]; !ok {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			usage(stderr)
			return 2
		}
		name, args = args[0], args[1:]
	}
	fn, ok := services[name]
	if !ok {
		fmt.Fprintf(stderr, "skerry: unknown service %q\n", name)
		usage(stderr)
		return 2
	}
	return fn(ctx, stdout, stderr, args)
}

func usage(w io.Writer) {
	var names []string
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "usage: skerry <service> [flags]\nservices: %s\n", strings.Join(names, ", "))
}
